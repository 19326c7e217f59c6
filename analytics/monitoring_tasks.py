"""Celery tasks of monitoring (analytics/monitoring.py): thin and idempotent; the beat schedule is in settings."""

from celery import shared_task

from . import monitoring


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=20, time_limit=30)
def ingest_sample_task() -> int:
    """Sample every live stream's ingest and transcoder and evaluate its alerts. Running it twice in a
    row only adds a sample: alerts, their `since` and the automatic cap come out the same."""
    return monitoring.live_streams_monitor()
