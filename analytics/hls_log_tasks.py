"""The periodic fold of the media server's HLS log into viewer sessions (analytics.hls_log)."""

from celery import shared_task
from django.core.cache import cache

from . import hls_log

LOCK_KEY = "analytics:hls-log-fold:lock"
TIME_LIMIT_SECONDS = 120


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=TIME_LIMIT_SECONDS - 10, time_limit=TIME_LIMIT_SECONDS)
def hls_log_fold_task() -> None:
    # One fold at a time: two would read the same lines from the same cursor.
    if not cache.add(LOCK_KEY, 1, timeout=TIME_LIMIT_SECONDS):
        return
    try:
        hls_log.hls_log_fold()
    finally:
        cache.delete(LOCK_KEY)
