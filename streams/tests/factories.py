"""Factories for streams; they go through the stream services like every other write."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.tests.factories import ArtistFactory
from streams import services


def stream_factory(*, artist=None, status="scheduled", **fields):
    """A stream created through stream_create and moved to `status` through the lifecycle services."""
    fields.setdefault("title", "Test concert")
    fields.setdefault("scheduled_start_time", timezone.now() + timedelta(days=1))
    if fields.get("is_pay_per_view"):
        fields.setdefault("ticket_price", Decimal("10.00"))
    stream = services.stream_create(by_user=artist or ArtistFactory(), **fields)
    if status in ("live", "ended"):
        stream = services.stream_start(stream_id=stream.id)
    if status == "ended":
        stream = services.stream_end(stream_id=stream.id)
    if status == "cancelled":
        stream = services.stream_cancel(stream_id=stream.id)
    return stream
