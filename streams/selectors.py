"""Reads of streams, and the permission helpers that fetch and check in one step."""

import uuid

from django.db.models import Q, QuerySet

from livestream_site.errors import Forbidden, NotFound

from .models import LiveStream


def stream_list_visible(*, user=None) -> QuerySet[LiveStream]:
    """Every stream is public in the catalogue; pay-per-view gates playback, not the listing."""
    return LiveStream.objects.select_related("artist")


def stream_catalogue(*, user=None, query: str = "", kind: str = "") -> QuerySet[LiveStream]:
    """The public catalogue, searched by title or artist name and filtered by type."""
    streams = stream_list_visible(user=user)
    if query:
        streams = streams.filter(Q(title__icontains=query) | Q(artist__username__icontains=query))
    if kind:
        streams = streams.filter(type=kind)
    return streams


def _parse_id(stream_id) -> uuid.UUID:
    if isinstance(stream_id, uuid.UUID):
        return stream_id
    try:
        return uuid.UUID(str(stream_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("No stream with that id.") from None


def stream_get(*, stream_id, lock: bool = False) -> LiveStream:
    queryset = LiveStream.objects.select_related("artist")
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(pk=_parse_id(stream_id))
    except LiveStream.DoesNotExist:
        raise NotFound("No stream with that id.") from None


def stream_can_manage(*, user, stream: LiveStream) -> bool:
    """The stream's artist and staff manage a stream; nobody else."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_staff or stream.artist_id == user.id


def stream_manage_access(*, user, stream_id, lock: bool = False) -> LiveStream:
    """Fetch a stream the user may manage (lock it when asked), or refuse."""
    stream = stream_get(stream_id=stream_id, lock=lock)
    if not stream_can_manage(user=user, stream=stream):
        raise Forbidden("Only the stream's artist or staff can do that.")
    return stream


def stream_public_data(stream: LiveStream) -> dict:
    """The fields anyone in a stream's room may see (camelCase, as sent in streamUpdate)."""
    return {
        "streamId": str(stream.id),
        "status": stream.status,
        "title": stream.title,
        "description": stream.description,
        "type": stream.type,
        "scheduledStartTime": stream.scheduled_start_time.isoformat() if stream.scheduled_start_time else None,
        "startedAt": stream.started_at.isoformat() if stream.started_at else None,
        "endedAt": stream.ended_at.isoformat() if stream.ended_at else None,
        "maxViewers": stream.max_viewers,
        "ticketPrice": str(stream.ticket_price),
        "currency": stream.currency,
        "isPayPerView": stream.is_pay_per_view,
        "isChatEnabled": stream.is_chat_enabled,
        "isRecordingEnabled": stream.is_recording_enabled,
        "maxQuality": stream.max_quality,
        "qualityCap": stream.quality_cap or None,
    }
