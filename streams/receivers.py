"""Receivers of streams' own lifecycle signals (sent after commit): the followers' e-mails, as Celery tasks."""

from .models import FollowerNotification
from .notifications import stream_has_followers_to_email
from .tasks import stream_followers_notify_task


def stream_scheduled_followers_notify(sender, *, stream_id, **kwargs) -> None:
    if stream_has_followers_to_email(stream_id=stream_id):
        stream_followers_notify_task.delay(str(stream_id), FollowerNotification.Kind.SCHEDULED)


def stream_went_live_followers_notify(sender, *, stream_id, **kwargs) -> None:
    if stream_has_followers_to_email(stream_id=stream_id):
        stream_followers_notify_task.delay(str(stream_id), FollowerNotification.Kind.LIVE)
