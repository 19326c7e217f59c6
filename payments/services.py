"""Writes of tickets: buying (PaymentIntents), applying Stripe's word (confirm and webhooks), refunds.

Every change of a payment goes through these functions, whoever asks: the API, the webhook, the
admin, the Celery tasks. Lock order is always stream row, then payment row.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from livestream_site.errors import ApplicationError, Conflict, Forbidden, NotFound
from streams.models import LiveStream
from streams.selectors import stream_get

from . import gateway
from .gateway import DEV_INTENT_PREFIX, PaymentProviderError
from .models import LiveStreamPayment, StripeWebhookEvent
from .money import from_minor_units, quantize, to_minor_units
from .selectors import stream_is_sold_out

logger = logging.getLogger(__name__)

P = LiveStreamPayment.Status
ACTIVE_STATUSES = (P.PENDING, P.PAID, P.PARTIALLY_REFUNDED)


@dataclass(frozen=True)
class Checkout:
    payment: LiveStreamPayment
    intent_id: str
    client_secret: str
    amount_minor: int
    currency: str
    publishable_key: str
    dev_checkout: bool


# --- Buying -----------------------------------------------------------------------------------


def _purchase_refusal(*, stream: LiveStream, user) -> None:
    if not stream.is_pay_per_view or stream.ticket_price <= 0:
        raise ApplicationError("This stream is free: no ticket is needed.", code="stream_free")
    if stream.artist_id == user.id:
        raise Forbidden("You cannot buy a ticket for your own stream.", code="own_stream")
    if stream.status == LiveStream.Status.CANCELLED:
        raise Conflict("This stream was cancelled.", code="stream_cancelled")
    if stream.status == LiveStream.Status.ENDED:
        raise Conflict("This stream has ended.", code="stream_ended")


def _sold_out() -> Conflict:
    return Conflict("This show is sold out.", code="sold_out")


def ticket_hold(*, stream_id, user) -> LiveStreamPayment:
    """Reserve a seat for `user` (or find the hold they already have), under the stream's row lock."""
    with transaction.atomic():
        stream = stream_get(stream_id=stream_id, lock=True)
        _purchase_refusal(stream=stream, user=user)
        now = timezone.now()
        hold_until = now + timedelta(seconds=settings.PAYMENT_HOLD_SECONDS)
        existing = (
            LiveStreamPayment.objects.select_for_update()
            .filter(stream=stream, user=user, status__in=ACTIVE_STATUSES)
            .first()
        )
        if existing is not None and existing.status != P.PENDING:
            raise Conflict("You already have a ticket for this stream.", code="already_has_ticket")
        if existing is not None:
            # A double click or a retried request: the same payment, so the same PaymentIntent.
            if existing.hold_expires_at is None or existing.hold_expires_at <= now:
                if stream_is_sold_out(stream=stream, now=now, exclude_payment_id=existing.id):
                    raise _sold_out()
                existing.hold_expires_at = hold_until
                existing.save(update_fields=["hold_expires_at", "updated_at"])
            logger.debug("payment %s: purchase repeated, same intent", existing.id)
            return existing
        if stream_is_sold_out(stream=stream, now=now):
            raise _sold_out()
        to_minor_units(stream.ticket_price, stream.currency)  # refuses a price the currency cannot charge
        payment = LiveStreamPayment(
            stream=stream,
            user=user,
            amount=stream.ticket_price,
            currency=stream.currency.lower(),
            status=P.PENDING,
            hold_expires_at=hold_until,
        )
        payment.idempotency_key = f"ticket-intent-{payment.id}"
        payment.save(force_insert=True)
        logger.info("payment %s: seat held for user %s on stream %s", payment.id, user.id, stream.id)
        return payment


