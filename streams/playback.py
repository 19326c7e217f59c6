"""The viewer's master playlist: only the renditions the stream allows now, each variant URL signed."""

import time

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from livestream_site.errors import error_body

from .backends import quality_max_height
from .backends.rtmp import RtmpBackend, master_playlist_render, master_token_read
from .models import LiveStream


def _playlist_error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def master_playlist(request, token: str):
    claims = master_token_read(token)
    if claims is None:
        return _playlist_error(403, "forbidden", "Invalid playback token.")
    if claims["e"] < time.time():
        return _playlist_error(410, "playback_expired", "The playback token has expired: ask for a new one.")
    stream = LiveStream.objects.filter(pk=claims["s"]).first()
    if stream is None or stream.status == LiveStream.Status.CANCELLED:
        return _playlist_error(404, "not_found", "No such stream.")
    limit = quality_max_height(stream.max_quality, stream.quality_cap)
    renditions = [r for r in RtmpBackend().renditions(stream=stream) if r.height <= limit]
    if not renditions:
        return _playlist_error(404, "not_live", "The stream is not being broadcast right now.")
    body = master_playlist_render(stream_id=stream.id, renditions=renditions, expires=claims["e"])
    response = HttpResponse(body, content_type="application/vnd.apple.mpegurl")
    response["Cache-Control"] = "no-store"
    response["Access-Control-Allow-Origin"] = "*"
    return response
