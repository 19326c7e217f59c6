"""Staff moderation and scheduling of streams; every action goes through the services."""

from django.contrib import admin

from livestream_site.admin import ServiceModelAdmin, StaffModelAdmin, StaffPermissionsMixin

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


@admin.action(description="Cancel the selected scheduled streams")
def cancel_streams(modeladmin, request, queryset):
    modeladmin.each_through_service(
        request,
        queryset,
        lambda stream: services.stream_cancel(stream_id=stream.id),
        done="Cancelled {count} stream(s).",
    )


@admin.action(description="End the selected live streams")
def end_streams(modeladmin, request, queryset):
    modeladmin.each_through_service(
        request,
        queryset,
        lambda stream: media_services.stream_end_and_disconnect(stream_id=stream.id),
        done="Ended {count} stream(s).",
    )


@admin.register(LiveStream)
class LiveStreamAdmin(ServiceModelAdmin):
    error_fields = {"artist_id": "artist"}
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
        "media_backend",
        "media_error",
        "created_at",
        "updated_at",
    )
    actions = [cancel_streams, end_streams]
    inlines = [RecordingInline]

    def service_save(self, request, form, change):
        # New streams go through the same service as the API (which also checks the artist may host);
        # edits go through stream_update, which refuses schedule changes once the stream has started.
        stream = form.instance
        if not change:
            return services.stream_create(
                by_user=request.user,
                artist_id=stream.artist_id,
                **{name: getattr(stream, name) for name in services.CREATE_FIELDS},
            )
        data = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
        return services.stream_update(stream=stream, data=data)

    def has_delete_permission(self, request, obj=None):
        # Not a refusal but a missing button: staff are not offered to delete a live stream, which
        # stream_delete would refuse anyway (end it first).
        if obj is not None and obj.status == LiveStream.Status.LIVE:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.stream_delete(stream=obj)

    def delete_queryset(self, request, queryset):
        # Django's delete_selected action reports the deletions itself.
        self.each_through_service(request, queryset, lambda stream: services.stream_delete(stream=stream))


@admin.register(LiveStreamRecording)
class LiveStreamRecordingAdmin(StaffModelAdmin):
    list_display = ("stream", "status", "duration_seconds", "width", "height", "size_bytes", "created_at")
    list_filter = ("status",)
    search_fields = ("stream__title",)
    list_select_related = ("stream",)
    readonly_fields = [f.name for f in LiveStreamRecording._meta.fields]
