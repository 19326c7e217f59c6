"""Revenue: tickets sold, gross, refunds, net, platform fee and artist payout, by day, in exact Decimal."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.models import LiveStreamPayment
from payments.services import payment_refund

pytestmark = pytest.mark.django_db


@pytest.fixture
def show(ppv_stream, buy, settings):
    """Three tickets at 9.99: one refunded in full, one by 2.50; a fourth still pending."""
    settings.PLATFORM_FEE_PERCENT = Decimal("12.5")
    stream = ppv_stream(ticket_price=Decimal("9.99"))
    paid = [buy(UserFactory(), stream)["paymentId"] for _ in range(3)]
    buy(UserFactory(), stream, pay=False)
    payment_refund(payment_id=paid[0])
    payment_refund(payment_id=paid[1], amount=Decimal("2.50"))
    return stream, paid


def test_revenue_arithmetic(client_for, artist, show):
    stream, _ = show

    body = client_for(artist).get(f"/api/livestreams/{stream.id}/revenue").json()

    # gross 3 x 9.99 = 29.97; refunds 9.99 + 2.50 = 12.49; net 17.48;
    # fee 12.5% of 17.48 = 2.185 -> 2.19 (half up, once, on the total); payout 17.48 - 2.19 = 15.29
    assert body["currency"] == "usd" and body["platformFeePercent"] == "12.5"
    assert (body["ticketsSold"], body["ticketsRefunded"]) == (3, 1)
    assert (body["gross"], body["refunds"], body["net"]) == ("29.97", "12.49", "17.48")
    assert (body["platformFee"], body["artistPayout"]) == ("2.19", "15.29")
    today = timezone.now().date().isoformat()
    assert body["byDay"] == [{"date": today, "ticketsSold": 3, "gross": "29.97", "refunds": "12.49", "net": "17.48"}]
    assert body["otherCurrencies"] == []


def test_revenue_by_day_puts_sales_and_refunds_on_their_days(client_for, artist, show):
    stream, paid = show
    yesterday = timezone.now() - timedelta(days=1)
    LiveStreamPayment.objects.filter(pk__in=paid[1:]).update(paid_at=yesterday)

    body = client_for(artist).get(f"/api/livestreams/{stream.id}/revenue").json()

    days = {row["date"]: row for row in body["byDay"]}
    assert days[yesterday.date().isoformat()] == {
        "date": yesterday.date().isoformat(),
        "ticketsSold": 2,
        "gross": "19.98",
        "refunds": "0.00",
        "net": "19.98",
    }
    assert days[timezone.now().date().isoformat()]["refunds"] == "12.49"
    assert body["net"] == "17.48"


def test_revenue_in_yen_has_no_decimals(client_for, artist, ppv_stream, buy, settings):
    settings.PLATFORM_FEE_PERCENT = Decimal("15")
    stream = ppv_stream(ticket_price=Decimal("1001"), currency="jpy")
    buy(UserFactory(), stream)

    body = client_for(artist).get(f"/api/livestreams/{stream.id}/revenue").json()

    assert (body["gross"], body["platformFee"], body["artistPayout"]) == ("1001", "150", "851")


def test_revenue_is_for_the_artist_and_staff_only(client_for, viewer, other_artist, staff, ppv_stream):
    stream = ppv_stream()
    assert client_for(viewer).get(f"/api/livestreams/{stream.id}/revenue").status_code == 403
    assert client_for(other_artist).get(f"/api/livestreams/{stream.id}/revenue").status_code == 403
    assert client_for(staff).get(f"/api/livestreams/{stream.id}/revenue/").status_code == 200


def test_revenue_query_count_is_pinned(client_for, artist, show, django_assert_num_queries):
    stream, _ = show
    client = client_for(artist)
    # token auth (1) + the stream (1) + sales by day (1) + refunds by day (1)
    with django_assert_num_queries(4):
        assert client.get(f"/api/livestreams/{stream.id}/revenue").status_code == 200
