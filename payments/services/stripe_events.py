"""Applying Stripe's word about a payment, a webhook event or a retrieved PaymentIntent, through one table.

The client's word is never trusted: a ticket changes only on what Stripe says, signed (the webhook)
or asked for (confirm, a lapsed hold, a purchase that finds its intent already settled).
"""

import logging
import uuid
from collections.abc import Callable, Mapping

import stripe
from django.db import IntegrityError, transaction
from django.utils import timezone

from livestream_site import metrics
from livestream_site.errors import Forbidden, NotFound
from streams.models import LiveStream
from streams.selectors import stream_get

from .. import gateway
from ..gateway import DEV_INTENT_PREFIX, PaymentProviderError
from ..models import LiveStreamPayment, StripeWebhookEvent
from ..money import from_minor_units, to_minor_units
from ..selectors import payment_for_user, payment_get, stream_is_sold_out
from ..signals import payment_paid, payment_unseated
from .refunds import refund_record

logger = logging.getLogger(__name__)

P = LiveStreamPayment.Status


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
    payment = payment_get(payment_id=payment.pk, lock=True)
    if payment.stripe_payment_intent_id is None:
        payment.stripe_payment_intent_id = intent_id
    return stream, payment


# --- What each word of Stripe does to a payment ----------------------------------------------------


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
            LiveStreamPayment.objects.filter(
                stream=stream, user_id=payment.user_id, status__in=LiveStreamPayment.ACTIVE_STATUSES
            )
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
            # Money taken for a seat that no longer exists: no ticket, and the money goes back (a refund
            # task, enqueued by payments.receivers once this is committed).
            payment.status = P.FAILED
            payment.failure_reason = f"Paid after the seat was released ({unseated}); refunded."
            payment_id = payment.id
            transaction.on_commit(
                lambda: payment_unseated.send_robust(sender=LiveStreamPayment, payment_id=payment_id, reason=unseated),
                robust=True,
            )
        else:
            payment.status = P.PARTIALLY_REFUNDED if payment.refunded_amount > 0 else P.PAID
            payment.failure_reason = ""
            paid_id = payment.id
            transaction.on_commit(
                lambda: payment_paid.send_robust(sender=LiveStreamPayment, payment_id=paid_id), robust=True
            )
        payment.save()
        transaction.on_commit(metrics.PAYMENTS.labels("succeeded" if payment.status != P.FAILED else "failed").inc)
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
            transaction.on_commit(metrics.PAYMENTS.labels("failed").inc)
            logger.info("payment %s: failed (%s)", payment.id, payment.failure_reason)
        return payment


def payment_canceled(*, intent_id: str, metadata: dict | None = None) -> LiveStreamPayment | None:
    """The PaymentIntent was canceled (a lapsed hold, or the dashboard): an unpaid ticket is released."""
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


def charge_refunded(
    *, intent_id: str, amount_refunded_minor: int, currency: str, refund_ids: list[str], metadata: dict | None = None
) -> LiveStreamPayment | None:
    """Stripe says how much of the charge is refunded in total: record it (never lowers what we know)."""
    with transaction.atomic():
        found = _payment_locked(intent_id=intent_id, metadata=metadata)
        if found is None:
            return None
        _, payment = found
        refund_record(
            payment=payment, cumulative=from_minor_units(amount_refunded_minor, currency), refund_ids=refund_ids
        )
        return payment


# --- The one table: a Stripe event type -> the service that applies it --------------------------


def _field(obj, key, default=None):
    """obj[key], or `default` when it is missing, None, or obj is no mapping (Stripe payloads vary)."""
    try:
        value = obj[key]
    except (KeyError, TypeError):
        return default
    return default if value is None else value


def _intent_id(value) -> str:
    """A PaymentIntent id as Stripe writes it. Anything else is refused: a null id would look up the
    payments whose intent id was never saved (`IS NULL`) and apply the event to one of them (audit F12)."""
    if not isinstance(value, str) or not value:
        raise ValueError("The event's PaymentIntent id is missing or not a string.")
    return value


