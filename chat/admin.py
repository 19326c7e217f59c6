"""Chat moderation in the admin: messages (delete, hide, show), bans, moderators, settings, blocked terms."""

# Every write goes through the chat services (and chat.inputs for the values), so the room hears of it
# as it would from the WebSocket or REST, and a refusal comes back to staff as a form error or a message.

from django.contrib import admin
from django.utils import timezone

from livestream_site.admin import ServiceModelAdmin, StaffModelAdmin

from . import services
from .inputs import BanInput, SettingsInput, input_valid
from .models import BlockedTerm, ChatBan, ChatModerator, LiveStreamChat, LiveStreamChatSettings


@admin.register(LiveStreamChat)
class LiveStreamChatAdmin(ServiceModelAdmin):
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

    def has_change_permission(self, request, obj=None):
        # Messages are never edited: moderation is the actions below, each through a service.
        return obj is None

    @admin.action(description="Delete selected messages for everyone (moderation)")
    def delete_for_everyone(self, request, queryset):
        self.each_through_service(
            request,
            queryset,
            lambda message: services.chat_message_delete(
                stream_id=message.stream_id, message_id=message.id, by_user=request.user
            ),
            done="{count} message(s) deleted.",
        )

    @admin.action(description="Hide selected messages")
    def hide(self, request, queryset):
        self.each_through_service(
            request, queryset, lambda message: services.chat_message_hide(message=message, hidden=True)
        )

    @admin.action(description="Show selected hidden messages again")
    def show(self, request, queryset):
        self.each_through_service(
            request, queryset, lambda message: services.chat_message_hide(message=message, hidden=False)
        )


@admin.register(ChatBan)
class ChatBanAdmin(ServiceModelAdmin):
    list_display = ("stream", "user", "reason", "expires_at", "created_by", "created_at")
    list_select_related = ("stream", "user", "created_by")
    search_fields = ("user__username", "stream__title")
    raw_id_fields = ("stream", "user")
    fields = ("stream", "user", "reason", "expires_at")
    actions = ["lift"]
    # The form asks for an end time where the service takes a duration.
    error_fields = {"user_id": "user", "duration_seconds": "expires_at"}

    def has_change_permission(self, request, obj=None):
        return obj is None

    def service_save(self, request, form, change):
        ban = form.instance
        duration = None
        if ban.expires_at:
            duration = max(1, int((ban.expires_at - timezone.now()).total_seconds()))
        values = input_valid(BanInput, {"user_id": ban.user_id, "duration_seconds": duration, "reason": ban.reason})
        return services.chat_ban_create(stream_id=ban.stream_id, by_user=request.user, **values)

    def _ban_remove(self, request, ban) -> None:
        services.chat_ban_remove(stream_id=ban.stream_id, user_id=ban.user_id, by_user=request.user)

    @admin.action(description="Lift selected bans")
    def lift(self, request, queryset):
        self.each_through_service(
            request, queryset, lambda ban: self._ban_remove(request, ban), done="Lifted {count} ban(s)."
        )

    def delete_model(self, request, obj):
        self._ban_remove(request, obj)

    def delete_queryset(self, request, queryset):
        self.each_through_service(request, queryset, lambda ban: self._ban_remove(request, ban))


@admin.register(ChatModerator)
class ChatModeratorAdmin(ServiceModelAdmin):
    list_display = ("stream", "user", "added_by", "created_at")
    list_select_related = ("stream", "user", "added_by")
    raw_id_fields = ("stream", "user")
    fields = ("stream", "user")
    error_fields = {"user_id": "user"}

    def has_change_permission(self, request, obj=None):
        return obj is None  # a moderator is added or removed, never edited

    def service_save(self, request, form, change):
        moderator = form.instance
        return services.chat_moderator_add(
            stream_id=moderator.stream_id, user_id=moderator.user_id, by_user=request.user
        )

    def _moderator_remove(self, request, moderator) -> None:
        services.chat_moderator_remove(stream_id=moderator.stream_id, user_id=moderator.user_id, by_user=request.user)

    def delete_model(self, request, obj):
        self._moderator_remove(request, obj)

    def delete_queryset(self, request, queryset):
        self.each_through_service(request, queryset, lambda moderator: self._moderator_remove(request, moderator))


@admin.register(LiveStreamChatSettings)
class LiveStreamChatSettingsAdmin(ServiceModelAdmin):
    list_display = ("stream", "slow_mode_seconds", "updated_at")
    raw_id_fields = ("stream",)
    fields = ("stream", "slow_mode_seconds", "blocked_terms")

    def get_readonly_fields(self, request, obj=None):
        return ("stream",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # turn slow mode off and clear the terms instead, so the room hears of it

    def service_save(self, request, form, change):
        chat_settings = form.instance
        values = input_valid(
            SettingsInput,
            {"slow_mode_seconds": chat_settings.slow_mode_seconds, "blocked_terms": chat_settings.blocked_terms},
        )
        return services.chat_settings_update(stream_id=chat_settings.stream_id, by_user=request.user, **values)


@admin.register(BlockedTerm)
class BlockedTermAdmin(StaffModelAdmin):
    list_display = ("term", "created_at")
    search_fields = ("term",)
