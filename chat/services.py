"""Writes of chat: sending messages under the chat rules, and every moderation action."""

import logging
import re
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from livestream_site import metrics
from livestream_site.errors import ApplicationError, Forbidden, NotFound
from livestream_site.events import (
    stream_access_revoke_on_commit,
    stream_event_send_on_commit,
    stream_room_changed_on_commit,
)
from livestream_site.realtime import rate_limit_hit, room_ordered, slow_mode_hit
from payments.selectors import stream_watch_access
from streams.models import LiveStream
from streams.selectors import stream_can_manage, stream_manage_access

from .models import ChatBan, ChatModerator, LiveStreamChat, LiveStreamChatSettings
from .selectors import (
    chat_badge,
    chat_ban_active,
    chat_blocked_terms,
    chat_can_moderate,
    chat_message_public_data,
    chat_moderation_access,
    chat_settings_get,
)

logger = logging.getLogger(__name__)

# What a stored message is, whoever sends it; the shapes of inputs (types, limits) are chat.inputs'.
MESSAGE_MAX_LENGTH = LiveStreamChat._meta.get_field("message").max_length


def _message_clean(message: str) -> str:
    """Trim, drop control characters (PostgreSQL refuses NUL) but keep line breaks, check the length."""
    text = "".join(ch for ch in message if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()
    if not 1 <= len(text) <= MESSAGE_MAX_LENGTH:
        raise ApplicationError(
            f"A message has 1 to {MESSAGE_MAX_LENGTH} characters.",
            code="invalid_message",
            fields={"message": [f"Must be 1 to {MESSAGE_MAX_LENGTH} characters after trimming."]},
        )
    return text


def chat_term_blocked(*, message: str, terms: list[str]) -> bool:
    """A term matches as a whole word (or phrase), ignoring case."""
    folded = message.casefold()
    return any(re.search(rf"(?<!\w){re.escape(term.casefold())}(?!\w)", folded) for term in terms if term)


def _retry_error(message: str, code: str, wait: float) -> ApplicationError:
    seconds = round(wait, 1) or 0.1
    return ApplicationError(
        f"{message} Try again in {seconds} s.", code=code, status_code=429, fields={"retry_after": seconds}
    )


def chat_message_send(*, stream_id, user, message: str, client_message_id: str = "") -> LiveStreamChat:
    """Store a chat message under every chat rule, then broadcast it to the room after commit."""
    if user is None or not user.is_authenticated:
        raise Forbidden("Sign in to chat.")
    stream = stream_watch_access(user=user, stream_id=stream_id)
    if not stream.is_chat_enabled:
        raise ApplicationError("Chat is turned off for this stream.", code="chat_disabled", status_code=409)
    if stream.status != LiveStream.Status.LIVE:
        raise ApplicationError("Chat is open while the stream is live.", code="stream_not_live", status_code=409)
    moderator = chat_can_moderate(user=user, stream=stream)
    if not moderator:
        ban = chat_ban_active(stream=stream, user=user)
        if ban is not None:
            until = f" until {ban.expires_at.isoformat()}" if ban.expires_at else ""
            raise Forbidden(f"You are banned from this chat{until}.", code="banned")
    text = _message_clean(message)
    chat_settings = chat_settings_get(stream=stream)
    if not moderator and chat_term_blocked(message=text, terms=chat_blocked_terms(settings=chat_settings)):
        raise ApplicationError("The message contains a blocked term.", code="blocked_term")
    if not moderator:
        key = f"chat:{stream.id}:{user.id}"
        wait = rate_limit_hit(
            key=key, limit=settings.CHAT_RATE_LIMIT_MESSAGES, window_seconds=settings.CHAT_RATE_LIMIT_SECONDS
        )
        if wait:
            raise _retry_error("Too many messages.", "rate_limited", wait)
        if chat_settings.slow_mode_seconds:
            wait = slow_mode_hit(key=key, seconds=chat_settings.slow_mode_seconds)
            if wait:
                raise _retry_error(
                    f"Slow mode: one message every {chat_settings.slow_mode_seconds} s.", "slow_mode", wait
                )
    # Stored and published under the room's order lock: ids reach every viewer in increasing order, even
    # from several web processes (the broadcast runs at the commit, inside the lock).
    badge = chat_badge(user=user, stream=stream, moderator_ids={user.id} if moderator else ())
    with room_ordered(stream.id):
        return _chat_message_store(
            stream=stream, user=user, text=text, client_message_id=client_message_id, badge=badge
        )


def _chat_message_store(
    *, stream: LiveStream, user, text: str, client_message_id: str, badge: str | None
) -> LiveStreamChat:
    try:
        with transaction.atomic():
            chat_message = LiveStreamChat.objects.create(
                stream=stream, user=user, message=text, client_message_id=client_message_id
            )
            chat_message.user = user
            # Stored but not broadcast (Redis down) is not silent: the caller reads `broadcast`.
            chat_message.broadcast = None
            stream_event_send_on_commit(
                stream_id=stream.id,
                event="newChatMessage",
                data=chat_message_public_data(chat_message, badge=badge),
                sent=lambda went_out: setattr(chat_message, "broadcast", went_out),
            )
            transaction.on_commit(metrics.CHAT_MESSAGES.inc)
    except IntegrityError:
        # The stream was deleted meanwhile (its foreign key fails at commit). Messages do not lock the
        # stream row: that would queue every chatter of a busy stream behind each other.
        if not LiveStream.objects.filter(pk=stream.id).exists():
            raise NotFound("No stream with that id.") from None
        raise
    return chat_message


def _message_get(*, stream: LiveStream, message_id) -> LiveStreamChat:
    try:
        return LiveStreamChat.objects.get(stream=stream, pk=int(message_id))
    except (LiveStreamChat.DoesNotExist, ValueError, TypeError):
        raise NotFound("No message with that id in this stream.") from None


@transaction.atomic
def chat_message_delete(*, stream_id, message_id, by_user) -> LiveStreamChat:
    """A moderator deletes a message: history leaves it out and every viewer hears chatMessageDeleted."""
    stream = chat_moderation_access(user=by_user, stream_id=stream_id, lock=True)
    message = _message_get(stream=stream, message_id=message_id)
    if not message.is_deleted:
        message.is_deleted = True
        message.deleted_by = by_user
        message.deleted_at = timezone.now()
        message.save(update_fields=["is_deleted", "deleted_by", "deleted_at"])
        _message_removed_event(message)
        transaction.on_commit(metrics.MODERATION_ACTIONS.labels("delete_message").inc)
        logger.info("chat message %s of stream %s deleted by %s", message.id, stream.id, by_user.id)
    return message


@transaction.atomic
def chat_message_hide(*, message: LiveStreamChat, hidden: bool) -> LiveStreamChat:
    """Hide a message from the room and the history (reversible, from the admin)."""
    if message.is_hidden != hidden:
        message.is_hidden = hidden
        message.save(update_fields=["is_hidden"])
        if hidden:
            _message_removed_event(message)
    return message


def _message_removed_event(message: LiveStreamChat) -> None:
    stream_event_send_on_commit(
        stream_id=message.stream_id,
        event="chatMessageDeleted",
        data={"streamId": str(message.stream_id), "messageId": message.id},
    )


def _user_get(user_id):
    try:
        return get_user_model().objects.get(pk=int(user_id), is_active=True)
    except (get_user_model().DoesNotExist, ValueError, TypeError):
        raise NotFound("No user with that id.", fields={"user_id": ["No such user."]}) from None


@transaction.atomic
def chat_ban_create(
    *, stream_id, user_id: int, by_user, duration_seconds: int | None = None, reason: str = ""
) -> ChatBan:
    """Ban a user from the stream's chat, or time them out for `duration_seconds`."""
    stream = chat_moderation_access(user=by_user, stream_id=stream_id, lock=True)
    target = _user_get(user_id)
    if stream_can_manage(user=target, stream=stream):
        raise Forbidden("The stream's artist and staff cannot be banned.")
    if ChatModerator.objects.filter(stream=stream, user=target).exists() and not stream_can_manage(
        user=by_user, stream=stream
    ):
        raise Forbidden("Only the artist or staff can ban a moderator.")
    expires_at = timezone.now() + timedelta(seconds=duration_seconds) if duration_seconds else None
    ban, _ = ChatBan.objects.update_or_create(
        stream=stream,
        user=target,
        defaults={"created_by": by_user, "reason": reason, "expires_at": expires_at},
    )
    transaction.on_commit(metrics.MODERATION_ACTIONS.labels("timeout" if expires_at else "ban").inc)
    if expires_at is None:  # a ban without end keeps the user out of the room: open connections leave it
        stream_access_revoke_on_commit(stream_id=stream.id, user_ids=[target.id], reason="banned")
    logger.info("user %s banned from chat of %s until %s by %s", target.id, stream.id, expires_at, by_user.id)
    return ban


@transaction.atomic
def chat_ban_remove(*, stream_id, user_id, by_user) -> None:
    stream = chat_moderation_access(user=by_user, stream_id=stream_id, lock=True)
    deleted, _ = ChatBan.objects.filter(stream=stream, user_id=_user_get(user_id).id).delete()
    if not deleted:
        raise NotFound("That user is not banned from this chat.")
    transaction.on_commit(metrics.MODERATION_ACTIONS.labels("unban").inc)
    stream_room_changed_on_commit(stream_id=stream.id, what="ban_lifted")  # joins read bans afresh


def _blocked_terms_unique(terms: list[str]) -> list[str]:
    """Terms match ignoring case, so one spelling of each is kept: the first given."""
    unique: dict[str, str] = {}
    for term in terms:
        unique.setdefault(term.casefold(), term)
    return list(unique.values())


@transaction.atomic
def chat_settings_update(
    *, stream_id, by_user, slow_mode_seconds: int | None = None, blocked_terms: list[str] | None = None
) -> LiveStreamChatSettings:
    """Set slow mode (0 turns it off) and/or the stream's blocked terms; the room hears of slow mode."""
    stream = chat_moderation_access(user=by_user, stream_id=stream_id, lock=True)
    chat_settings = chat_settings_get(stream=stream)
    slow_mode_changed = False
    if slow_mode_seconds is not None:
        slow_mode_changed = slow_mode_seconds != chat_settings.slow_mode_seconds
        chat_settings.slow_mode_seconds = slow_mode_seconds
    if blocked_terms is not None:
        chat_settings.blocked_terms = _blocked_terms_unique(blocked_terms)
    # The model's constraints (slow mode at most an hour) hold for callers that skip chat.inputs.
    chat_settings.full_clean()
    chat_settings.save()
    transaction.on_commit(metrics.MODERATION_ACTIONS.labels("settings_update").inc)
    if slow_mode_changed:
        seconds = chat_settings.slow_mode_seconds
        stream_event_send_on_commit(
            stream_id=stream.id,
            event="chatSettingsUpdate",
            data={"streamId": str(stream.id), "slowModeSeconds": seconds, "isChatEnabled": stream.is_chat_enabled},
        )
        text = f"Slow mode is on: one message every {seconds} seconds." if seconds else "Slow mode is off."
        stream_event_send_on_commit(
            stream_id=stream.id, event="systemMessage", data={"streamId": str(stream.id), "message": text}
        )
    return chat_settings


@transaction.atomic
def chat_moderator_add(*, stream_id, user_id, by_user) -> ChatModerator:
    """The artist or staff make a user a moderator of the stream's chat (idempotent)."""
    stream = stream_manage_access(user=by_user, stream_id=stream_id, lock=True)
    target = _user_get(user_id)
    moderator, _ = ChatModerator.objects.get_or_create(stream=stream, user=target, defaults={"added_by": by_user})
    ChatBan.objects.filter(stream=stream, user=target).delete()
    return moderator


@transaction.atomic
def chat_moderator_remove(*, stream_id, user_id, by_user) -> None:
    stream = stream_manage_access(user=by_user, stream_id=stream_id, lock=True)
    deleted, _ = ChatModerator.objects.filter(stream=stream, user_id=_user_get(user_id).id).delete()
    if not deleted:
        raise NotFound("That user is not a moderator of this chat.")
