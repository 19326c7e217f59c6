"""Admin building blocks: staff (is_staff) moderate and schedule without per-model grants, through the services."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from rest_framework.exceptions import ValidationError as DRFValidationError

from livestream_site.errors import ApplicationError


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


def _messages(problems) -> list[str]:
    """Error messages as plain strings, whatever nesting they came in (a list item's errors, ErrorDetail)."""
    if isinstance(problems, dict):
        return [text for inner in problems.values() for text in _messages(inner)]
    if isinstance(problems, list | tuple):
        return [text for inner in problems for text in _messages(inner)]
    return [str(problems)]


class ServiceModelAdmin(StaffModelAdmin):
    """An admin whose writes go through the app's services, with the services' refusals shown to staff.

    Django's admin validates the form, then saves with no way back to it; so the service runs as the
    form's last validation step (`service_save`), inside the transaction the admin opens for the whole
    view, and a refusal (an ApplicationError, a model or an input ValidationError) becomes an error on
    the field it names, or on the form. Inlines must be read-only: they are validated after the service.
    `delete_model` and `delete_queryset` call the services too; a refused deletion keeps the object and
    says why.
    """

    # A refusal's field name -> the form's field (a service says user_id where the form has user).
    error_fields: dict[str, str] = {}

    def service_save(self, request, form, change: bool):
        """Write `form.cleaned_data` through a service and return the saved object."""
        raise NotImplementedError

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)
        model_admin = self

        class ServiceForm(form_class):
            def _post_clean(self):
                super()._post_clean()
                if self._errors:
                    return
                try:
                    with transaction.atomic():
                        self.instance = model_admin.service_save(request, self, change)
                except ApplicationError as error:
                    model_admin.refusal_show(self, error.fields, error.message)
                except DjangoValidationError as error:
                    fields = error.message_dict if hasattr(error, "error_dict") else {}
                    model_admin.refusal_show(self, fields, " ".join(error.messages))
                except DRFValidationError as error:
                    detail = error.detail if isinstance(error.detail, dict) else {}
                    model_admin.refusal_show(self, detail, " ".join(_messages(error.detail)))

        ServiceForm.__name__ = form_class.__name__
        return ServiceForm

    def refusal_show(self, form, fields: dict, message: str) -> None:
        if not fields:
            form.add_error(None, message)
        for name, problems in fields.items():
            name = self.error_fields.get(name, name)
            form.add_error(name if name in form.fields else None, _messages(problems))

    def save_model(self, request, obj, form, change):
        pass  # service_save saved it while the form was validated

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except ApplicationError as error:
            # The view's transaction is rolled back (its log entry too); the object's page says why.
            self.message_user(request, error.message, messages.ERROR)
            opts = self.opts
            url = reverse(
                f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id], current_app=self.admin_site.name
            )
            return HttpResponseRedirect(url)

    def each_through_service(self, request, objects, call, *, done: str | None = None) -> None:
        """An action: `call(obj)` for each object; each refusal is listed, the rest counted in `done`
        (a format with {count}) when given."""
        count = 0
        for obj in objects:
            try:
                with transaction.atomic():
                    call(obj)
                count += 1
            except ApplicationError as error:
                self.message_user(request, f"{obj}: {error.message}", messages.WARNING)
        if count and done:
            self.message_user(request, done.format(count=count), messages.SUCCESS)
