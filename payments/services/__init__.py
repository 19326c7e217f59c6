"""Writes of tickets: buying (PaymentIntents), applying Stripe's word (confirm and webhooks), refunds.

Every change of a payment goes through these functions, whoever asks: the API, the webhook, the
admin, the Celery tasks. Lock order is always stream row, then payment row. One module per concern:
`purchase` (seat holds, their PaymentIntents, the pages' Stripe Checkout), `stripe_events` (what Stripe says, through one
table), `refunds`. Callers import from here: `from payments import services; services.ticket_purchase(...)`.
"""

from .purchase import Checkout, payment_hold_release, ticket_checkout, ticket_hold, ticket_purchase
from .receipts import payment_receipt_send
from .refunds import payment_refund
from .stripe_events import (
    charge_refunded,
    payment_canceled,
    payment_confirm,
    payment_failed,
    payment_succeeded,
    webhook_event_process,
)

__all__ = [
    "Checkout",
    "charge_refunded",
    "payment_canceled",
    "payment_confirm",
    "payment_failed",
    "payment_hold_release",
    "payment_receipt_send",
    "payment_refund",
    "payment_succeeded",
    "ticket_checkout",
    "ticket_hold",
    "ticket_purchase",
    "webhook_event_process",
]
