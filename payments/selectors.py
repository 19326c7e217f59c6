"""Reads of tickets, and THE access check used by the API, the WebSocket, playback and replay."""

from dataclasses import dataclass

from streams.models import LiveStream

from .models import LiveStreamPayment


@dataclass(frozen=True)
class Access:
    has_access: bool
    reason: str  # free, ticket, artist, staff, no_ticket, not_signed_in, sold_out, cancelled


def stream_viewer_access(*, user, stream: LiveStream) -> Access:
    """May this user watch (live or replay) and take part in this stream?"""
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
    if LiveStreamPayment.objects.filter(stream=stream, user=user, status=LiveStreamPayment.Status.PAID).exists():
        return Access(True, "ticket")
    return Access(False, "no_ticket")
