"""Chat moderation in the admin: messages (delete, hide, show), bans, moderators, blocked terms."""

from django.contrib import admin, messages
from django.utils import timezone

from livestream_site.admin import StaffModelAdmin

from . import services
from .models import BlockedTerm, ChatBan, ChatModerator, LiveStreamChat, LiveStreamChatSettings


@admin.register(LiveStreamChat)
class LiveStreamChatAdmin(StaffModelAdmin):
    # The admin escapes every value it shows: messages are stored as the text that was typed.
    list_display = ("stream", "user", "message", "is_deleted", "is_hidden", "created_at")
    list_filter = ("is_deleted", "is_hidden")
    search_fields = ("message", "user__username", "stream__title")
    list_select_related = ("stream", "user")
    readonly_fields = (
        "stream",
        "user",
        "message",
        "client_message_id",
        "is_deleted",
        "is_hidden",
        "deleted_by",
        "deleted_at",
        "created_at",
    )
    actions = ["delete_for_everyone", "hide", "show"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Delete selected messages for everyone (moderation)")
    def delete_for_everyone(self, request, queryset):
        for message in queryset:
            services.chat_message_delete(stream_id=message.stream_id, message_id=message.id, by_user=request.user)
        self.message_user(request, f"{queryset.count()} message(s) deleted.", messages.SUCCESS)

    @admin.action(description="Hide selected messages")
    def hide(self, request, queryset):
        for message in queryset:
            services.chat_message_hide(message=message, hidden=True)

    @admin.action(description="Show selected hidden messages again")
    def show(self, request, queryset):
        for message in queryset:
            services.chat_message_hide(message=message, hidden=False)


@admin.register(ChatBan)
class ChatBanAdmin(StaffModelAdmin):
    list_display = ("stream", "user", "reason", "expires_at", "created_by", "created_at")
    list_select_related = ("stream", "user", "created_by")
    search_fields = ("user__username", "stream__title")
    raw_id_fields = ("stream", "user")
    fields = ("stream", "user", "reason", "expires_at")
    actions = ["lift"]

    def has_change_permission(self, request, obj=None):
        return obj is None

    def save_model(self, request, obj, form, change):
        duration = None
        if obj.expires_at:
            duration = max(1, int((obj.expires_at - timezone.now()).total_seconds()))
        ban = services.chat_ban_create(
            stream_id=obj.stream_id,
            user_id=obj.user_id,
            by_user=request.user,
            duration_seconds=duration,
            reason=obj.reason,
        )
        obj.pk = ban.pk

    @admin.action(description="Lift selected bans")
    def lift(self, request, queryset):
        for ban in queryset:
            services.chat_ban_remove(stream_id=ban.stream_id, user_id=ban.user_id, by_user=request.user)


@admin.register(ChatModerator)
class ChatModeratorAdmin(StaffModelAdmin):
    list_display = ("stream", "user", "added_by", "created_at")
    list_select_related = ("stream", "user", "added_by")
    raw_id_fields = ("stream", "user")
    fields = ("stream", "user")

    def save_model(self, request, obj, form, change):
        moderator = services.chat_moderator_add(stream_id=obj.stream_id, user_id=obj.user_id, by_user=request.user)
        obj.pk = moderator.pk


@admin.register(LiveStreamChatSettings)
class LiveStreamChatSettingsAdmin(StaffModelAdmin):
    list_display = ("stream", "slow_mode_seconds", "updated_at")
    raw_id_fields = ("stream",)


@admin.register(BlockedTerm)
class BlockedTermAdmin(StaffModelAdmin):
    list_display = ("term", "created_at")
    search_fields = ("term",)
