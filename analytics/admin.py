from django.contrib import admin

from livestream_site.admin import StaffModelAdmin

from .models import LiveStreamAnalytics


@admin.register(LiveStreamAnalytics)
class LiveStreamAnalyticsAdmin(StaffModelAdmin):
    list_display = ("stream", "bucket_start", "concurrent_viewers", "peak_viewers", "unique_viewers", "chat_messages")
    list_select_related = ("stream",)
    readonly_fields = [f.name for f in LiveStreamAnalytics._meta.fields]
