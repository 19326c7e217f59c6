"""Buying a ticket in Chromium with Stripe configured: the price confirmation, Stripe Checkout's hosted page
(the local double, which sends its signed webhook to the platform like Stripe), back to My tickets, then
the show plays for the buyer."""

import pytest
from playwright.sync_api import expect

from accounts.tests.factories import UserFactory
from chat.tests.test_browser import _sign_in
from livestream_site.testing.browser import chromium
from livestream_site.testing.processes import daphne_server
from payments.models import LiveStreamPayment
from streams.tests.factories import stream_factory

from .conftest import WEBHOOK_SECRET
from .stripe_double import StripeDouble

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_fan_pays_on_stripe_checkout_and_the_webhook_lets_them_in(artist):
    stream = stream_factory(artist=artist, title="Paid Show", status="live", is_pay_per_view=True)
    fan = UserFactory(username="payer", email="payer@example.com")
    double = StripeDouble().start()
    env = {
        "STRIPE_SECRET_KEY": double.api_key,
        "STRIPE_PUBLISHABLE_KEY": "pk_test_double",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": double.url,
        "STRIPE_MAX_NETWORK_RETRIES": "0",
    }
    try:
        with daphne_server(env=env) as server, chromium() as browser:
            double.webhook_url, double.webhook_secret = f"{server.url}/api/payments/webhook", WEBHOOK_SECRET
            path = f"/streams/{stream.id}/"
            page = _sign_in(browser, server.url, fan.username, path)
            page.get_by_test_id("buy").click()
            expect(page.get_by_test_id("price")).to_contain_text(str(stream.ticket_price))
            page.get_by_test_id("pay").click()
            # Stripe's hosted page (the double's): the ticket and its amount, then Pay.
            expect(page.get_by_test_id("stripe-product")).to_have_text("Ticket: Paid Show")
            page.get_by_test_id("stripe-pay").click()
            # Back on My tickets: paid once Stripe's webhook arrived (the page looks again by itself).
            page.wait_for_url(f"{server.url}/tickets/?checkout=cs_test_*")
            expect(page.locator('[data-status="paid"]')).to_have_count(1, timeout=15_000)
            page.get_by_role("link", name="Paid Show").first.click()
            expect(page.get_by_test_id("access")).to_have_text("You have a ticket.")
    finally:
        double.stop()
    payment = LiveStreamPayment.objects.get(stream=stream, user=fan)
    assert payment.status == "paid" and payment.stripe_payment_intent_id.startswith("pi_")
    assert double.count("POST", "/v1/checkout/sessions") == 1
