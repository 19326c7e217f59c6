from django.contrib import admin

from .models import LiveStreamPayment


@admin.register(LiveStreamPayment)
class LiveStreamPaymentAdmin(admin.ModelAdmin):
    list_display = ("id", "stream", "user", "amount", "currency", "status", "created_at")
    list_filter = ("status", "created_at")
    search_fields = ("user__username", "user__email", "stripe_payment_intent_id", "stream__title")
    date_hierarchy = "created_at"
    list_select_related = ("stream", "user")
    readonly_fields = [f.name for f in LiveStreamPayment._meta.fields]
