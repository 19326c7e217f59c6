"""The API benchmark's URLs: the platform's, and plain JsonResponse views over the same rows (the baselines)."""

from django.http import JsonResponse
from django.urls import include, path

from payments.models import LiveStreamPayment
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


def plain_access(request, pk):
    """/access from the same rows (the stream, the caller's ticket), no framework: the ticket holder's answer.

    Staff, artist, cancelled, free and signed-out callers are settled from the stream's row as ours does;
    without a ticket it answers no_ticket (ours also checks whether the show is sold out).
    """
    stream = LiveStream.objects.filter(pk=pk).values("artist_id", "status", "is_pay_per_view").first()
    if stream is None:
        return JsonResponse({"detail": "No stream with that id."}, status=404)
    user = request.user
    if user.is_authenticated and (user.is_staff or stream["artist_id"] == user.id):
        reason = "staff" if user.is_staff else "artist"
        return JsonResponse({"hasAccess": True, "reason": reason})
    if stream["status"] == LiveStream.Status.CANCELLED:
        return JsonResponse({"hasAccess": False, "reason": "cancelled"})
    if not stream["is_pay_per_view"]:
        return JsonResponse({"hasAccess": True, "reason": "free"})
    if not user.is_authenticated:
        return JsonResponse({"hasAccess": False, "reason": "not_signed_in"})
    ticket = LiveStreamPayment.objects.filter(
        stream_id=pk, user_id=user.id, status__in=LiveStreamPayment.ACCESS_STATUSES
    ).exists()
    return JsonResponse({"hasAccess": ticket, "reason": "ticket" if ticket else "no_ticket"})


urlpatterns = [
    path("bench/plain-streams", plain_streams),
    path("bench/plain-access/<uuid:pk>", plain_access),
    path("", include("livestream_site.urls")),
]
