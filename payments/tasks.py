"""Celery tasks of payments: thin, idempotent wrappers around the refund service."""

import logging

import stripe
from celery import shared_task

from . import selectors, services

logger = logging.getLogger(__name__)

# Transient Stripe trouble is retried with backoff; a refused request (bad parameters, auth) is not.
RETRYABLE = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError, stripe.IdempotencyError)


@shared_task(
    acks_late=True,
    autoretry_for=RETRYABLE,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=10,
    soft_time_limit=60,
    time_limit=90,
)
def payment_refund_task(payment_id: str, reason: str) -> str:
    """Refund whatever is left of one payment; running it twice refunds nothing twice."""
    payment = services.payment_refund(payment_id=payment_id, reason=reason)
    return payment.status


@shared_task(acks_late=True, soft_time_limit=120, time_limit=180)
def stream_tickets_refund_task(stream_id: str) -> int:
    """A stream was cancelled: refund every ticket, one task per payment so one failure holds up none."""
    payment_ids = selectors.stream_refundable_payment_ids(stream_id=stream_id)
    logger.info("stream %s cancelled: refunding %d payments", stream_id, len(payment_ids))
    for payment_id in payment_ids:
        payment_refund_task.delay(str(payment_id), "stream_cancelled")
    return len(payment_ids)


@shared_task(
    acks_late=True, autoretry_for=RETRYABLE, retry_backoff=5, max_retries=3, soft_time_limit=120, time_limit=180
)
def payment_holds_release_task() -> int:
    """Periodic (every minute): cancel the PaymentIntents of lapsed seat holds. Idempotent."""
    payment_ids = selectors.expired_hold_payment_ids()
    for payment_id in payment_ids:
        services.payment_hold_release(payment_id=payment_id)
    if payment_ids:
        logger.info("released %d lapsed seat holds", len(payment_ids))
    return len(payment_ids)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=10, max_retries=5, ignore_result=True)
def payment_receipt_email_task(payment_id: str) -> None:
    """E-mail the buyer the receipt of a paid ticket (a retried run re-sends at worst: mail is not transactional)."""
    services.payment_receipt_send(payment_id=payment_id)
