"""Writes of streams: create, update, delete, the lifecycle state machine and stream keys."""

import logging
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from livestream_site.errors import ApplicationError, Conflict, Forbidden
from livestream_site.events import stream_access_revoke_on_commit, stream_event_send_on_commit

from .models import DEFAULT_STREAM_SETTINGS, LiveStream, stream_key_generate
from .selectors import stream_get, stream_public_data
from .signals import (
    stream_cancelled,
    stream_delete_requested,
    stream_ended,
    stream_saved,
    stream_scheduled,
    stream_went_live,
)

logger = logging.getLogger(__name__)

S = LiveStream.Status
# The lifecycle: which statuses each transition may start from.
TRANSITIONS = {
    "start": ((S.SCHEDULED,), S.LIVE),
    "end": ((S.LIVE,), S.ENDED),
    "cancel": ((S.SCHEDULED,), S.CANCELLED),
}
# What a stream is created with (besides who creates it and for which artist): the API and the admin
# both pass exactly these to stream_create.
CREATE_FIELDS = (
    "title",
    "description",
    "type",
    "scheduled_start_time",
    "max_viewers",
    "ticket_price",
    "currency",
    "is_pay_per_view",
    "is_chat_enabled",
    "is_recording_enabled",
    "go_live_on_publish",
    "max_quality",
    "stream_settings",
)
# Fields that may only change while the stream has not started.
SCHEDULE_FIELDS = {"scheduled_start_time", "ticket_price", "currency", "is_pay_per_view", "max_viewers"}


def _stream_updated_event(stream: LiveStream) -> None:
    stream_event_send_on_commit(stream_id=stream.id, event="streamUpdate", data=stream_public_data(stream))


def _host_check(artist: User) -> None:
    if not artist.can_host:
        message = "Only artists can host streams."
        raise Forbidden(message, code="not_an_artist", fields={"artist": [message]})


def _artist_resolve(*, by_user: User, artist_id: int | None) -> User:
    """Whose stream a new one is: the creator's own, or (staff only) another artist's."""
    if artist_id is None or artist_id == by_user.id:
        _host_check(by_user)
        return by_user
    if not by_user.is_staff:
        raise Forbidden("Only staff can create a stream for another artist.")
    artist = User.objects.filter(pk=artist_id).first()
    if artist is None:
        raise ApplicationError(
            "No user with that id.", code="validation_error", fields={"artist_id": ["No user with that id."]}
        )
    if not artist.can_host:
        message = "That user is not an artist."
        raise ApplicationError(message, code="validation_error", fields={"artist_id": [message]})
    return artist


@transaction.atomic
def stream_create(
    *,
    by_user: User,
    artist_id: int | None = None,
    title: str,
    scheduled_start_time: datetime,
    description: str = "",
    type: str = LiveStream.Type.CONCERT,
    max_viewers: int | None = None,
    ticket_price: Decimal = Decimal("0"),
    currency: str | None = None,
    is_pay_per_view: bool = False,
    is_chat_enabled: bool = True,
    is_recording_enabled: bool = False,
    go_live_on_publish: bool = True,
    max_quality: str = LiveStream.Quality.HIGH,
    stream_settings: dict | None = None,
) -> LiveStream:
    """A new scheduled stream of `by_user`, or of the artist `artist_id` names when staff create it."""
    artist = _artist_resolve(by_user=by_user, artist_id=artist_id)
    stream = LiveStream(
        artist=artist,
        title=title,
        description=description,
        type=type,
        scheduled_start_time=scheduled_start_time,
        max_viewers=max_viewers,
        ticket_price=ticket_price,
        currency=(currency or settings.DEFAULT_CURRENCY).lower(),
        is_pay_per_view=is_pay_per_view,
        is_chat_enabled=is_chat_enabled,
        is_recording_enabled=is_recording_enabled,
        go_live_on_publish=go_live_on_publish,
        max_quality=max_quality,
        stream_settings={**DEFAULT_STREAM_SETTINGS, **(stream_settings or {})},
    )
    stream.full_clean()
    stream.save()
    stream_saved.send(sender=LiveStream, stream=stream, created=True)
    logger.info("stream %s created by artist %s", stream.id, artist.id)
    _signal_send_on_commit(stream_scheduled, stream_id=stream.id)
    return stream


