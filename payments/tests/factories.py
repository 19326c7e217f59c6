"""Tickets for tests of any app, made through the payment services (no Stripe call involved)."""

import uuid

from payments import services
from payments.money import to_minor_units


def paid_ticket_factory(*, stream, user):
    """A paid ticket: a seat held by ticket_hold, then Stripe's `succeeded` applied as the webhook would."""
    payment = services.ticket_hold(stream_id=stream.id, user=user)
    intent_id = f"pi_factory_{uuid.uuid4().hex}"
    payment.__class__.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=intent_id)
    return services.payment_succeeded(
        intent_id=intent_id,
        amount_received_minor=to_minor_units(payment.amount, payment.currency),
        currency=payment.currency,
    )
