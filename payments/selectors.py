"""Reads of tickets, and THE access check used by the API, the WebSocket, playback and replay."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from livestream_site.errors import ApplicationError, Forbidden, NotFound
from streams.models import LiveStream
from streams.selectors import stream_get

from .models import LiveStreamPayment
from .money import quantize

P = LiveStreamPayment.Status


@dataclass(frozen=True)
class Access:
    has_access: bool
    reason: str  # free, ticket, artist, staff, no_ticket, not_signed_in, sold_out, cancelled


def seats_taken_filter(*, now: datetime) -> Q:
    """Tickets that hold a seat: paid ones, and pending ones whose hold has not expired."""
    return Q(status__in=LiveStreamPayment.ACCESS_STATUSES) | Q(status=P.PENDING, hold_expires_at__gt=now)


def stream_seats_taken(*, stream: LiveStream, now: datetime | None = None, exclude_payment_id=None) -> int:
    queryset = LiveStreamPayment.objects.filter(seats_taken_filter(now=now or timezone.now()), stream=stream)
    if exclude_payment_id is not None:
        queryset = queryset.exclude(pk=exclude_payment_id)
    return queryset.count()


def stream_is_sold_out(*, stream: LiveStream, now: datetime | None = None, exclude_payment_id=None) -> bool:
    if not stream.is_pay_per_view or stream.max_viewers is None:
        return False
    taken = stream_seats_taken(stream=stream, now=now, exclude_payment_id=exclude_payment_id)
    return taken >= stream.max_viewers


def stream_viewer_access_settled(*, user, stream: LiveStream) -> Access | None:
    """The access decision when the stream's row alone settles it (no query); None when tickets must be read.

    The first steps of `stream_viewer_access`, so a caller that holds the stream (the WebSocket's join)
    decides most joins without leaving the event loop.
    """
    signed_in = user is not None and user.is_authenticated
    if signed_in and user.is_staff:
        return Access(True, "staff")
    if signed_in and stream.artist_id == user.id:
        return Access(True, "artist")
    if stream.status == LiveStream.Status.CANCELLED:
        return Access(False, "cancelled")
    if not stream.is_pay_per_view:
        return Access(True, "free")
    if not signed_in:
        return Access(False, "not_signed_in")
    return None


def stream_viewer_access(*, user, stream: LiveStream) -> Access:
    """May this user watch (live or replay) and take part in this stream?

    The one decision for the API, the WebSocket, chat, playback and replay. At most two queries.
    """
    settled = stream_viewer_access_settled(user=user, stream=stream)
    if settled is not None:
        return settled
    if LiveStreamPayment.objects.filter(
        stream=stream, user=user, status__in=LiveStreamPayment.ACCESS_STATUSES
    ).exists():
        return Access(True, "ticket")
    if stream.status != LiveStream.Status.ENDED and stream_is_sold_out(stream=stream):
        return Access(False, "sold_out")
    return Access(False, "no_ticket")


def stream_user_may_watch(*, stream: LiveStream, user_id: int | None) -> bool:
    """stream_viewer_access for a user known by id (None: anonymous): the media plane's playback re-check."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first() if user_id is not None else None
    return stream_viewer_access(user=user or AnonymousUser(), stream=stream).has_access


def stream_access_require(access: Access) -> None:
    """Refuse a watcher without access: 402 `payment_required` (no ticket, not signed in) or 403 `forbidden`."""
    if not access.has_access:
        if access.reason in ("no_ticket", "not_signed_in"):
            raise ApplicationError("A ticket is needed to watch this stream.", code="payment_required", status_code=402)
        raise Forbidden(f"You cannot watch this stream ({access.reason}).")


def stream_watch_access(*, user, stream_id) -> LiveStream:
    """Fetch a stream the user may watch (live, replay, chat), through the access check above, or refuse.

    Raises NotFound (`not_found`), 402 `payment_required` (no ticket, or not signed in on a pay-per-view
    stream) or 403 `forbidden`.
    """
    stream = stream_get(stream_id=stream_id)
    stream_access_require(stream_viewer_access(user=user, stream=stream))
    return stream


def payment_get(*, payment_id, lock: bool = False) -> LiveStreamPayment:
    """One payment by id, or NotFound. With `lock` (inside a transaction) its row is held until the commit.

    The one way a payment is opened under a row lock. When the stream's row is locked too, lock it first
    (`stream_get(stream_id=..., lock=True)`): the lock order is always stream, then payment.
    """
    queryset = LiveStreamPayment.objects.all()
    if lock:
        queryset = queryset.select_for_update()
    try:
        return queryset.get(pk=payment_id)
    except LiveStreamPayment.DoesNotExist:
        raise NotFound("No payment with that id.") from None


def payment_for_user(*, user, intent_id: str) -> LiveStreamPayment | None:
    """A viewer's own payment (staff: anyone's) by PaymentIntent id; None when not theirs."""
    queryset = LiveStreamPayment.objects.filter(stripe_payment_intent_id=intent_id)
    if not user.is_staff:
        queryset = queryset.filter(user=user)
    return queryset.first()


def stream_refundable_payment_ids(*, stream_id) -> list:
    """Payments of a stream whose money was taken and is not all returned yet."""
    return list(
        LiveStreamPayment.objects.filter(stream_id=stream_id, paid_at__isnull=False)
        .exclude(status=P.REFUNDED)
        .values_list("id", flat=True)
    )


def expired_hold_payment_ids(*, now: datetime | None = None, limit: int = 500) -> list:
    """Pending payments whose seat hold has lapsed: their PaymentIntents should be cancelled."""
    return list(
        LiveStreamPayment.objects.filter(status=P.PENDING, hold_expires_at__lte=now or timezone.now())
        .order_by("hold_expires_at")
        .values_list("id", flat=True)[:limit]
    )


def _money(value, currency: str) -> str:
    return str(quantize(value or Decimal(0), currency))


def _revenue_days(paid) -> dict[str, dict]:
    """{currency: {day: {"tickets", "refunded_tickets", "gross", "refunds"}}} of paid tickets. Two queries.

    Sales count on the day a ticket was paid; refunds on the day of the ticket's latest refund.
    """
    sales = (
        paid.annotate(day=TruncDate("paid_at"))
        .values("currency", "day")
        .annotate(tickets=Count("id"), gross=Sum("amount"))
        .order_by()
    )
    refunds = (
        paid.filter(refunded_amount__gt=0, refunded_at__isnull=False)
        .annotate(day=TruncDate("refunded_at"))
        .values("currency", "day")
        .annotate(refunds=Sum("refunded_amount"), refunded_tickets=Count("id", filter=Q(status=P.REFUNDED)))
        .order_by()
    )
    by_currency: dict[str, dict] = {}

    def day_row(currency, day):
        days = by_currency.setdefault(currency, {})
        return days.setdefault(day, {"tickets": 0, "refunded_tickets": 0, "gross": Decimal(0), "refunds": Decimal(0)})

    for row in sales:
        entry = day_row(row["currency"], row["day"])
        entry["tickets"] += row["tickets"]
        entry["gross"] += row["gross"]
    for row in refunds:
        entry = day_row(row["currency"], row["day"])
        entry["refunds"] += row["refunds"]
        entry["refunded_tickets"] += row["refunded_tickets"]
    return by_currency


def _revenue_summary(currency: str, days: dict) -> dict:
    """Totals and the day-by-day rows of one currency. Money stays Decimal, rounded to the currency's
    smallest unit; the fee is rounded once, on the total."""
    fee_percent = Decimal(settings.PLATFORM_FEE_PERCENT)
    gross = sum((d["gross"] for d in days.values()), Decimal(0))
    refunded = sum((d["refunds"] for d in days.values()), Decimal(0))
    net = gross - refunded
    fee = quantize(net * fee_percent / 100, currency)
    return {
        "currency": currency,
        "tickets_sold": sum(d["tickets"] for d in days.values()),
        "tickets_refunded": sum(d["refunded_tickets"] for d in days.values()),
        "gross": _money(gross, currency),
        "refunds": _money(refunded, currency),
        "net": _money(net, currency),
        "platform_fee": _money(fee, currency),
        "artist_payout": _money(net - fee, currency),
        "by_day": [
            {
                "date": day.isoformat(),
                "tickets_sold": d["tickets"],
                "gross": _money(d["gross"], currency),
                "refunds": _money(d["refunds"], currency),
                "net": _money(d["gross"] - d["refunds"], currency),
            }
            for day, d in sorted(days.items())
        ],
    }


def stream_revenue(*, stream: LiveStream) -> dict:
    """Tickets sold, gross, refunds, net, platform fee and artist payout, in total and by day. Two queries."""
    by_currency = _revenue_days(LiveStreamPayment.objects.filter(stream=stream, paid_at__isnull=False))
    currency = stream.currency
    by_currency.setdefault(currency, {})
    return {
        "stream_id": str(stream.id),
        "platform_fee_percent": str(Decimal(settings.PLATFORM_FEE_PERCENT)),
        **_revenue_summary(currency, by_currency[currency]),
        # Only when the price's currency changed after tickets were sold; never mixed into the totals.
        "other_currencies": [_revenue_summary(c, d) for c, d in sorted(by_currency.items()) if c != currency],
    }


def artist_revenue(*, artist) -> dict:
    """Every show of an artist together: one summary per currency (the one with most tickets first), each
    with its days. Two queries."""
    paid = LiveStreamPayment.objects.filter(stream__artist=artist, paid_at__isnull=False)
    summaries = [_revenue_summary(currency, days) for currency, days in _revenue_days(paid).items()]
    summaries.sort(key=lambda summary: (-summary["tickets_sold"], summary["currency"]))
    return {"platform_fee_percent": str(Decimal(settings.PLATFORM_FEE_PERCENT)), "currencies": summaries}


def streams_revenue_totals(*, stream_ids) -> dict:
    """Tickets sold and net revenue (gross minus refunds) of many streams in one query, each in its stream's
    own currency, counted as stream_revenue counts its main totals: {stream id: {"tickets_sold", "net", "currency"}}."""
    rows = (
        LiveStreamPayment.objects.filter(
            stream_id__in=stream_ids, paid_at__isnull=False, currency=F("stream__currency")
        )
        .values("stream_id", "currency")
        .annotate(
            tickets=Count("id"),
            gross=Sum("amount"),
            refunds=Sum("refunded_amount", filter=Q(refunded_amount__gt=0, refunded_at__isnull=False)),
        )
        .order_by()
    )
    return {
        row["stream_id"]: {
            "tickets_sold": row["tickets"],
            "net": _money((row["gross"] or Decimal(0)) - (row["refunds"] or Decimal(0)), row["currency"]),
            "currency": row["currency"],
        }
        for row in rows
    }


def streams_ticket_counts(*, stream_ids) -> dict:
    """Per stream, in one query: `payments` (any payment row: such a stream can only be cancelled, never
    deleted) and `refundable` (tickets whose money was taken and not all returned: what cancelling refunds).
    {stream id: {"payments", "refundable"}}; streams without payments are left out."""
    rows = (
        LiveStreamPayment.objects.filter(stream_id__in=stream_ids)
        .values("stream_id")
        .annotate(
            payments=Count("id"),
            refundable=Count("id", filter=Q(paid_at__isnull=False) & ~Q(status=P.REFUNDED)),
        )
        .order_by()
    )
    return {row["stream_id"]: {"payments": row["payments"], "refundable": row["refundable"]} for row in rows}


def user_tickets(*, user) -> list[LiveStreamPayment]:
    """A user's tickets, newest show first: every payment that was paid (refunded ones included, shown
    as such) or is waiting for the payment provider's word."""
    return list(
        LiveStreamPayment.objects.filter(user=user)
        .filter(Q(paid_at__isnull=False) | Q(status=LiveStreamPayment.Status.PENDING))
        .select_related("stream", "stream__artist")
        .order_by("-stream__scheduled_start_time")
    )
