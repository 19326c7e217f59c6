"""Reads of chat: who may join, watch and moderate a stream's chat, the history, and public data."""

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from livestream_site.errors import Forbidden, NotFound
from streams.models import LiveStream
from streams.selectors import stream_can_manage, stream_get

from .models import BlockedTerm, ChatBan, ChatModerator, LiveStreamChat, LiveStreamChatSettings

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 100


def stream_is_exempt(*, user, stream: LiveStream) -> bool:
    """The artist and staff: never counted against maxViewers, never rate limited."""
    return stream_can_manage(user=user, stream=stream)


def chat_can_moderate(*, user, stream: LiveStream) -> bool:
    if user is None or not user.is_authenticated:
        return False
    if stream_can_manage(user=user, stream=stream):
        return True
    return ChatModerator.objects.filter(stream=stream, user=user).exists()


def chat_moderation_access(*, user, stream_id, lock: bool = False) -> LiveStream:
    """Fetch a stream whose chat the user may moderate (artist, staff, the stream's moderators), or refuse.

    Writes lock the stream row: a deletion of the stream then waits for the write, or the write finds
    no stream (404), instead of the write's rows failing their foreign key at commit (audit F5)."""
    stream = stream_get(stream_id=stream_id, lock=lock)
    if not chat_can_moderate(user=user, stream=stream):
        raise Forbidden("Only the stream's artist, staff or its chat moderators can do that.")
    return stream


def _stream_pk(stream_id) -> uuid.UUID:
    try:
        return stream_id if isinstance(stream_id, uuid.UUID) else uuid.UUID(str(stream_id))
    except (ValueError, TypeError, AttributeError):
        raise NotFound("No stream with that id.") from None


def stream_for_join(*, stream_id) -> LiveStream:
    """What a WebSocket join reads: the stream with its chat settings (then `join_slow_mode`), and the
    users banned from its room for good (`room_banned_user_ids`). A ban announces itself to the room
    (a revoke), which ends the reuse of this read by later joins (chat.joins)."""
    try:
        stream = LiveStream.objects.select_related("chat_settings").get(pk=_stream_pk(stream_id))
    except LiveStream.DoesNotExist:
        raise NotFound("No stream with that id.") from None
    stream.room_banned_user_ids = set(
        ChatBan.objects.filter(stream=stream, expires_at__isnull=True).values_list("user_id", flat=True)
    )
    return stream


def join_slow_mode(*, stream: LiveStream) -> int:
    """The slow mode of a stream read by `stream_for_join` (no query)."""
    try:
        return stream.chat_settings.slow_mode_seconds
    except LiveStreamChatSettings.DoesNotExist:
        return 0


def chat_settings_get(*, stream: LiveStream) -> LiveStreamChatSettings:
    """The stream's chat settings; an unsaved default object when none were set."""
    try:
        return LiveStreamChatSettings.objects.get(stream=stream)
    except LiveStreamChatSettings.DoesNotExist:
        return LiveStreamChatSettings(stream=stream)


def chat_ban_active(*, stream: LiveStream, user) -> ChatBan | None:
    now = timezone.now()
    ban = ChatBan.objects.filter(stream=stream, user=user).first()
    if ban is None or (ban.expires_at is not None and ban.expires_at <= now):
        return None
    return ban


def chat_blocked_terms(*, settings: LiveStreamChatSettings) -> list[str]:
    """The stream's blocked terms and the site-wide ones."""
    return list(settings.blocked_terms or []) + list(BlockedTerm.objects.values_list("term", flat=True))


def chat_history(*, stream: LiveStream, before: int | None = None, limit: int = HISTORY_DEFAULT_LIMIT) -> list:
    """Visible messages of a stream, newest first, older than message id `before`."""
    queryset = LiveStreamChat.objects.filter(stream=stream, is_deleted=False, is_hidden=False)
    if before is not None:
        queryset = queryset.filter(id__lt=before)
    return list(queryset.select_related("user").order_by("-id")[:limit])


def chat_bans_list(*, stream: LiveStream) -> QuerySet[ChatBan]:
    return ChatBan.objects.filter(stream=stream).select_related("user").order_by("-created_at")


def chat_moderators_list(*, stream: LiveStream) -> QuerySet[ChatModerator]:
    return ChatModerator.objects.filter(stream=stream).select_related("user").order_by("created_at")


def chat_badge(*, user, stream: LiveStream, moderator_ids) -> str | None:
    """The badge a chatter wears in the stream's chat: "artist", "staff", "moderator", or None."""
    if user.id == stream.artist_id:
        return "artist"
    if user.is_staff:
        return "staff"
    return "moderator" if user.id in moderator_ids else None


def chat_moderator_ids(*, stream: LiveStream) -> set[int]:
    return set(ChatModerator.objects.filter(stream=stream).values_list("user_id", flat=True))


def chat_message_public_data(message: LiveStreamChat, *, badge: str | None = None) -> dict:
    """What every viewer of a stream may see of a message (newChatMessage, history)."""
    return {
        "id": message.id,
        "streamId": str(message.stream_id),
        "user": {"id": message.user_id, "username": message.user.username},
        "badge": badge,
        "message": message.message,
        "createdAt": message.created_at.isoformat(),
        "clientMessageId": message.client_message_id or None,
    }
