from django.contrib import admin

from livestream_site.admin import StaffModelAdmin

from .models import LiveStreamAnalytics, QualityReport, ViewerSession


@admin.register(LiveStreamAnalytics)
class LiveStreamAnalyticsAdmin(StaffModelAdmin):
    list_display = ("stream", "bucket_start", "concurrent_viewers", "peak_viewers", "unique_viewers", "chat_messages")
    list_select_related = ("stream",)
    readonly_fields = [f.name for f in LiveStreamAnalytics._meta.fields]


class ReadOnlyAdmin(StaffModelAdmin):
    """Raw audience data, written only by the batch writer: staff read it, nobody edits it here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ViewerSession)
class ViewerSessionAdmin(ReadOnlyAdmin):
    list_display = (
        "stream",
        "viewer_key",
        "source",
        "is_replay",
        "started_at",
        "ended_at",
        "watch_seconds",
        "country",
        "device_class",
    )
    list_filter = ("source", "is_replay", "device_class", "country")
    list_select_related = ("stream",)
    search_fields = ("=id", "=stream__id", "viewer_key", "stream__title")
    date_hierarchy = "started_at"
    show_full_result_count = False  # a busy table: no COUNT(*) of every page


@admin.register(QualityReport)
class QualityReportAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "stream",
        "session_id",
        "rendition",
        "watch_ms",
        "rebuffer_ms",
        "startup_time_ms",
        "error",
    )
    list_filter = ("rendition",)
    list_select_related = ("stream",)
    search_fields = ("=session__id", "=stream__id", "=event_id")
    date_hierarchy = "received_at"
    show_full_result_count = False
