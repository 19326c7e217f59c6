"""The only place that talks to Stripe: PaymentIntents and Refunds through the official library."""

import logging
from functools import lru_cache

import stripe
from django.conf import settings
from rest_framework import status

from livestream_site.errors import ApplicationError

logger = logging.getLogger(__name__)

DEV_INTENT_PREFIX = "dev_pi_"


class PaymentProviderError(ApplicationError):
    status_code = status.HTTP_502_BAD_GATEWAY
    code = "payment_provider_error"


def dev_checkout_enabled() -> bool:
    """The local checkout without Stripe: only with DEBUG on and no Stripe key (checked again at run time)."""
    return bool(settings.DEBUG and settings.PAYMENTS_DEV_CHECKOUT and not settings.STRIPE_SECRET_KEY)


@lru_cache(maxsize=4)
def _client(api_key: str, api_base: str, retries: int) -> stripe.StripeClient:
    base_addresses = {"api": api_base.rstrip("/")} if api_base else None
    return stripe.StripeClient(api_key, base_addresses=base_addresses, max_network_retries=retries)


def stripe_client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise ApplicationError(
            "Payments are not configured on this server.",
            code="payments_unavailable",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_MAX_NETWORK_RETRIES)


def intent_create(*, amount_minor: int, currency: str, metadata: dict, description: str, idempotency_key: str):
    intent = stripe_client().v1.payment_intents.create(
        params={
            "amount": amount_minor,
            "currency": currency,
            "metadata": metadata,
            "description": description,
            "automatic_payment_methods": {"enabled": True},
        },
        options={"idempotency_key": idempotency_key},
    )
    logger.debug("payment intent %s for %s %s (key %s)", intent.id, amount_minor, currency, idempotency_key)
    return intent


def checkout_session_create(
    *,
    amount_minor: int,
    currency: str,
    product_name: str,
    metadata: dict,
    success_url: str,
    cancel_url: str,
    customer_email: str,
    idempotency_key: str,
):
    """A Stripe Checkout Session (Stripe's hosted payment page) for one ticket. The PaymentIntent it makes
    carries `metadata` (paymentId), so its `payment_intent.succeeded` webhook finds the payment."""
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount_minor,
                    "product_data": {"name": product_name},
                },
            }
        ],
        "payment_intent_data": {"metadata": metadata, "description": product_name},
        "metadata": metadata,
        "client_reference_id": metadata["paymentId"],
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if customer_email:
        params["customer_email"] = customer_email
    session = stripe_client().v1.checkout.sessions.create(params=params, options={"idempotency_key": idempotency_key})
    logger.debug("checkout session %s for %s %s (key %s)", session.id, amount_minor, currency, idempotency_key)
    return session


def intent_retrieve(*, intent_id: str):
    return stripe_client().v1.payment_intents.retrieve(intent_id)


def intent_cancel(*, intent_id: str):
    return stripe_client().v1.payment_intents.cancel(intent_id)


def refund_create(*, intent_id: str, amount_minor: int, idempotency_key: str, metadata: dict):
    refund = stripe_client().v1.refunds.create(
        params={"payment_intent": intent_id, "amount": amount_minor, "metadata": metadata},
        options={"idempotency_key": idempotency_key},
    )
    logger.debug("refund %s of %s on %s (key %s)", refund.id, amount_minor, intent_id, idempotency_key)
    return refund
