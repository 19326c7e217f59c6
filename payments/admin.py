"""Admin of tickets: filters, search, and refunds through the same service as everything else."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.shortcuts import render

from livestream_site.admin import StaffModelAdmin
from livestream_site.errors import ApplicationError

from . import services
from .models import LiveStreamPayment, StripeWebhookEvent


class RefundForm(forms.Form):
    # Only the shape (a number, or nothing) is checked here: what amount may be refunded, in the
    # payment's currency, is the refund service's rule, and its refusal is shown as a message.
    amount = forms.DecimalField(
        required=False,
        help_text="Leave empty to refund everything not refunded yet (a full refund).",
    )


@admin.register(LiveStreamPayment)
class LiveStreamPaymentAdmin(StaffModelAdmin):
    list_display = ("id", "stream", "user", "amount", "refunded_amount", "currency", "status", "paid_at", "created_at")
    list_filter = ("status", "currency", ("stream", admin.RelatedOnlyFieldListFilter), "created_at", "paid_at")
    search_fields = ("user__username", "user__email", "stripe_payment_intent_id", "stream__title")
    date_hierarchy = "created_at"
    list_select_related = ("stream", "user")
    readonly_fields = [f.name for f in LiveStreamPayment._meta.fields]
    actions = ["refund"]

    def has_add_permission(self, request):
        return False  # tickets are bought, never typed in

    def has_delete_permission(self, request, obj=None):
        return False  # money records are kept

    @admin.action(description="Refund selected payments (full, or a partial amount for one)")
    def refund(self, request, queryset):
        form = RefundForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            amount = form.cleaned_data["amount"]
            if amount is not None and queryset.count() != 1:
                self.message_user(request, "A partial amount refunds one payment at a time.", messages.ERROR)
                return None
            for payment in queryset:
                try:
                    services.payment_refund(
                        payment_id=payment.id, amount=amount, reason="staff_refund", by_user=request.user
                    )
                except ApplicationError as exc:
                    self.message_user(request, f"{payment.id}: {exc}", messages.ERROR)
                except Exception as exc:  # a Stripe error: report it, leave the payment as it was
                    self.message_user(request, f"{payment.id}: the refund failed: {exc}", messages.ERROR)
                else:
                    self.message_user(request, f"{payment.id}: refunded.", messages.SUCCESS)
            return None
        return render(
            request,
            "admin/payments/refund.html",
            {
                **self.admin_site.each_context(request),
                "title": "Refund payments",
                "payments": queryset,
                "form": form,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "opts": self.model._meta,
            },
        )


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(StaffModelAdmin):
    list_display = ("event_id", "type", "outcome", "payment", "received_at")
    list_filter = ("type", "outcome")
    search_fields = ("event_id", "payment__stripe_payment_intent_id")
    readonly_fields = [f.name for f in StripeWebhookEvent._meta.fields]

    def has_add_permission(self, request):
        return False
