"""Ticket payments for pay-per-view streams."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class LiveStreamPayment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"
        REFUNDED = "refunded", "Refunded"
        PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey("streams.LiveStream", on_delete=models.PROTECT, related_name="payments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stream_payments")
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    stripe_payment_intent_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    refunded_amount = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    stripe_refund_ids = models.JSONField(default=list, blank=True)
    hold_expires_at = models.DateTimeField(
        null=True, blank=True, help_text="A pending payment holds a seat until then."
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["stream", "status"]),
            models.Index(fields=["user", "status"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_not_negative"),
            models.CheckConstraint(condition=Q(refunded_amount__gte=0), name="payment_refund_not_negative"),
            # At most one live ticket (pending, paid or partly refunded) per viewer per stream.
            models.UniqueConstraint(
                fields=["stream", "user"],
                condition=Q(status__in=["pending", "paid", "partially_refunded"]),
                name="payment_one_active_ticket_per_viewer",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=models.F("amount")), name="payment_refund_not_above_amount"
            ),
        ]

    # Statuses of a ticket that lets its viewer in (a partial refund is a goodwill gesture, not a revocation).
    ACCESS_STATUSES = (Status.PAID, Status.PARTIALLY_REFUNDED)
    # Statuses of a live ticket, of which a viewer has at most one per stream (the unique constraint above).
    ACTIVE_STATUSES = (Status.PENDING, Status.PAID, Status.PARTIALLY_REFUNDED)

    def __str__(self) -> str:
        return f"{self.user_id} → {self.stream_id}: {self.amount} {self.currency} ({self.status})"


class StripeWebhookEvent(models.Model):
    """A Stripe event already processed: each event id is applied once, whatever Stripe retries."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payment = models.ForeignKey(
        LiveStreamPayment, on_delete=models.SET_NULL, null=True, blank=True, related_name="webhook_events"
    )
    outcome = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type})"
