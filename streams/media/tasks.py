"""Celery tasks of the media plane: thin, idempotent wrappers around its services."""

import logging

from celery import shared_task

from . import services as media_services

logger = logging.getLogger(__name__)

RECORDING_MAX_RETRIES = 3
RECORDING_BUSY_RETRY_SECONDS = 30


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def ingest_reconcile() -> None:
    media_services.ingest_reconcile()


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=30, time_limit=60)
def ingest_reconnect_window_expire(stream_id: str, generation: int) -> None:
    media_services.ingest_reconnect_window_expire(stream_id=stream_id, generation=generation)


@shared_task(
    bind=True,
    acks_late=True,
    ignore_result=True,
    max_retries=RECORDING_MAX_RETRIES,
    soft_time_limit=1800,
    time_limit=2000,
)
def recording_finalize(self, recording_id: str) -> None:
    try:
        media_services.recording_finalize(recording_id=recording_id)
    except media_services.RecordingBusy:
        if self.request.is_eager:
            return  # in-process: the holder is running right here and will finish
        # Not an attempt: come back once the holder finished (then READY, nothing to do) or its lock lapsed.
        raise self.retry(countdown=RECORDING_BUSY_RETRY_SECONDS, max_retries=None) from None
    except Exception as exc:
        if self.request.retries >= RECORDING_MAX_RETRIES or self.request.is_eager:
            media_services.recording_fail(recording_id=recording_id, error=str(exc))
            return
        logger.warning("recording %s: attempt failed (%s), retrying", recording_id, exc)
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries)