def ticket_purchase(*, stream_id, user, _retried: bool = False) -> Checkout:
    """Hold a seat and create (or find again) the PaymentIntent for it."""
    payment = ticket_hold(stream_id=stream_id, user=user)
    amount_minor = to_minor_units(payment.amount, payment.currency)
    if gateway.dev_checkout_enabled():
        intent_id = payment.stripe_payment_intent_id or f"{DEV_INTENT_PREFIX}{uuid.uuid4().hex}"
        _intent_id_save(payment=payment, intent_id=intent_id)
        return Checkout(payment, intent_id, f"{intent_id}_secret_dev", amount_minor, payment.currency, "", True)
    try:
        if payment.stripe_payment_intent_id:
            intent = gateway.intent_retrieve(intent_id=payment.stripe_payment_intent_id)
        else:
            intent = gateway.intent_create(
                amount_minor=amount_minor,
                currency=payment.currency,
                metadata={"streamId": str(payment.stream_id), "userId": str(user.id), "paymentId": str(payment.id)},
                description=f"Ticket for stream {payment.stream_id}",
                idempotency_key=payment.idempotency_key,
            )
    except stripe.StripeError as exc:
        logger.warning("payment %s: Stripe refused or failed: %s", payment.id, exc)
        raise PaymentProviderError("The payment provider could not start the payment; try again.") from exc
    _intent_id_save(payment=payment, intent_id=intent.id)
    if intent.status == "canceled" and not _retried:
        # Canceled at Stripe (by us or the dashboard): record it, then start over with a fresh intent.
        _intent_apply(intent)
        return ticket_purchase(stream_id=stream_id, user=user, _retried=True)
    if intent.status == "succeeded":
        # Paid already (the webhook is on its way): apply it rather than sell a second ticket.
        _intent_apply(intent)
        raise Conflict("You already have a ticket for this stream.", code="already_has_ticket")
    return Checkout(
        payment,
        intent.id,
        intent.client_secret,
        amount_minor,
        payment.currency,
        settings.STRIPE_PUBLISHABLE_KEY,
        False,
    )


def _intent_id_save(*, payment: LiveStreamPayment, intent_id: str) -> None:
    if payment.stripe_payment_intent_id == intent_id:
        return
    LiveStreamPayment.objects.filter(pk=payment.pk, stripe_payment_intent_id__isnull=True).update(
        stripe_payment_intent_id=intent_id, updated_at=timezone.now()
    )
    payment.stripe_payment_intent_id = intent_id


# --- Applying Stripe's word -------------------------------------------------------------------


def _payment_locked(*, intent_id: str, metadata: dict | None) -> tuple[LiveStream, LiveStreamPayment] | None:
    """The stream and payment of a PaymentIntent, both locked (stream first). Call inside a transaction."""
    payment = LiveStreamPayment.objects.filter(stripe_payment_intent_id=intent_id).first()
    if payment is None and metadata and metadata.get("paymentId"):
        # The intent was created but its id never saved (a crash between the two): find it by metadata.
        try:
            payment = LiveStreamPayment.objects.filter(
                pk=uuid.UUID(str(metadata["paymentId"])), stripe_payment_intent_id__isnull=True
            ).first()
        except ValueError:
            payment = None
    if payment is None:
        return None
    stream = stream_get(stream_id=payment.stream_id, lock=True)
    payment = LiveStreamPayment.objects.select_for_update().get(pk=payment.pk)
    if payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = intent_id
    return stream, payment


def payment_succeeded(
    *, intent_id: str, amount_received_minor: int, currency: str, metadata: dict | None = None
) -> LiveStreamPayment | None:
    """The money was taken: the ticket becomes paid, unless its seat is gone (then it is refunded)."""
    with transaction.atomic():
        found = _payment_locked(intent_id=intent_id, metadata=metadata)
        if found is None:
            logger.warning("payment_intent %s succeeded but matches no payment", intent_id)
            return None
        stream, payment = found
        if payment.paid_at is not None:
            return payment  # already applied (a duplicate, a retry, or a refund that arrived first)
        expected = to_minor_units(payment.amount, payment.currency)
        if int(amount_received_minor) != expected or currency.lower() != payment.currency:
            payment.failure_reason = (
                f"Stripe received {amount_received_minor} {currency}, expected {expected} {payment.currency}."
            )
            payment.save(update_fields=["failure_reason", "stripe_payment_intent_id", "updated_at"])
            logger.error("payment %s: %s", payment.id, payment.failure_reason)
            return payment
        now = timezone.now()
        held = payment.status == P.PENDING and payment.hold_expires_at and payment.hold_expires_at > now
        other_ticket = (
            LiveStreamPayment.objects.filter(stream=stream, user_id=payment.user_id, status__in=ACTIVE_STATUSES)
            .exclude(pk=payment.pk)
            .exists()
        )
        payment.paid_at = now
        payment.hold_expires_at = None
        unseated = None
        if stream.status == LiveStream.Status.CANCELLED:
            unseated = "stream_cancelled"
        elif other_ticket:
            unseated = "duplicate_ticket"
        elif not held and stream_is_sold_out(stream=stream, now=now, exclude_payment_id=payment.id):
            unseated = "sold_out"
        if payment.status == P.REFUNDED:
            pass  # charge.refunded came first: it stays refunded, now counted as paid and refunded
        elif unseated:
            # Money taken for a seat that no longer exists: no ticket, and the money goes back.
            payment.status = P.FAILED
            payment.failure_reason = f"Paid after the seat was released ({unseated}); refunded."
            transaction.on_commit(lambda: _refund_enqueue(payment_id=payment.id, reason=unseated), robust=True)
        else:
            payment.status = P.PARTIALLY_REFUNDED if payment.refunded_amount > 0 else P.PAID
            payment.failure_reason = ""
        payment.save()
        logger.info("payment %s: succeeded -> %s", payment.id, payment.status)
        return payment


