"""Signals of payments: what a payment service announces after commit, for a Celery task to act on."""

from django.dispatch import Signal

# Money was taken for a seat that no longer exists (paid after the hold lapsed, the show was cancelled,
# or a second ticket); sent after commit with `payment_id` and `reason`. payments.receivers refunds it.
payment_unseated = Signal()
