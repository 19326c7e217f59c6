"""Admin building blocks: the platform's staff (is_staff) moderate and schedule without per-model grants."""

from django.contrib import admin


class StaffPermissionsMixin:
    """Any active staff user may use the platform's admin pages, as the API lets staff manage any stream.

    User accounts stay under Django's own permissions (superusers and explicit grants).
    """

    def _is_staff(self, request) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request):
        return self._is_staff(request)

    def has_view_permission(self, request, obj=None):
        return self._is_staff(request)

    def has_add_permission(self, request, *args):
        return self._is_staff(request)

    def has_change_permission(self, request, obj=None):
        return self._is_staff(request)

    def has_delete_permission(self, request, obj=None):
        return self._is_staff(request)


class StaffModelAdmin(StaffPermissionsMixin, admin.ModelAdmin):
    pass
