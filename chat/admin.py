from django.contrib import admin

from .models import LiveStreamChat


@admin.register(LiveStreamChat)
class LiveStreamChatAdmin(admin.ModelAdmin):
    list_display = ("stream", "user", "message", "is_deleted", "created_at")
    list_filter = ("is_deleted",)
    search_fields = ("message", "user__username", "stream__title")
    list_select_related = ("stream", "user")
    readonly_fields = ("stream", "user", "message", "client_message_id", "deleted_by", "deleted_at", "created_at")
