"""Celery tasks of the rollups: thin, idempotent wrappers (re-running one rewrites the same rows)."""

from datetime import datetime

from celery import shared_task

from . import rollups


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def analytics_rollup_recent() -> None:
    """Every minute (the beat schedule in settings): the last minutes of live and just-ended streams."""
    rollups.recent_streams_rollup()


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=30, time_limit=60)
def stream_minute_rollup(stream_id: str, bucket_start: str) -> None:
    rollups.stream_minute_rollup(stream_id=stream_id, bucket_start=datetime.fromisoformat(bucket_start))


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=600, time_limit=660)
def stream_final_rollup(stream_id: str) -> None:
    """The whole show, once it has ended."""
    rollups.stream_final_rollup(stream_id=stream_id)
