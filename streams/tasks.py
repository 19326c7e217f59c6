"""Celery tasks of streams: the followers' e-mails (thin, idempotent wrappers of streams.notifications)."""

from celery import shared_task

from . import notifications


@shared_task(
    acks_late=True,
    autoretry_for=(OSError,),  # the mail server unreachable or refusing (smtplib's errors are OSErrors)
    retry_backoff=30,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=8,
    soft_time_limit=300,
    time_limit=360,
)
def stream_followers_notify_task(stream_id: str, kind: str) -> int:
    """E-mail the followers of a show's artist (scheduled, reminder or live); running it twice sends nothing twice."""
    return notifications.stream_followers_notify(stream_id=stream_id, kind=kind)


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def stream_reminders_send_task() -> int:
    """Every minute (CELERY_BEAT_SCHEDULE): one reminder task per show starting within FOLLOWER_REMINDER_MINUTES."""
    stream_ids = notifications.stream_reminders_due()
    for stream_id in stream_ids:
        stream_followers_notify_task.delay(stream_id, notifications.Kind.REMINDER)
    return len(stream_ids)
