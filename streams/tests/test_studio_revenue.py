"""The studio's revenue: across shows (totals per currency, net by day, each show), its CSV, and who may see it;
in Chromium, a ticket bought through the development checkout shows up with its chart drawn."""

import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.factories import UserFactory
from chat.tests.test_browser import _sign_in
from livestream_site.testing.browser import chromium
from livestream_site.testing.processes import daphne_server
from payments.models import LiveStreamPayment
from streams.tests.factories import stream_factory


def _signed_in(user) -> Client:
    browser = Client()
    browser.force_login(user)
    return browser


def _paid(stream, user, *, refunded="0"):
    now = timezone.now()
    return LiveStreamPayment.objects.create(
        stream=stream,
        user=user,
        amount=stream.ticket_price,
        currency=stream.currency,
        status="refunded" if Decimal(refunded) else "paid",
        paid_at=now,
        refunded_amount=Decimal(refunded),
        refunded_at=now if Decimal(refunded) else None,
    )


@pytest.mark.django_db
def test_revenue_across_shows_with_its_csv(artist, settings):
    settings.PLATFORM_FEE_PERCENT = "10"
    first = stream_factory(artist=artist, title="First Night", is_pay_per_view=True, ticket_price=Decimal("20.00"))
    second = stream_factory(artist=artist, title="Second Night", is_pay_per_view=True, ticket_price=Decimal("10.00"))
    stream_factory(title="Someone else's", is_pay_per_view=True)
    _paid(first, UserFactory())
    _paid(first, UserFactory())
    _paid(second, UserFactory(), refunded="10.00")
    page = _signed_in(artist).get("/studio/revenue/")
    html = page.content.decode()
    assert page.status_code == 200
    usd = html.split('data-testid="revenue-usd"')[1].split("</section>")[0]
    assert '<dd data-testid="tickets-sold">3</dd>' in usd and '<dd data-testid="net">40.00</dd>' in usd
    assert '<dd data-testid="payout">36.00</dd>' in usd  # 10% of the net kept
    shows = html.split('data-testid="revenue-shows"')[1]
    assert "First Night" in shows and "40.00 USD" in shows and "Someone else" not in shows
    rows = list(csv.reader(io.StringIO(_signed_in(artist).get("/studio/revenue.csv").content.decode())))
    assert rows[0] == ["date", "currency", "tickets_sold", "gross", "refunds", "net"]
    assert rows[1][1:] == ["usd", "3", "50.00", "10.00", "40.00"]
    one = list(
        csv.reader(io.StringIO(_signed_in(artist).get(f"/studio/revenue.csv?show={second.id}").content.decode()))
    )
    assert one[1][1:] == ["usd", "1", "10.00", "10.00", "0.00"]  # one show's own days
    other = stream_factory(is_pay_per_view=True)
    assert _signed_in(artist).get(f"/studio/revenue.csv?show={other.id}").status_code == 403  # not theirs


@pytest.mark.django_db
def test_revenue_is_the_artist_s_own(client, viewer, artist):
    assert client.get("/studio/revenue/").status_code == 302  # sign in first
    assert _signed_in(viewer).get("/studio/revenue/").status_code == 403  # the studio is for artists
    assert _signed_in(viewer).get("/studio/revenue.csv").status_code == 403
    assert "No ticket sold yet" in _signed_in(artist).get("/studio/revenue/").content.decode()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_ticket_bought_with_the_development_checkout_shows_in_the_revenue(artist):
    stream = stream_factory(artist=artist, title="Checkout Night", status="live", is_pay_per_view=True)
    fan = UserFactory(username="buyer")
    with daphne_server(env={"STRIPE_SECRET_KEY": ""}) as server, chromium() as browser:
        page = _sign_in(browser, server.url, fan.username, f"/streams/{stream.id}/")
        page.get_by_test_id("buy").click()
        page.get_by_test_id("pay").click()
        expect(page.get_by_test_id("receipt-status")).to_contain_text("Paid", timeout=15_000)
        studio = _sign_in(browser, server.url, artist.username, "/studio/revenue/")
        expect(studio.get_by_test_id("tickets-sold")).to_have_text("1")
        canvas = studio.get_by_test_id("revenue-chart")
        studio.wait_for_function(
            "(c) => c.width > 0 && c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v) => v)",
            arg=canvas.element_handle(),
            timeout=10_000,
        )
