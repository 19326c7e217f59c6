"""Buying through the pages: the price confirmation, Stripe Checkout (the local double's hosted page and
its webhook), the receipt page and e-mail, My tickets; and the development checkout without Stripe."""

from urllib.parse import urlparse

import pytest
from django.core import mail
from django.test import Client

from accounts.tests.factories import UserFactory
from payments.models import LiveStreamPayment

from .conftest import webhook_post

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    """A browser with a session (the pages' sign-in), not the API's token client."""
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def fan(db):
    return UserFactory(email="fan@example.com")


def test_the_confirmation_page_states_the_show_and_the_price_and_needs_a_sign_in(client, ppv_stream, fan):
    stream = ppv_stream(title="Night <b>Show</b>")
    assert client.get(f"/streams/{stream.id}/buy/").status_code == 302  # to the sign-in page
    page = signed_in(fan).get(f"/streams/{stream.id}/buy/")
    html = page.content.decode()
    assert page.status_code == 200
    assert f"{stream.ticket_price} {stream.currency.upper()}" in html and 'data-testid="pay"' in html
    assert "Night &lt;b&gt;Show&lt;/b&gt;" in html  # escaped


def test_stripe_checkout_then_the_webhook_makes_the_ticket_with_a_receipt(
    settings, django_capture_on_commit_callbacks, eager_celery, stripe_double, ppv_stream, fan
):
    stream = ppv_stream(title="Ticketed")
    browser = signed_in(fan)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/streams/{stream.id}/buy/")
    # To Stripe's hosted page, for exactly this ticket.
    assert response.status_code == 302 and response["Location"].startswith(f"{stripe_double.url}/pay/cs_test_")
    session = stripe_double.sessions[response["Location"].rsplit("/", 1)[1]]
    payment = LiveStreamPayment.objects.get(stream=stream, user=fan)
    assert payment.status == "pending" and payment.stripe_payment_intent_id is None
    assert session["amount_total"] == int(stream.ticket_price * 100) and session["currency"] == stream.currency
    assert session["payment_intent_data"]["metadata"]["paymentId"] == str(payment.id)
    assert session["customer_email"] == "fan@example.com"
    assert urlparse(session["success_url"]).path == "/tickets/"
    assert urlparse(session["cancel_url"]).path == f"/streams/{stream.id}/"
    # Pressing the button again sends the buyer to the same session (idempotent), not a second one.
    assert browser.post(f"/streams/{stream.id}/buy/")["Location"] == response["Location"]
    assert len(stripe_double.sessions) == 1

    # Back from Stripe before its webhook: waiting, and no receipt yet.
    back = browser.get("/tickets/?checkout=" + session["id"])
    assert (
        "Waiting for the payment" in back.content.decode() and 'data-testid="checkout-return"' in back.content.decode()
    )
    assert mail.outbox == []
    # The buyer pays on Stripe's page; Stripe's webhook confirms it (the browser's return never does).
    intent = stripe_double.checkout_pay(session["id"])
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_post("payment_intent.succeeded", intent).status_code == 200
    payment.refresh_from_db()
    assert payment.status == "paid" and payment.stripe_payment_intent_id == intent["id"]
    [receipt] = mail.outbox
    assert receipt.to == ["fan@example.com"] and "Ticketed" in receipt.subject
    assert f"{settings.SITE_URL}/tickets/{payment.id}/" in receipt.body and str(stream.ticket_price) in receipt.body

    tickets = browser.get("/tickets/").content.decode()
    assert "Ticketed" in tickets and 'data-status="paid"' in tickets
    page = browser.get(f"/tickets/{payment.id}/").content.decode()
    assert 'data-testid="go-to-show"' in page and str(payment.id) in page
    # The same webhook again (Stripe retries): one ticket, one receipt.
    with django_capture_on_commit_callbacks(execute=True):
        webhook_post("payment_intent.succeeded", intent)
    assert len(mail.outbox) == 1


def test_a_receipt_is_its_buyers_alone(ppv_stream, fan, staff):
    stream = ppv_stream()
    payment = LiveStreamPayment.objects.create(stream=stream, user=fan, amount=10, currency="usd", status="paid")
    assert signed_in(UserFactory()).get(f"/tickets/{payment.id}/").status_code == 404
    assert signed_in(fan).get(f"/tickets/{payment.id}/").status_code == 200
    assert signed_in(staff).get(f"/tickets/{payment.id}/").status_code == 200


def test_the_development_checkout_completes_at_once_without_stripe(
    settings, django_capture_on_commit_callbacks, eager_celery, ppv_stream, fan
):
    settings.DEBUG, settings.STRIPE_SECRET_KEY, settings.PAYMENTS_DEV_CHECKOUT = True, "", True
    stream = ppv_stream()
    with django_capture_on_commit_callbacks(execute=True):
        response = signed_in(fan).post(f"/streams/{stream.id}/buy/")
    payment = LiveStreamPayment.objects.get(stream=stream, user=fan)
    assert response.status_code == 302 and response["Location"] == f"/tickets/{payment.id}/"
    assert payment.status == "paid" and len(mail.outbox) == 1
    # Already has access: the page says so instead of selling a second ticket.
    again = signed_in(fan).get(f"/streams/{stream.id}/buy/").content.decode()
    assert 'data-testid="already"' in again and 'data-testid="pay"' not in again


def test_a_refused_purchase_is_said_on_the_page(settings, ppv_stream, fan, stripe_double):
    stream = ppv_stream()
    stripe_double.api_key = "sk_test_other"  # Stripe refuses our key: a clear message, no 500
    response = signed_in(fan).post(f"/streams/{stream.id}/buy/")
    assert response.status_code == 400
    assert "could not start the checkout" in response.content.decode()


def test_my_tickets_lists_upcoming_and_past_with_refunds(ppv_stream, fan):
    upcoming = ppv_stream(title="Soon")
    past = ppv_stream(title="Was great", status="ended")
    LiveStreamPayment.objects.create(
        stream=upcoming, user=fan, amount=10, currency="usd", status="paid", paid_at="2026-01-01T00:00Z"
    )
    LiveStreamPayment.objects.create(
        stream=past,
        user=fan,
        amount=10,
        currency="usd",
        status="refunded",
        refunded_amount=10,
        paid_at="2026-01-01T00:00Z",
    )
    html = signed_in(fan).get("/tickets/").content.decode()
    upcoming_part, past_part = html.split('data-testid="tickets-past"')
    assert "Soon" in upcoming_part and "countdown" in upcoming_part
    assert "Was great" in past_part and "Refunded 10" in past_part and "Watch the replay" in past_part
