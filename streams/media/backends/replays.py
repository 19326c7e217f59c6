"""Replays a media system stored as HLS in a private store (IVS records to S3): the platform serves each
playlist with its URIs signed, so a player never needs the store's credentials.

A replay token names the folder of one recording and an expiry, signed with MEDIA_SIGNING_SECRET; the
playlists under that folder are served through `media-replay-playlist` (streams/media/views.py) and
every other file (segments, thumbnails) by the backend's own signed URL.
"""

import posixpath
import re
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "streams.media.replay"
URI_ATTRIBUTE_RE = re.compile(r'URI="([^"]+)"')


def replay_token_make(*, folder: str, expires_at: datetime) -> str:
    return signing.dumps({"f": folder, "e": int(expires_at.timestamp())}, key=settings.MEDIA_SIGNING_SECRET, salt=SALT)


def replay_token_read(token: str) -> dict | None:
    try:
        return signing.loads(token, key=settings.MEDIA_SIGNING_SECRET, salt=SALT)
    except signing.BadSignature:
        return None


def replay_playlist_path(*, name: str, expires_at: datetime) -> str:
    """The platform's path of the playlist `name` (a stored object name ending in .m3u8)."""
    folder = name.split("/media/", 1)[0] if "/media/" in name else posixpath.dirname(name)
    token = replay_token_make(folder=folder, expires_at=expires_at)
    return reverse("media-replay-playlist", kwargs={"token": token, "name": name})


def playlist_rewrite(*, text: str, name: str, sign) -> str:
    """Every URI of the playlist `name` made absolute: sign(object name) -> URL."""

    def resolve(uri: str) -> str:
        if "://" in uri:
            return uri
        return posixpath.normpath(posixpath.join(posixpath.dirname(name), uri))

    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            line = sign(resolve(stripped))
        elif stripped.startswith("#") and 'URI="' in stripped:
            line = URI_ATTRIBUTE_RE.sub(lambda m: f'URI="{sign(resolve(m[1]))}"', line)
        lines.append(line)
    return "\n".join(lines) + "\n"
