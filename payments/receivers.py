"""Receivers of payments: signals sent after a commit become retried, idempotent refund tasks."""

from livestream_site.errors import Conflict

from .models import LiveStreamPayment
from .tasks import payment_receipt_email_task, payment_refund_task, stream_tickets_refund_task


def stream_cancelled_tickets_refund(sender, *, stream_id, **kwargs) -> None:
    """A cancelled show (streams.signals.stream_cancelled): refund every ticket of it."""
    stream_tickets_refund_task.delay(str(stream_id))


def payment_unseated_refund(sender, *, payment_id, reason: str, **kwargs) -> None:
    """Money taken for a seat that is gone (payments.signals.payment_unseated): give it back."""
    payment_refund_task.delay(str(payment_id), reason)


def stream_delete_refuse_with_tickets(sender, *, stream, **kwargs) -> None:
    """A stream with tickets (streams.signals.stream_delete_requested) is cancelled, never deleted:
    its buyers' payments and refunds must stay on record."""
    if LiveStreamPayment.objects.filter(stream=stream).exists():
        raise Conflict("Tickets were sold for this stream: cancel it instead.", code="stream_has_tickets")


def payment_paid_receipt(sender, *, payment_id, **kwargs) -> None:
    """A ticket was paid (payments.signals.payment_paid): e-mail the buyer a receipt."""
    payment_receipt_email_task.delay(str(payment_id))
