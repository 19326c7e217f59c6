"""nginx's callbacks (on_publish, on_publish_done, on_record_done), the ladder's plan and the viewers'
master playlist: thin views that translate nginx's requests into calls of the media plane."""

import logging
import time
import uuid
from functools import wraps

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from livestream_site.errors import ApplicationError, error_body
from streams.media import selectors as media_selectors
from streams.media import services as media_services
from streams.models import LiveStream

from .hls import master_playlist_render, master_token_read

logger = logging.getLogger(__name__)


def _forbidden(message: str, code: str = "forbidden") -> JsonResponse:
    return JsonResponse(error_body(code, message), status=403)


def media_server_only(view):
    """Only the media server may call: the shared secret in the URL, from an allowed address."""

    @wraps(view)
    def wrapper(request, secret: str, *args, **kwargs):
        allowed = settings.MEDIA_CALLBACK_ALLOWED_IPS
        if not constant_time_compare(secret, settings.MEDIA_CALLBACK_SECRET) or (
            "*" not in allowed and request.META.get("REMOTE_ADDR") not in allowed
        ):
            logger.warning("media callback refused from %s", request.META.get("REMOTE_ADDR"))
            return _forbidden("Only the media server may call this.")
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def _stream_id(source) -> uuid.UUID | None:
    try:
        return uuid.UUID(source.get("name", ""))
    except ValueError:
        return None


@media_server_only
@require_POST
def on_publish(request):
    key = request.POST.get("name", "")
    try:
        stream = media_services.ingest_publish(
            stream_key=key, client_id=request.POST.get("clientid", ""), client_addr=request.POST.get("addr", "")
        )
    except ApplicationError as exc:
        logger.info("publish refused (%s) from %s", exc.code, request.POST.get("addr"))
        return JsonResponse(error_body(exc.code, exc.message), status=403)
    # A redirect without a scheme renames the publish: from here on nginx, the ladder, the HLS
    # files and the recordings know the stream by its id, never by its key.
    response = HttpResponse(status=302)
    response["Location"] = str(stream.id)
    return response


@media_server_only
@require_POST
def on_publish_done(request):
    # nginx names the publish by the key it opened with, which may have been rotated since.
    media_services.ingest_publish_done(
        client_id=request.POST.get("clientid", ""), stream_key=request.POST.get("name", "")
    )
    return HttpResponse(status=204)


@media_server_only
@require_POST
def on_record_done(request):
    try:
        media_services.recording_part_add(path=request.POST.get("path", ""))
    except ApplicationError as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)
    return HttpResponse(status=204)


@media_server_only
@require_GET
def ladder_plan(request):
    stream_id = _stream_id(request.GET)
    if stream_id is None:
        return JsonResponse(error_body("not_found", "No stream with that id."), status=404)
    try:
        return JsonResponse({"maxHeight": media_selectors.ingest_max_height(stream_id=stream_id)})
    except ApplicationError as exc:
        return JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)


# --- The viewers' master playlist ------------------------------------------------------------------
def _playlist_error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def master_playlist(request, token: str):
    """Only the renditions the stream allows now, each variant URL signed. The token was handed out after
    the access check to one viewer; their access is checked again on every fetch."""
    claims = master_token_read(token)
    if claims is None:
        return _playlist_error(403, "forbidden", "Invalid playback token.")
    if claims["e"] < time.time():
        return _playlist_error(410, "playback_expired", "The playback token has expired: ask for a new one.")
    stream = LiveStream.objects.filter(pk=claims["s"]).first()
    if stream is None or stream.status == LiveStream.Status.CANCELLED:
        return _playlist_error(404, "not_found", "No such stream.")
    # The token names the viewer it was handed to: one who lost access since (a refund) is refused here.
    if not media_selectors.playback_allowed(stream=stream, user_id=claims.get("v")):
        return _playlist_error(403, "forbidden", "You can no longer watch this stream.")
    renditions = media_selectors.stream_renditions_allowed(stream=stream)
    if not renditions:
        return _playlist_error(404, "not_live", "The stream is not being broadcast right now.")
    body = master_playlist_render(stream_id=stream.id, renditions=renditions, expires=claims["e"])
    response = HttpResponse(body, content_type="application/vnd.apple.mpegurl")
    response["Cache-Control"] = "no-store"
    response["Access-Control-Allow-Origin"] = "*"
    return response
