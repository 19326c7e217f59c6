"""Pages of the media plane outside the REST API that any backend may use: replay playlists whose URIs
are signed (streams/media/backends/replays.py)."""

import time
from datetime import UTC, datetime

from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from livestream_site.errors import error_body

from .backends import MediaProviderError, get_backend
from .backends.replays import playlist_rewrite, replay_playlist_path, replay_token_read


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse(error_body(code, message), status=status)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_GET
def replay_playlist(request, token: str, name: str):
    """A playlist of a stored replay: the token (handed out after the access check, like a signed URL)
    names the recording's folder and an expiry; only playlists inside that folder are served."""
    claims = replay_token_read(token)
    if claims is None or not name.startswith(claims["f"] + "/") or ".." in name.split("/"):
        return _error(403, "forbidden", "Invalid replay token.")
    if claims["e"] < time.time():
        return _error(410, "playback_expired", "The replay URL has expired: ask for a new one.")
    if not name.endswith(".m3u8"):
        return _error(404, "not_found", "Not a playlist.")
    backend = get_backend()
    expires_at = datetime.fromtimestamp(claims["e"], tz=UTC)
    try:
        text = backend.recording_read(name=name).decode()
    except FileNotFoundError:
        return _error(404, "not_found", "No such playlist.")
    except MediaProviderError as exc:
        return _error(502, "media_provider_error", f"The media provider failed: {exc}")

    def sign(object_name: str) -> str:
        if object_name.endswith(".m3u8"):
            return request.build_absolute_uri(replay_playlist_path(name=object_name, expires_at=expires_at))
        return backend.recording_url(name=object_name, expires_at=expires_at)

    response = HttpResponse(
        playlist_rewrite(text=text, name=name, sign=sign), content_type="application/vnd.apple.mpegurl"
    )
    response["Cache-Control"] = "private, max-age=60"
    response["Access-Control-Allow-Origin"] = "*"
    return response
