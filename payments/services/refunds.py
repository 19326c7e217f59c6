"""Refunds: giving a paid ticket's money back through Stripe, and recording what Stripe refunded."""

import logging
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from livestream_site import metrics
from livestream_site.errors import ApplicationError, Conflict, Forbidden
from livestream_site.events import stream_access_revoke_on_commit

from .. import gateway
from ..gateway import DEV_INTENT_PREFIX
from ..models import LiveStreamPayment
from ..money import from_minor_units, quantize, to_minor_units
from ..selectors import payment_get

logger = logging.getLogger(__name__)

P = LiveStreamPayment.Status


def refund_record(*, payment: LiveStreamPayment, cumulative: Decimal, refund_ids: list[str]) -> bool:
    """Record refunds on a locked payment; `cumulative` is the total refunded so far. True if it changed."""
    new_ids = [rid for rid in refund_ids if rid and rid not in payment.stripe_refund_ids]
    cumulative = min(cumulative, payment.amount)
    if cumulative <= payment.refunded_amount and not new_ids:
        return False
    now = timezone.now()
    payment.stripe_refund_ids = [*payment.stripe_refund_ids, *new_ids]
    if cumulative > payment.refunded_amount:
        payment.refunded_amount = cumulative
        payment.refunded_at = now
    # When the refund arrives before `succeeded`, paid_at stays empty: `succeeded` sets it when it comes.
    if payment.refunded_amount >= payment.amount:
        if payment.status != P.REFUNDED:
            # The ticket no longer admits: the viewer's open connections leave the room (audit F7).
            stream_access_revoke_on_commit(stream_id=payment.stream_id, user_ids=[payment.user_id], reason="refunded")
        payment.status = P.REFUNDED
    elif payment.status == P.PAID:
        payment.status = P.PARTIALLY_REFUNDED
    payment.save()
    transaction.on_commit(metrics.PAYMENTS.labels("refunded").inc)
    logger.info(
        "payment %s: refunded %s of %s (%s)", payment.id, payment.refunded_amount, payment.amount, payment.status
    )
    return True


def payment_refund(
    *, payment_id, amount: Decimal | None = None, reason: str = "requested_by_customer", by_user=None
) -> LiveStreamPayment:
    """Refund `amount` (default: everything not refunded yet) of a payment; safe to call twice.

    The Stripe idempotency key names the payment and how much was refunded before, so a retry of the
    same refund (a task run twice, a crash after Stripe answered) returns the same Stripe refund.
    """
    with transaction.atomic():
        payment = payment_get(payment_id=payment_id, lock=True)
        if payment.paid_at is None:
            raise Conflict("This payment was never paid: there is nothing to refund.", code="not_paid")
        remaining = payment.amount - payment.refunded_amount
        if remaining <= 0:
            logger.debug("payment %s: nothing left to refund", payment.id)
            return payment
        try:
            amount = remaining if amount is None else quantize(Decimal(amount), payment.currency)
        except (InvalidOperation, TypeError, ValueError):
            raise ApplicationError("Not an amount.", code="invalid_amount", fields={"amount": ["Not an amount."]})
        if not Decimal(0) < amount <= remaining:
            raise ApplicationError(
                f"The refund must be above 0 and at most {remaining} {payment.currency.upper()}.",
                code="invalid_amount",
                fields={"amount": [f"Must be above 0 and at most {remaining}."]},
            )
        before_minor = to_minor_units(payment.refunded_amount, payment.currency)
        amount_minor = to_minor_units(amount, payment.currency)
        intent_id = payment.stripe_payment_intent_id
    if intent_id and intent_id.startswith(DEV_INTENT_PREFIX):
        if not gateway.dev_checkout_enabled():
            raise Forbidden("The development checkout is off on this server.", code="dev_checkout_disabled")
        refund_id = f"dev_re_{payment.id.hex}_{before_minor}_{amount_minor}"
    else:
        refund = gateway.refund_create(  # Stripe errors propagate: the task retries them
            intent_id=intent_id,
            amount_minor=amount_minor,
            idempotency_key=f"refund-{payment.id}-{before_minor}-{amount_minor}",
            metadata={"paymentId": str(payment.id), "reason": reason, "byUser": str(by_user.id) if by_user else ""},
        )
        refund_id = refund.id
    with transaction.atomic():
        payment = payment_get(payment_id=payment.pk, lock=True)
        cumulative = from_minor_units(before_minor + amount_minor, payment.currency)
        refund_record(payment=payment, cumulative=cumulative, refund_ids=[refund_id])
    logger.info(
        "payment %s: refund %s of %s %s (%s, by %s)",
        payment.id,
        refund_id,
        amount,
        payment.currency,
        reason,
        by_user.id if by_user else "system",
    )
    return payment