def _metadata(obj) -> dict:
    return dict(_field(obj, "metadata", {}) or {})


def _intent_succeeded(intent: Mapping) -> LiveStreamPayment | None:
    return payment_succeeded(
        intent_id=_intent_id(intent["id"]),
        amount_received_minor=_field(intent, "amount_received", 0),
        currency=intent["currency"],
        metadata=_metadata(intent),
    )


def _intent_failed(intent: Mapping) -> LiveStreamPayment | None:
    error = _field(intent, "last_payment_error", {})
    return payment_failed(
        intent_id=_intent_id(intent["id"]), message=_field(error, "message", ""), metadata=_metadata(intent)
    )


def _intent_canceled(intent: Mapping) -> LiveStreamPayment | None:
    return payment_canceled(intent_id=_intent_id(intent["id"]), metadata=_metadata(intent))


def _charge_refunded(charge: Mapping) -> LiveStreamPayment | None:
    intent_id = _intent_id(_field(charge, "payment_intent"))
    refunds = _field(_field(charge, "refunds", {}), "data", [])
    return charge_refunded(
        intent_id=intent_id,
        amount_refunded_minor=_field(charge, "amount_refunded", 0),
        currency=charge["currency"],
        refund_ids=[_field(r, "id") for r in refunds],
        metadata=_metadata(charge),
    )


# What Stripe says -> the service that applies it, for the webhook (by event type) and for a PaymentIntent
# retrieved from Stripe (by the event its status amounts to, see _intent_event). Other types are acknowledged.
STRIPE_EVENTS: dict[str, Callable[[Mapping], LiveStreamPayment | None]] = {
    "payment_intent.succeeded": _intent_succeeded,
    "payment_intent.payment_failed": _intent_failed,
    "payment_intent.canceled": _intent_canceled,
    "charge.refunded": _charge_refunded,
}


def _intent_event(intent: Mapping) -> str | None:
    """The event a retrieved PaymentIntent's status amounts to; None while nothing is settled yet."""
    status = intent["status"]
    if status in ("succeeded", "canceled"):
        return f"payment_intent.{status}"
    if status == "requires_payment_method" and _field(intent, "last_payment_error"):
        # Declined: the intent waits for another card. A fresh intent waits too, but without an error.
        return "payment_intent.payment_failed"
    return None


def intent_apply(intent) -> LiveStreamPayment | None:
    """Apply a PaymentIntent's real status, as retrieved from Stripe, through the table above."""
    intent = intent.to_dict()
    event_type = _intent_event(intent)
    if event_type is None:
        return LiveStreamPayment.objects.filter(stripe_payment_intent_id=intent["id"]).first()
    return STRIPE_EVENTS[event_type](intent)


# --- The two ways Stripe's word arrives -----------------------------------------------------------


def payment_confirm(*, user, intent_id: str) -> LiveStreamPayment:
    """The client says it paid: ask Stripe and apply what Stripe says. The client's word is never trusted."""
    payment = payment_for_user(user=user, intent_id=intent_id)
    if payment is None:
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
    return intent_apply(intent) or payment


def webhook_event_process(*, event) -> str:
    """Apply one verified Stripe event, once. Returns what happened (for logs and the response)."""
    event_id, event_type = event["id"], event["type"]
    obj = event["data"]["object"]
    apply = STRIPE_EVENTS.get(event_type)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = StripeWebhookEvent.objects.create(event_id=event_id, type=event_type)
        except IntegrityError:
            logger.debug("stripe event %s (%s) already processed", event_id, event_type)
            return "duplicate"
        if apply is None:
            record.outcome = "ignored"
            record.save(update_fields=["outcome"])
            logger.debug("stripe event %s: type %s acknowledged, not handled", event_id, event_type)
            return "ignored"
        # A payload missing a field raises here and rolls the record back, so Stripe's retry applies it.
        payment = apply(obj)
        record.payment = payment
        record.outcome = payment.status if payment else "unknown_payment"
        record.save(update_fields=["payment", "outcome"])
        logger.info("stripe event %s (%s): %s", event_id, event_type, record.outcome)
        return "processed"
