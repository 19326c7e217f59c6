"""Receipts: the e-mail a buyer gets once a ticket is paid."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string

from ..models import LiveStreamPayment

logger = logging.getLogger(__name__)


def payment_receipt_send(*, payment_id) -> bool:
    """E-mail the receipt of a paid ticket to its buyer; False when there is nothing to send (no e-mail
    address, or the payment is not paid: refunded or failed since)."""
    payment = LiveStreamPayment.objects.select_related("stream", "user").filter(pk=payment_id).first()
    if payment is None or payment.paid_at is None or not payment.user.email:
        return False
    if payment.status not in LiveStreamPayment.ACCESS_STATUSES:
        return False
    context = {
        "payment": payment,
        "stream": payment.stream,
        "receipt_url": f"{settings.SITE_URL}/tickets/{payment.id}/",
        "stream_url": f"{settings.SITE_URL}/streams/{payment.stream_id}/",
    }
    send_mail(
        subject=f"Your ticket for {payment.stream.title}",
        message=render_to_string("payments/receipt_email.txt", context),
        from_email=None,
        recipient_list=[payment.user.email],
    )
    logger.info("payment %s: receipt sent", payment.id)
    return True
