"""Buying a ticket: the seat hold under the stream's lock, its PaymentIntent, and releasing a lapsed hold."""

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import stripe
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from livestream_site.errors import ApplicationError, Conflict, Forbidden
from streams.models import LiveStream
from streams.selectors import stream_get

from .. import gateway
from ..gateway import DEV_INTENT_PREFIX, PaymentProviderError
from ..models import LiveStreamPayment
from ..money import to_minor_units
from ..selectors import payment_get, stream_is_sold_out
from .stripe_events import intent_apply, payment_confirm

logger = logging.getLogger(__name__)

P = LiveStreamPayment.Status


@dataclass(frozen=True)
class Checkout:
    payment: LiveStreamPayment
    intent_id: str
    client_secret: str
    amount_minor: int
    currency: str
    publishable_key: str
    dev_checkout: bool


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
            .filter(stream=stream, user=user, status__in=LiveStreamPayment.ACTIVE_STATUSES)
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
        intent_apply(intent)
        return ticket_purchase(stream_id=stream_id, user=user, _retried=True)
    if intent.status == "succeeded":
        # Paid already (the webhook is on its way): apply it rather than sell a second ticket.
        intent_apply(intent)
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


def ticket_checkout(*, stream_id, user, success_url: str, cancel_url: str) -> tuple[LiveStreamPayment, str | None]:
    """Buy a ticket from the pages: (payment, the URL of Stripe's hosted checkout page to send the buyer to).

    With the development checkout (no Stripe key, DEBUG on) the purchase completes at once and the URL
    is None. The session keeps Stripe's default lifetime (24 h; its parameters are the same on every press
    of the button, so the idempotency key gives the same session back); a payment made after the seat
    hold lapsed is handled like any late payment (a seat if one is free, else refunded). The payment is
    confirmed by Stripe's webhook (`payment_intent.succeeded`, which finds it
    by the paymentId in the intent's metadata), never by the buyer's browser coming back.
    """
    if gateway.dev_checkout_enabled():
        checkout = ticket_purchase(stream_id=stream_id, user=user)
        return payment_confirm(user=user, intent_id=checkout.intent_id), None
    payment = ticket_hold(stream_id=stream_id, user=user)
    stream = payment.stream
    metadata = {"streamId": str(payment.stream_id), "userId": str(user.id), "paymentId": str(payment.id)}
    try:
        session = gateway.checkout_session_create(
            amount_minor=to_minor_units(payment.amount, payment.currency),
            currency=payment.currency,
            product_name=f"Ticket: {stream.title}"[:250],
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
            customer_email=user.email or "",
            idempotency_key=f"{payment.idempotency_key}-checkout",
        )
    except stripe.StripeError as exc:
        logger.warning("payment %s: Stripe refused or failed the checkout session: %s", payment.id, exc)
        raise PaymentProviderError("The payment provider could not start the checkout; try again.") from exc
    return payment, session.url


def _intent_id_save(*, payment: LiveStreamPayment, intent_id: str) -> None:
    if payment.stripe_payment_intent_id == intent_id:
        return
    LiveStreamPayment.objects.filter(pk=payment.pk, stripe_payment_intent_id__isnull=True).update(
        stripe_payment_intent_id=intent_id, updated_at=timezone.now()
    )
    payment.stripe_payment_intent_id = intent_id


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
            payment = payment_get(payment_id=payment.pk, lock=True)
            if payment.status == P.PENDING and payment.hold_expires_at and payment.hold_expires_at <= timezone.now():
                payment.status = P.CANCELED
                payment.save(update_fields=["status", "updated_at"])
        return payment
    try:
        intent = gateway.intent_cancel(intent_id=intent_id)
    except stripe.InvalidRequestError as exc:
        logger.info("payment %s: Stripe would not cancel (%s); applying its status", payment.id, exc)
        intent = gateway.intent_retrieve(intent_id=intent_id)
    return intent_apply(intent)
