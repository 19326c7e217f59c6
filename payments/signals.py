"""Signals of payments: what a payment service announces after commit, for a Celery task to act on."""

from django.dispatch import Signal

# Money was taken for a seat that no longer exists (paid after the hold lapsed, the show was cancelled,
# or a second ticket); sent after commit with `payment_id` and `reason`. payments.receivers refunds it.
payment_unseated = Signal()

# A ticket was paid (the payment became paid or partially refunded); sent after commit with `payment_id`.
# payments.receivers e-mails the buyer a receipt.
payment_paid = Signal()
