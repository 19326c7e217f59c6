"""Periodic tasks of the audience: the batch writer of buffered events, and the expiry of silent sessions."""

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)

# A run writes batches until the buffer is drained or this long has passed (well under the time limit,
# and under ANALYTICS_CLAIM_IDLE_SECONDS, so a live writer's entries are never claimed by another).
WRITE_BUDGET_SECONDS = 20


@shared_task(acks_late=True, soft_time_limit=45, time_limit=60, ignore_result=True)
def analytics_events_write() -> int:
    """Periodic (every few seconds): write buffered session events and reports. Idempotent."""
    written = services.events_write_drain(budget_seconds=WRITE_BUDGET_SECONDS)
    if written:
        logger.debug("analytics: %d buffered events written", written)
    return written


@shared_task(acks_late=True, soft_time_limit=45, time_limit=60, ignore_result=True)
def analytics_sessions_expire() -> int:
    """Periodic (every minute): close sessions whose viewers went silent. Idempotent."""
    closed = services.sessions_expire()
    if closed:
        logger.info("analytics: %d silent viewer sessions closed", closed)
    return closed
