"""E-mails to an artist's followers about a show: a new show, a reminder before it starts, live now.

Each kind goes to each follower at most once per show: the FollowerNotification row is inserted, under its
unique constraint, in the same transaction as the e-mail is handed to the mail server. A concurrent run
waits on that row and then skips the follower; a failed hand-over rolls the row back, so a retry sends it.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.selectors import followers_to_email
from accounts.services import follow_emails_unsubscribe_token

from .models import FollowerNotification, LiveStream

logger = logging.getLogger(__name__)

Kind = FollowerNotification.Kind
S = LiveStream.Status


def _still_due(stream: LiveStream, kind: str, now) -> bool:
    """A message that would be wrong by now is not sent (a show already live needs no reminder)."""
    if kind == Kind.LIVE:
        return stream.status == S.LIVE
    if kind == Kind.REMINDER:
        soon = now + timedelta(minutes=settings.FOLLOWER_REMINDER_MINUTES)
        return stream.status == S.SCHEDULED and now < stream.scheduled_start_time <= soon
    return stream.status == S.SCHEDULED


def _message(*, stream: LiveStream, fan: User, kind: str) -> EmailMultiAlternatives:
    unsubscribe_url = settings.SITE_URL + reverse(
        "follow-emails-unsubscribe", args=[follow_emails_unsubscribe_token(user=fan)]
    )
    context = {
        "stream": stream,
        "fan": fan,
        "kind": kind,
        "stream_url": settings.SITE_URL + reverse("stream-page", args=[stream.id]),
        "artist_url": settings.SITE_URL + reverse("artist-page", args=[stream.artist.username]),
        "account_url": settings.SITE_URL + reverse("account"),
        "unsubscribe_url": unsubscribe_url,
        "reminder_minutes": settings.FOLLOWER_REMINDER_MINUTES,
    }
    subject = render_to_string("streams/email/follower_subject.txt", context).strip()
    body = render_to_string("streams/email/follower_body.txt", context)
    return EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=body,
        to=[fan.email],
        # One-click unsubscribe from the mail client (RFC 2369 and RFC 8058).
        headers={"List-Unsubscribe": f"<{unsubscribe_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def _notify(*, stream: LiveStream, fan: User, kind: str) -> bool:
    """Send one follower one kind of message about one show, unless it was sent before. True if sent now."""
    try:
        with transaction.atomic():
            FollowerNotification.objects.create(stream=stream, user=fan, kind=kind)
            _message(stream=stream, fan=fan, kind=kind).send()
    except IntegrityError:  # sent already (or being sent by a concurrent run, which committed first)
        return False
    return True


def stream_followers_notify(*, stream_id, kind: str) -> int:
    """E-mail the artist's followers about the show (`kind`: scheduled, reminder or live); how many were sent.

    A follower whose message fails is left for the next run (the error is raised after the others are
    sent, so the task retries); those already sent are skipped then."""
    if kind not in Kind.values:
        raise ValueError(f"unknown follower notification {kind!r}")
    stream = LiveStream.objects.select_related("artist").filter(pk=stream_id).first()
    if stream is None or not _still_due(stream, kind, timezone.now()):
        return 0
    already = set(FollowerNotification.objects.filter(stream=stream, kind=kind).values_list("user_id", flat=True))
    sent, failure = 0, None
    for fan in followers_to_email(artist_id=stream.artist_id).exclude(pk__in=already):
        try:
            sent += _notify(stream=stream, fan=fan, kind=kind)
        except Exception as exc:  # the mail server refused or was unreachable: the others still get theirs
            logger.warning("stream %s: %s e-mail to user %s failed: %s", stream.id, kind, fan.id, exc)
            failure = exc
    if sent:
        logger.info("stream %s: %s e-mail sent to %d followers", stream.id, kind, sent)
    if failure is not None:
        raise failure
    return sent


def stream_has_followers_to_email(*, stream_id) -> bool:
    """Whether anyone would get an e-mail about the show (most shows' artists have no followers yet: no task)."""
    artist_id = LiveStream.objects.filter(pk=stream_id).values("artist_id")[:1]
    return followers_to_email(artist_id=artist_id).exists()


def stream_reminders_due() -> list[str]:
    """The ids of scheduled shows starting within FOLLOWER_REMINDER_MINUTES (their followers get a reminder)."""
    now = timezone.now()
    soon = now + timedelta(minutes=settings.FOLLOWER_REMINDER_MINUTES)
    streams = LiveStream.objects.filter(
        status=S.SCHEDULED, scheduled_start_time__gt=now, scheduled_start_time__lte=soon
    )
    return [str(pk) for pk in streams.values_list("pk", flat=True)]
