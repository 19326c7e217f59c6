"""Signed HLS of the self-hosted media server: nginx secure_link tokens, the platform's master-playlist
tokens, and master playlists read (as ffmpeg writes them) and written (as a viewer gets them)."""

import base64
import hashlib

from django.conf import settings
from django.core import signing

from .. import Rendition

# The salt predates this module's name: changing it would void every playback URL handed out.
MASTER_TOKEN_SALT = "streams.playback.master"


def secure_link_token(path: str, expires: int) -> str:
    """nginx secure_link_md5 "$expires<path> <secret>", base64url without padding."""
    digest = hashlib.md5(f"{expires}{path} {settings.MEDIA_SIGNING_SECRET}".encode()).digest()  # noqa: S324
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def master_token_make(*, stream_id, expires: int, viewer_id: int | None = None) -> str:
    claims = {"s": str(stream_id), "e": expires, "v": viewer_id}
    return signing.dumps(claims, key=settings.MEDIA_SIGNING_SECRET, salt=MASTER_TOKEN_SALT)


def master_token_read(token: str) -> dict | None:
    """{"s": stream id, "e": expires, "v": viewer user id or None} of a genuine token (expired or not);
    None when forged."""
    try:
        return signing.loads(token, key=settings.MEDIA_SIGNING_SECRET, salt=MASTER_TOKEN_SALT)
    except signing.BadSignature:
        return None


def parse_master_playlist(text: str) -> list[Rendition]:
    renditions = []
    attributes = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#EXT-X-STREAM-INF:"):
            attributes = _attributes(line.split(":", 1)[1])
        elif line and not line.startswith("#") and attributes is not None:
            name = line.split("/")[0]
            width, _, height = attributes.get("RESOLUTION", "x").partition("x")
            renditions.append(
                Rendition(
                    name=name,
                    height=int(height) if height else int("".join(c for c in name if c.isdigit()) or 0),
                    width=int(width) if width else None,
                    bandwidth=int(attributes["BANDWIDTH"]) if "BANDWIDTH" in attributes else None,
                    codecs=attributes.get("CODECS"),
                )
            )
            attributes = None
    return sorted(renditions, key=lambda r: r.height)


def _attributes(text: str) -> dict:
    result, key, value, quoted, reading_key = {}, "", "", False, True
    for char in text + ",":
        if reading_key:
            if char == "=":
                reading_key = False
            else:
                key += char
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            result[key.strip()] = value
            key, value, reading_key = "", "", True
        else:
            value += char
    return result


def master_playlist_render(*, stream_id, renditions: list[Rendition], expires: int) -> str:
    """The master playlist a viewer gets: only the given renditions, each variant URL signed."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    base = settings.MEDIA_PUBLIC_URL.rstrip("/")
    for rendition in renditions:
        info = [f"BANDWIDTH={rendition.bandwidth or 1}"]
        if rendition.width:
            info.append(f"RESOLUTION={rendition.width}x{rendition.height}")
        if rendition.codecs:
            info.append(f'CODECS="{rendition.codecs}"')
        info.append(f'NAME="{rendition.name}"')
        token = secure_link_token(f"/{stream_id}/{rendition.name}", expires)
        lines.append("#EXT-X-STREAM-INF:" + ",".join(info))
        lines.append(f"{base}/hls/{token}/{expires}/{stream_id}/{rendition.name}/index.m3u8")
    return "\n".join(lines) + "\n"