def payment_failed(*, intent_id: str, message: str = "", metadata: dict | None = None) -> LiveStreamPayment | None:
    """A payment attempt failed: the hold is released. A late failure never undoes a paid ticket."""
    with transaction.atomic():
        found = _payment_locked(intent_id=intent_id, metadata=metadata)
        if found is None:
            return None
        _, payment = found
        if payment.status == P.PENDING and payment.paid_at is None:
            payment.status = P.FAILED
            payment.failure_reason = message or "The payment failed."
            payment.hold_expires_at = None
            payment.save()
            logger.info("payment %s: failed (%s)", payment.id, payment.failure_reason)
        return payment


def payment_canceled(*, intent_id: str, metadata: dict | None = None) -> LiveStreamPayment | None:
    with transaction.atomic():
        found = _payment_locked(intent_id=intent_id, metadata=metadata)
        if found is None:
            return None
        _, payment = found
        if payment.status in (P.PENDING, P.FAILED) and payment.paid_at is None:
            payment.status = P.CANCELED
            payment.hold_expires_at = None
            payment.save()
            logger.info("payment %s: canceled", payment.id)
        return payment


def _refund_apply(*, payment: LiveStreamPayment, cumulative: Decimal, refund_ids: list[str]) -> bool:
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
        payment.status = P.REFUNDED
    elif payment.status == P.PAID:
        payment.status = P.PARTIALLY_REFUNDED
    payment.save()
    logger.info(
        "payment %s: refunded %s of %s (%s)", payment.id, payment.refunded_amount, payment.amount, payment.status
    )
    return True


def charge_refunded(
    *, intent_id: str, amount_refunded_minor: int, currency: str, refund_ids: list[str], metadata: dict | None = None
) -> LiveStreamPayment | None:
    """Stripe says how much of the charge is refunded in total: record it (never lowers what we know)."""
    with transaction.atomic():
        found = _payment_locked(intent_id=intent_id, metadata=metadata)
        if found is None:
            return None
        _, payment = found
        _refund_apply(
            payment=payment, cumulative=from_minor_units(amount_refunded_minor, currency), refund_ids=refund_ids
        )
        return payment


def _intent_apply(intent) -> LiveStreamPayment | None:
    """Apply a PaymentIntent's real status, as retrieved from Stripe."""
    intent = intent.to_dict()
    intent_id, status = intent["id"], intent["status"]
    metadata = dict(intent.get("metadata") or {})
    if status == "succeeded":
        return payment_succeeded(
            intent_id=intent_id,
            amount_received_minor=intent.get("amount_received") or 0,
            currency=intent["currency"],
            metadata=metadata,
        )
    if status == "canceled":
        return payment_canceled(intent_id=intent_id, metadata=metadata)
    error = intent.get("last_payment_error")
    if status == "requires_payment_method" and error:
        return payment_failed(intent_id=intent_id, message=error.get("message") or "", metadata=metadata)
    return LiveStreamPayment.objects.filter(stripe_payment_intent_id=intent_id).first()


def payment_confirm(*, user, intent_id: str) -> LiveStreamPayment:
    """The client says it paid: ask Stripe and apply what Stripe says. The client's word is never trusted."""
    payment = LiveStreamPayment.objects.filter(stripe_payment_intent_id=intent_id).first()
    if payment is None or (payment.user_id != user.id and not user.is_staff):
        raise NotFound("No payment of yours with that paymentIntentId.", fields={"payment_intent_id": ["Unknown."]})
    if intent_id.startswith(DEV_INTENT_PREFIX):
        if not gateway.dev_checkout_enabled():
            raise Forbidden("The development checkout is off on this server.", code="dev_checkout_disabled")
        # The local development checkout: no card, the purchase simply completes.
        return payment_succeeded(
            intent_id=intent_id,
            amount_received_minor=to_minor_units(payment.amount, payment.currency),
            currency=payment.currency,
        )
    try:
        intent = gateway.intent_retrieve(intent_id=intent_id)
    except stripe.StripeError as exc:
        logger.warning("payment %s: could not retrieve intent: %s", payment.id, exc)
        raise PaymentProviderError("The payment provider could not be reached; try again.") from exc
    return _intent_apply(intent) or payment


