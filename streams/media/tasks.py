"""Celery tasks of the media plane: thin, idempotent wrappers around its services."""

import logging

from celery import shared_task

from . import services as media_services
from .backends import MediaProviderError

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


# Provider calls retried with exponential backoff (30 s, 60 s, ... capped) before media_reconcile takes over.
PROVISION_MAX_RETRIES = 6


def _backoff(retries: int) -> int:
    return min(30 * 2**retries, 900)


@shared_task(bind=True, acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def stream_media_provision(self, stream_id: str) -> None:
    try:
        media_services.stream_media_provision(stream_id=stream_id)
    except (media_services.MediaProvisionBusy, MediaProviderError) as exc:
        retryable = isinstance(exc, media_services.MediaProvisionBusy) or exc.retryable
        if self.request.is_eager or not retryable or self.request.retries >= PROVISION_MAX_RETRIES:
            # The error is on the stream (media_error); media_reconcile tries again later.
            logger.warning("stream %s: provisioning left to the reconcile: %s", stream_id, exc)
            return
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from None


@shared_task(bind=True, acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def stream_media_deprovision(self, backend_name: str, resource: dict) -> None:
    try:
        media_services.stream_media_deprovision(backend_name=backend_name, resource=resource)
    except MediaProviderError as exc:
        if self.request.is_eager or not exc.retryable or self.request.retries >= PROVISION_MAX_RETRIES:
            logger.error("media resource %s on %s left behind: %s", resource.get("id"), backend_name, exc)
            return
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from None


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=50, time_limit=60)
def media_reconcile() -> None:
    media_services.media_reconcile()


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=25, time_limit=30)
def media_poll() -> None:
    media_services.media_poll()
