"""Staff moderation and scheduling of streams; every action goes through the services."""

from django import forms
from django.contrib import admin, messages

from livestream_site.admin import StaffModelAdmin, StaffPermissionsMixin
from livestream_site.errors import ApplicationError

from . import services
from .media import services as media_services
from .models import LiveStream, LiveStreamRecording


class RecordingInline(StaffPermissionsMixin, admin.TabularInline):
    model = LiveStreamRecording
    extra = 0
    fields = ("status", "duration_seconds", "width", "height", "size_bytes", "file", "created_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


def _run_transition(modeladmin, request, queryset, service, verb):
    done = 0
    for stream in queryset:
        try:
            service(stream_id=stream.id)
            done += 1
        except ApplicationError as exc:
            modeladmin.message_user(request, f"{stream.title}: {exc.message}", messages.WARNING)
    if done:
        modeladmin.message_user(request, f"{verb} {done} stream(s).", messages.SUCCESS)


@admin.action(description="Cancel the selected scheduled streams")
def cancel_streams(modeladmin, request, queryset):
    _run_transition(modeladmin, request, queryset, services.stream_cancel, "Cancelled")


@admin.action(description="End the selected live streams")
def end_streams(modeladmin, request, queryset):
    _run_transition(modeladmin, request, queryset, media_services.stream_end_and_disconnect, "Ended")


class LiveStreamAdminForm(forms.ModelForm):
    """Shows the services' refusals as form errors, so staff get the form back instead of a server error.

    No Meta: the admin builds the form's Meta (model, fields) from the ModelAdmin.
    """

    def clean(self):
        cleaned = super().clean()
        artist = cleaned.get("artist")
        if self.instance._state.adding:
            if artist is not None and not (artist.is_staff or artist.is_artist):
                self.add_error("artist", "Only artists can host streams.")
        elif self.instance.status != LiveStream.Status.SCHEDULED:
            for name in sorted(services.SCHEDULE_FIELDS & set(self.changed_data)):
                self.add_error(name, f"The stream is {self.instance.status}; this can only change before it starts.")
        return cleaned


@admin.register(LiveStream)
class LiveStreamAdmin(StaffModelAdmin):
    form = LiveStreamAdminForm
    list_display = (
        "title",
        "artist",
        "type",
        "status",
        "scheduled_start_time",
        "is_pay_per_view",
        "ticket_price",
        "peak_viewers",
    )
    list_filter = ("status", "type", "is_pay_per_view", "is_chat_enabled", "is_recording_enabled")
    search_fields = ("title", "description", "artist__username")
    date_hierarchy = "scheduled_start_time"
    list_select_related = ("artist",)
    raw_id_fields = ("artist",)
    readonly_fields = (
        "id",
        "status",
        "started_at",
        "ended_at",
        "peak_viewers",
        "stream_key",
        "created_at",
        "updated_at",
    )
    actions = [cancel_streams, end_streams]
    inlines = [RecordingInline]

    def save_model(self, request, obj, form, change):
        # New streams go through the same service as the API; edits go through stream_update.
        if not change:
            created = services.stream_create(
                artist=obj.artist,
                **{
                    f: getattr(obj, f)
                    for f in (
                        "title",
                        "description",
                        "type",
                        "scheduled_start_time",
                        "max_viewers",
                        "ticket_price",
                        "currency",
                        "is_pay_per_view",
                        "is_chat_enabled",
                        "is_recording_enabled",
                        "max_quality",
                        "stream_settings",
                    )
                },
            )
            obj.pk = created.pk
            obj.stream_key = created.stream_key
            obj._state.adding = False
            return
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        services.stream_update(stream=obj, data=data)

    def has_delete_permission(self, request, obj=None):
        # A live stream cannot be deleted (end it first), here as in the API.
        if obj is not None and obj.status == LiveStream.Status.LIVE:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.stream_delete(stream=obj)

    def delete_queryset(self, request, queryset):
        for stream in queryset:
            try:
                services.stream_delete(stream=stream)
            except ApplicationError as exc:
                self.message_user(request, f"{stream.title}: {exc.message}", messages.WARNING)


@admin.register(LiveStreamRecording)
class LiveStreamRecordingAdmin(StaffModelAdmin):
    list_display = ("stream", "status", "duration_seconds", "width", "height", "size_bytes", "created_at")
    list_filter = ("status",)
    search_fields = ("stream__title",)
    list_select_related = ("stream",)
    readonly_fields = [f.name for f in LiveStreamRecording._meta.fields]