@transaction.atomic
def stream_update(*, stream: LiveStream, data: dict) -> LiveStream:
    stream = stream_get(stream_id=stream.id, lock=True)
    changed = {key for key, value in data.items() if getattr(stream, key) != value}
    if changed & SCHEDULE_FIELDS and stream.status != S.SCHEDULED:
        fields = sorted(changed & SCHEDULE_FIELDS)
        frozen = f"The stream is {stream.status}; this can only change before it starts."
        # The refusal names its fields, so a form (the admin) shows it next to them.
        raise Conflict(
            f"The stream is {stream.status}; {', '.join(fields)} can only change before it starts.",
            code="stream_not_editable",
            fields={name: [frozen] for name in fields},
        )
    if "artist" in changed:
        _host_check(data["artist"])
    for key, value in data.items():
        if key == "stream_settings":
            value = {**stream.stream_settings, **value}
        setattr(stream, key, value)
    stream.full_clean()
    stream.save()
    if changed:
        stream_saved.send(sender=LiveStream, stream=stream, created=False)
    logger.debug("stream %s updated: %s", stream.id, ", ".join(sorted(changed)) or "nothing")
    if changed:
        _stream_updated_event(stream)
    return stream


@transaction.atomic
def stream_delete(*, stream: LiveStream) -> None:
    stream = stream_get(stream_id=stream.id, lock=True)
    if stream.status == S.LIVE:
        raise Conflict("The stream is live: end it first.", code="stream_live")
    # What other apps keep about the stream may forbid deleting it (payments: sold tickets).
    stream_delete_requested.send(sender=LiveStream, stream=stream)
    logger.info("stream %s deleted", stream.id)
    stream.delete()


def _transition(*, stream_id, action: str) -> LiveStream:
    allowed_from, target = TRANSITIONS[action]
    with transaction.atomic():
        stream = stream_get(stream_id=stream_id, lock=True)
        if stream.status not in allowed_from:
            raise Conflict(
                f"Cannot {action} a stream that is {stream.status}.",
                code="invalid_transition",
            )
        now = timezone.now()
        stream.status = target
        if target == S.LIVE:
            stream.started_at = now
        elif target in (S.ENDED, S.CANCELLED):
            stream.ended_at = now
        stream.save(update_fields=["status", "started_at", "ended_at", "updated_at"])
        logger.info("stream %s: %s -> %s", stream.id, allowed_from[0], target)
        _stream_updated_event(stream)
        if target == S.CANCELLED:
            _stream_cancelled_send_on_commit(stream_id=stream.id)
            # Nobody but the artist and staff may watch a cancelled stream: its viewers leave the room.
            stream_access_revoke_on_commit(stream_id=stream.id, user_ids=None, reason="cancelled")
        elif target == S.ENDED:
            _stream_ended_send_on_commit(stream_id=stream.id)
        elif target == S.LIVE:
            _signal_send_on_commit(stream_went_live, stream_id=stream.id)
    return stream


def stream_start(*, stream_id) -> LiveStream:
    return _transition(stream_id=stream_id, action="start")


def stream_end(*, stream_id) -> LiveStream:
    return _transition(stream_id=stream_id, action="end")


def stream_cancel(*, stream_id) -> LiveStream:
    return _transition(stream_id=stream_id, action="cancel")


@transaction.atomic
def stream_key_rotate(*, stream_id) -> LiveStream:
    # Rotating while live is allowed (a leaked key is most urgent then): the running publish goes on,
    # and the next publish needs the new key.
    stream = stream_get(stream_id=stream_id, lock=True)
    stream.stream_key = stream_key_generate()
    stream.save(update_fields=["stream_key", "updated_at"])
    logger.info("stream %s: key rotated", stream.id)
    return stream


