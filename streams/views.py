"""Server-rendered pages: the stream catalogue, the viewer page, the artist dashboard and the artist page."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from accounts.selectors import artist_follower_count, artist_get, user_follows
from analytics.clients import viewer_cookie_ensure
from livestream_site.errors import ApplicationError
from payments.selectors import stream_viewer_access

from .models import LiveStream
from .selectors import stream_can_manage, stream_get, stream_list_visible


def stream_list_page(request):
    streams = stream_list_visible(user=request.user)
    context = {
        "live": streams.filter(status=LiveStream.Status.LIVE).order_by("-started_at")[:24],
        "upcoming": streams.filter(status=LiveStream.Status.SCHEDULED, scheduled_start_time__gte=timezone.now())[:24],
        "replays": streams.filter(status=LiveStream.Status.ENDED).order_by("-ended_at")[:24],
    }
    return render(request, "streams/list.html", context)


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
        },
    }
    response = render(request, "streams/detail.html", context)
    viewer_cookie_ensure(request, response)  # one anonymous viewer id across reloads (analytics)
    return response


@login_required
def dashboard_page(request):
    user = request.user
    if not user.can_host:
        raise PermissionDenied("The dashboard is for artists.")
    streams = stream_list_visible(user=user).filter(artist=user).order_by("-scheduled_start_time")
    context = {"streams": streams, "ingest_url": settings.RTMP_INGEST_URL}
    return render(request, "streams/dashboard.html", context)


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
