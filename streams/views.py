"""Server-rendered pages: the stream catalogue and the viewer page (the artist's pages are in studio.py)."""

from datetime import timedelta

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from analytics.clients import viewer_cookie_ensure
from livestream_site.errors import ApplicationError
from payments.selectors import stream_viewer_access

from .calendar import calendar_event
from .media.backends import get_backend
from .media.selectors import stream_recordings_ready
from .models import LiveStream
from .selectors import stream_can_manage, stream_catalogue, stream_get


def stream_list_page(request):
    """Live now, upcoming (every scheduled show until it starts or is cancelled), replays; searchable
    by title or artist and filtered by type."""
    query = (request.GET.get("q") or "").strip()[:100]
    kind = request.GET.get("type") or ""
    streams = stream_catalogue(user=request.user, query=query, kind=kind if kind in LiveStream.Type.values else "")
    replays = list(streams.filter(status=LiveStream.Status.ENDED).order_by("-ended_at")[:24])
    context = {
        "live": streams.filter(status=LiveStream.Status.LIVE).order_by("-started_at")[:24],
        "upcoming": streams.filter(status=LiveStream.Status.SCHEDULED).order_by("scheduled_start_time")[:24],
        "replays": replays,
        "replay_media": _replay_media(replays),
        "query": query,
        "kind": kind,
        "types": LiveStream.Type.choices,
    }
    return render(request, "streams/list.html", context)


def _replay_media(streams) -> dict:
    """{stream id: {"thumbnail": signed URL or None, "seconds": duration}} of each replay's newest ready
    recording (one query). The thumbnail is the show's poster: shown to everyone, like the title."""
    expires_at = timezone.now() + timedelta(seconds=settings.RECORDING_URL_TTL_SECONDS)
    media = {}
    backend = get_backend()
    for recording in stream_recordings_ready(stream_ids=[stream.id for stream in streams]):
        if recording.stream_id in media:
            continue
        thumbnail = recording.thumbnail.name
        media[recording.stream_id] = {
            "thumbnail": backend.recording_url(name=thumbnail, expires_at=expires_at) if thumbnail else None,
            "seconds": recording.duration_seconds,
        }
    return media


def stream_calendar(request, stream_id):
    """The show as an iCalendar event (RFC 5545), for "add to calendar"."""
    try:
        stream = stream_get(stream_id=stream_id)
    except ApplicationError:
        raise Http404("No such stream") from None
    body = calendar_event(stream=stream, url=request.build_absolute_uri(f"/streams/{stream.id}/"))
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="livestage-{stream.id}.ics"'
    return response


def stream_page(request, stream_id):
    try:
        stream = stream_get(stream_id=stream_id)
    except ApplicationError:
        raise Http404("No such stream") from None
    access = stream_viewer_access(user=request.user, stream=stream)
    can_manage = stream_can_manage(user=request.user, stream=stream)
    context = {
        "stream": stream,
        "access": access,
        "can_manage": can_manage,
        # What the page's script needs; nothing private (never the stream key).
        "page_data": {
            "streamId": str(stream.id),
            "status": stream.status,
            "hasAccess": access.has_access,
            "accessReason": access.reason,
            "signedIn": request.user.is_authenticated,
            "canModerate": can_manage,
            "reportSeconds": settings.ANALYTICS_REPORT_SECONDS,
            # The replay's chat appears at the moment it was sent, relative to the start of the show.
            "startedAt": stream.started_at.isoformat() if stream.started_at else None,
            "scheduledStartTime": stream.scheduled_start_time.isoformat(),
            "isPayPerView": stream.is_pay_per_view,
        },
    }
    response = render(request, "streams/detail.html", context)
    viewer_cookie_ensure(request, response)  # one anonymous viewer id across reloads (analytics)
    return response
