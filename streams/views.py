"""Server-rendered pages: the stream catalogue, the viewer page and the artist page (the artist's own
pages, the studio, are in studio.py)."""

from datetime import timedelta

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import artist_follower_count, artist_get, user_follows
from analytics.clients import viewer_cookie_ensure
from livestream_site import realtime
from livestream_site.errors import ApplicationError
from payments.selectors import stream_viewer_access

from .calendar import calendar_event
from .media.backends import get_backend
from .media.selectors import stream_recordings_ready
from .models import LiveStream
from .selectors import stream_can_manage, stream_catalogue, stream_get, stream_list_visible


def stream_list_page(request):
    """Live now, upcoming (every scheduled show until it starts or is cancelled), replays; searchable
    by title or artist and filtered by type."""
    query = (request.GET.get("q") or "").strip()[:100]
    kind = request.GET.get("type") or ""
    streams = stream_catalogue(user=request.user, query=query, kind=kind if kind in LiveStream.Type.values else "")
    replays = list(streams.filter(status=LiveStream.Status.ENDED).order_by("-ended_at")[:24])
    live = list(streams.filter(status=LiveStream.Status.LIVE).order_by("-started_at")[:24])
    counts = _viewer_counts(live)
    for stream in live:
        stream.viewer_count = counts.get(str(stream.id))
    context = {
        "live": live,
        "upcoming": streams.filter(status=LiveStream.Status.SCHEDULED).order_by("scheduled_start_time")[:24],
        "replays": replays,
        "replay_media": _replay_media(replays),
        "query": query,
        "kind": kind,
        "types": LiveStream.Type.choices,
    }
    return render(request, "streams/list.html", context)


def _viewer_counts(streams) -> dict[str, int]:
    """Viewers of each live show now (one round trip); none when the real-time transport is down."""
    try:
        return realtime.viewer_counts([stream.id for stream in streams]) if streams else {}
    except realtime.TRANSPORT_ERRORS:
        return {}


def live_counts(request):
    """{streamId: viewers} of the live shows: the home page refreshes its counts with it."""
    live = list(
        stream_list_visible(user=request.user).filter(status=LiveStream.Status.LIVE).order_by("-started_at")[:48]
    )
    response = JsonResponse(_viewer_counts(live))
    response["Cache-Control"] = "public, max-age=5"
    return response


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


def stream_live_picture(request, stream_id):
    """A recent still of a live show's picture (the catalogue's thumbnail); 404 when there is none."""
    try:
        stream = stream_get(stream_id=stream_id)
    except ApplicationError:
        raise Http404("No such stream") from None
    picture = get_backend().live_picture(stream=stream) if stream.status == LiveStream.Status.LIVE else None
    if picture is None:
        raise Http404("No live picture")
    response = FileResponse(picture.open("rb"), content_type="image/jpeg")
    response["Cache-Control"] = f"public, max-age={settings.LIVE_PICTURE_SECONDS}"
    return response


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
            # The media system's player: "hls", or "agora" (the Agora Web SDK joins the stream's channel).
            "player": get_backend().player,
        },
    }
    response = render(request, "streams/detail.html", context)
    viewer_cookie_ensure(request, response)  # one anonymous viewer id across reloads (analytics)
    return response


def artist_page(request, ref: str):
    """An artist's live, upcoming and past shows, with the follow button; `ref` is the username or the id."""
    try:
        artist = artist_get(username=ref)
    except ApplicationError:
        if not ref.isdigit():
            raise Http404("No such artist") from None
        try:
            artist = artist_get(artist_id=int(ref))
        except ApplicationError:
            raise Http404("No such artist") from None
    streams = stream_list_visible(user=request.user).filter(artist=artist)
    context = {
        "artist": artist,
        "live": streams.filter(status=LiveStream.Status.LIVE).order_by("-started_at"),
        "upcoming": streams.filter(status=LiveStream.Status.SCHEDULED).order_by("scheduled_start_time"),
        "past": streams.filter(status=LiveStream.Status.ENDED).order_by("-ended_at")[:48],
        "follower_count": artist_follower_count(artist=artist),
        "following": user_follows(fan=request.user, artist=artist),
        "is_self": request.user.is_authenticated and request.user.pk == artist.pk,
    }
    return render(request, "streams/artist.html", context)