def payment_hold_release(*, payment_id) -> LiveStreamPayment | None:
    """A lapsed hold: cancel its PaymentIntent at Stripe so it can no longer be paid, and release it.

    If the viewer paid in the meantime, Stripe refuses to cancel; then the real status is applied instead.
    """
    payment = LiveStreamPayment.objects.filter(pk=payment_id).first()
    if payment is None or payment.status != P.PENDING:
        return payment
    if payment.hold_expires_at is None or payment.hold_expires_at > timezone.now():
        return payment
    intent_id = payment.stripe_payment_intent_id
    if not intent_id or intent_id.startswith(DEV_INTENT_PREFIX):
        with transaction.atomic():
            payment = LiveStreamPayment.objects.select_for_update().get(pk=payment.pk)
            if payment.status == P.PENDING and payment.hold_expires_at and payment.hold_expires_at <= timezone.now():
                payment.status = P.CANCELED
                payment.save(update_fields=["status", "updated_at"])
        return payment
    try:
        intent = gateway.intent_cancel(intent_id=intent_id)
    except stripe.InvalidRequestError as exc:
        logger.info("payment %s: Stripe would not cancel (%s); applying its status", payment.id, exc)
        intent = gateway.intent_retrieve(intent_id=intent_id)
    return _intent_apply(intent)


# --- Webhooks ---------------------------------------------------------------------------------


def _obj_get(obj, key, default=None):
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def webhook_event_process(*, event) -> str:
    """Apply one verified Stripe event, once. Returns what happened (for logs and the response)."""
    event_id, event_type = event["id"], event["type"]
    obj = event["data"]["object"]
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeWebhookEvent.objects.create(event_id=event_id, type=event_type)
        except IntegrityError:
            logger.debug("stripe event %s (%s) already processed", event_id, event_type)
            return "duplicate"
        metadata = dict(_obj_get(obj, "metadata", {}) or {})
        payment = None
        if event_type == "payment_intent.succeeded":
            payment = payment_succeeded(
                intent_id=obj["id"],
                amount_received_minor=_obj_get(obj, "amount_received", 0),
                currency=obj["currency"],
                metadata=metadata,
            )
        elif event_type == "payment_intent.payment_failed":
            error = _obj_get(obj, "last_payment_error", {})
            payment = payment_failed(intent_id=obj["id"], message=_obj_get(error, "message", ""), metadata=metadata)
        elif event_type == "payment_intent.canceled":
            payment = payment_canceled(intent_id=obj["id"], metadata=metadata)
        elif event_type == "charge.refunded":
            intent_id = _obj_get(obj, "payment_intent")
            refunds = _obj_get(_obj_get(obj, "refunds", {}), "data", [])
            if intent_id:
                payment = charge_refunded(
                    intent_id=intent_id,
                    amount_refunded_minor=_obj_get(obj, "amount_refunded", 0),
                    currency=obj["currency"],
                    refund_ids=[_obj_get(r, "id") for r in refunds],
                    metadata=metadata,
                )
        else:
            record.outcome = "ignored"
            record.save(update_fields=["outcome"])
            logger.debug("stripe event %s: type %s acknowledged, not handled", event_id, event_type)
            return "ignored"
        record.payment = payment
        record.outcome = payment.status if payment else "unknown_payment"
        record.save(update_fields=["payment", "outcome"])
        logger.info("stripe event %s (%s): %s", event_id, event_type, record.outcome)
        return "processed"


# --- Refunds ----------------------------------------------------------------------------------


def _refund_enqueue(*, payment_id, reason: str) -> None:
    from .tasks import payment_refund_task

    payment_refund_task.delay(str(payment_id), reason)


def payment_refund(
    *, payment_id, amount: Decimal | None = None, reason: str = "requested_by_customer", by_user=None
) -> LiveStreamPayment:
    """Refund `amount` (default: everything not refunded yet) of a payment; safe to call twice.

    The Stripe idempotency key names the payment and how much was refunded before, so a retry of the
    same refund (a task run twice, a crash after Stripe answered) returns the same Stripe refund.
    """
    with transaction.atomic():
        payment = LiveStreamPayment.objects.select_for_update().filter(pk=payment_id).first()
        if payment is None:
            raise NotFound("No payment with that id.")
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
        payment = LiveStreamPayment.objects.select_for_update().get(pk=payment.pk)
        cumulative = from_minor_units(before_minor + amount_minor, payment.currency)
        _refund_apply(payment=payment, cumulative=cumulative, refund_ids=[refund_id])
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
