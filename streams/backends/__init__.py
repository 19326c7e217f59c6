"""The streaming backend interface: what the platform needs from a media system, whichever it is.

The services and the API speak only to this interface; `settings.STREAMING_BACKEND` picks the
implementation (`rtmp`: the self-hosted nginx-rtmp + ffmpeg media server in streams/media/).
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {"rtmp": "streams.backends.rtmp.RtmpBackend"}

# The height each maxQuality allows.
QUALITY_MAX_HEIGHT = {"low": 360, "medium": 720, "high": 1080}


@dataclass(frozen=True)
class Rendition:
    name: str
    height: int
    width: int | None = None
    bandwidth: int | None = None
    codecs: str | None = None


class StreamingBackend(ABC):
    """One media system. Methods take the stream and return plain data; none writes to the database."""

    name: str

    @abstractmethod
    def ingest_info(self, *, stream) -> dict:
        """Where the artist's encoder publishes: {"url", "streamKey"}."""

    @abstractmethod
    def playback_url(self, *, stream, expires_at: datetime) -> str:
        """A viewer's playback URL (absolute, or a path on the platform), valid until expires_at."""

    @abstractmethod
    def renditions(self, *, stream) -> list[Rendition]:
        """The renditions being produced right now, lowest first."""

    @abstractmethod
    def health(self, *, stream) -> dict:
        """The ingest as the media system sees it (bitrate, fps, resolution, codecs, uptime...)."""

    @abstractmethod
    def is_publishing(self, *, stream) -> bool | None:
        """Whether an encoder publishes this stream now; None when the media system cannot say."""

    @abstractmethod
    def publisher_drop(self, *, stream) -> None:
        """Disconnect the encoder (the stream was ended by the artist or staff)."""

    @abstractmethod
    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        """A signed, expiring URL of a stored recording file (a name in Django's default storage)."""


@cache
def _backend_class(name: str):
    try:
        return import_string(BACKENDS.get(name, name))
    except ImportError as exc:
        raise ValueError(f"Unknown STREAMING_BACKEND {name!r}") from exc


def get_backend() -> StreamingBackend:
    return _backend_class(settings.STREAMING_BACKEND)()


def quality_max_height(*qualities: str) -> int:
    """The lowest height any of these qualities allows (empty values mean no cap)."""
    return min(QUALITY_MAX_HEIGHT.get(q, 10_000) for q in qualities if q) if any(qualities) else 10_000