def _stream_cancelled_send_on_commit(*, stream_id) -> None:
    """Announce a cancellation once committed (payments refunds the tickets); no receiver can break it."""
    transaction.on_commit(lambda: stream_cancelled.send_robust(sender=LiveStream, stream_id=stream_id), robust=True)


def _stream_ended_send_on_commit(*, stream_id) -> None:
    """Announce the end once committed (analytics rolls the show up); no receiver can break it."""
    transaction.on_commit(lambda: stream_ended.send_robust(sender=LiveStream, stream_id=stream_id), robust=True)


def _signal_send_on_commit(signal, *, stream_id) -> None:
    """Announce a lifecycle step once committed (the followers' e-mails); no receiver can break it."""
    transaction.on_commit(lambda: signal.send_robust(sender=LiveStream, stream_id=stream_id), robust=True)


QUALITY_ORDER = [LiveStream.Quality.LOW, LiveStream.Quality.MEDIUM, LiveStream.Quality.HIGH]


@transaction.atomic
def stream_quality_adapt(*, stream_id, max_quality: str) -> LiveStream:
    """Cap the renditions viewers get (adapt-quality); a cap at or above maxQuality lifts it."""

    if max_quality not in QUALITY_ORDER:
        raise ApplicationError(
            f"Must be one of: {', '.join(QUALITY_ORDER)}.",
            code="validation_error",
            fields={"max_quality": [f"Must be one of: {', '.join(QUALITY_ORDER)}."]},
        )
    stream = stream_get(stream_id=stream_id, lock=True)
    # A person's choice replaces an automatic cap, and the platform will not undo it.
    return _quality_cap_save(stream=stream, max_quality=max_quality, automatic=False)


def _quality_cap_save(*, stream: LiveStream, max_quality: str, automatic: bool) -> LiveStream:
    lifted = QUALITY_ORDER.index(max_quality) >= QUALITY_ORDER.index(stream.max_quality)
    cap = "" if lifted else max_quality
    automatic = automatic and bool(cap)
    if cap != stream.quality_cap or automatic != stream.quality_cap_automatic:
        changed = cap != stream.quality_cap
        stream.quality_cap = cap
        stream.quality_cap_automatic = automatic
        stream.save(update_fields=["quality_cap", "quality_cap_automatic", "updated_at"])
        logger.info("stream %s: quality cap %s%s", stream.id, cap or "lifted", " (automatic)" if automatic else "")
        if changed:
            _stream_updated_event(stream)
    return stream


def stream_quality_cap_automatic_set(*, stream_id, max_quality: str) -> LiveStream:
    """The platform caps the renditions (the transcoder is behind real time). A cap a person set wins:
    it is never replaced, and neither is a lower automatic one raised."""
    with transaction.atomic():
        stream = stream_get(stream_id=stream_id, lock=True)
        if stream.quality_cap and not stream.quality_cap_automatic:
            return stream
        return _quality_cap_save(stream=stream, max_quality=max_quality, automatic=True)


def stream_quality_cap_automatic_lift(*, stream_id) -> LiveStream:
    """The platform lifts the cap it set itself (the transcoder recovered); a person's cap stays."""
    with transaction.atomic():
        stream = stream_get(stream_id=stream_id, lock=True)
        if not stream.quality_cap_automatic:
            return stream
        return _quality_cap_save(stream=stream, max_quality=stream.max_quality, automatic=False)


def stream_peak_viewers_record(*, stream_id, viewers: int) -> bool:
    """Raise the stream's peak concurrent viewers to `viewers` if that is a new peak (never lowers it)."""
    updated = LiveStream.objects.filter(pk=stream_id, peak_viewers__lt=viewers).update(peak_viewers=viewers)
    if updated:
        logger.debug("stream %s reached %s concurrent viewers", stream_id, viewers)
    return bool(updated)
