from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Follow, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "role", "is_staff", "is_active", "date_joined")
    list_filter = ("role", "is_staff", "is_active")
    fieldsets = BaseUserAdmin.fieldsets + (("Platform", {"fields": ("role", "follow_emails")}),)
    add_fieldsets = BaseUserAdmin.add_fieldsets + (("Platform", {"fields": ("role",)}),)


@admin.register(Follow)
class FollowAdmin(admin.ModelAdmin):
    """Who follows whom, read-only: follows are made and ended by the fans themselves (accounts.services)."""

    list_display = ("fan", "artist", "created_at")
    search_fields = ("fan__username", "artist__username")
    list_select_related = ("fan", "artist")
    raw_id_fields = ("fan", "artist")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
