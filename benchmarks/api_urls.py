"""The API benchmark's URLs: the platform's, and a plain JsonResponse view over the same rows (the baseline)."""

from django.http import JsonResponse
from django.urls import include, path

from streams.models import LiveStream

FIELDS = [
    "id",
    "title",
    "description",
    "type",
    "status",
    "scheduled_start_time",
    "started_at",
    "ended_at",
    "max_viewers",
    "ticket_price",
    "currency",
    "is_pay_per_view",
    "is_chat_enabled",
    "is_recording_enabled",
    "max_quality",
    "quality_cap",
    "artist_id",
    "artist__username",
    "stream_settings",
    "peak_viewers",
    "created_at",
    "updated_at",
]


def plain_streams(request):
    """The first page of 50 streams in the catalogue's order, the same fields, no framework."""
    rows = list(LiveStream.objects.order_by("scheduled_start_time").values(*FIELDS)[:50])
    return JsonResponse({"count": LiveStream.objects.count(), "results": rows})


urlpatterns = [path("bench/plain-streams", plain_streams), path("", include("livestream_site.urls"))]
