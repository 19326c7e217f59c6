"""The streaming backend interface: what the platform needs from a media system, whichever it is.

The media plane's services, selectors and API speak only to this interface; `settings.STREAMING_BACKEND`
picks the implementation: a name in BACKENDS (one package or module per provider in this folder;
`rtmp` is the self-hosted nginx-rtmp + ffmpeg media server) or a dotted path to a class. A new
provider brings its module, its entry in BACKENDS and its tests; nothing else changes.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.utils.module_loading import import_string

BACKENDS = {"rtmp": "streams.media.backends.rtmp.RtmpBackend"}

# The height each maxQuality allows.
QUALITY_MAX_HEIGHT = {"low": 360, "medium": 720, "high": 1080}


@dataclass(frozen=True)
class Rendition:
    name: str
    height: int
    width: int | None = None
    bandwidth: int | None = None
    codecs: str | None = None


@dataclass(frozen=True)
class HlsRequest:
    """One request of a viewer's player to the media server's live HLS, as its access log tells it."""

    time: datetime
    client: str  # the client's address
    user_agent: str
    stream_id: str
    rendition: str
    file: str  # "index.m3u8", "seg_00042.ts"
    status: int
    bytes: int
    cmcd: str = ""  # the CMCD (CTA-5004) data the player sent, as sent (empty when it sent none)

    @property
    def is_segment(self) -> bool:
        return not self.file.endswith(".m3u8")


@dataclass(frozen=True)
class MediaServer:
    """A media server the platform runs itself (`manage.py run_media`): its config file, the command
    that runs it in the foreground and the command that checks the config."""

    config: Path
    run: list[str]
    check: list[str]


class StreamingBackend(ABC):
    """One media system. Methods take the stream (or its id) and return plain data; none writes to the database."""

    name: str
    # The backend's own routes outside the REST API (callbacks of its media server, playlists the
    # platform serves for it): a dotted URLconf module that streams/media/urls.py includes, or None.
    # A dotted name rather than the module, so that no domain module imports views.
    urlconf: str | None = None

    # --- Ingest ---------------------------------------------------------------------------------
    @abstractmethod
    def ingest_info(self, *, stream) -> dict:
        """Where the artist's encoder publishes: {"url", "streamKey"}."""

    @abstractmethod
    def is_publishing(self, *, stream) -> bool | None:
        """Whether an encoder publishes this stream now; None when the media system cannot say."""

    @abstractmethod
    def publisher_drop(self, *, stream) -> None:
        """Disconnect the encoder (the stream was ended by the artist or staff)."""

    @abstractmethod
    def health(self, *, stream) -> dict:
        """The ingest as the media system sees it: {"mediaServerReachable", "publishing", "ingest"}."""

    @abstractmethod
    def renditions(self, *, stream) -> list[Rendition]:
        """The renditions being produced right now, lowest first."""

    def transcoder_speed(self, *, stream) -> float | None:
        """How fast the transcoder of a live stream runs against real time (1.0 keeps up, below falls
        behind); None when nothing is being transcoded or the media system does not say."""
        return None

    def live_picture(self, *, stream) -> Path | None:
        """A recent still (JPEG) of the live picture, for the catalogue's thumbnails; None when the media
        system has none to give."""
        return None

    # --- Playback -------------------------------------------------------------------------------
    @abstractmethod
    def playback_url(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> str:
        """A viewer's playback URL (absolute, or a path on the platform), valid until expires_at, for the
        viewer `viewer_id` (None: anonymous) where the media system can bind it (see playback_allowed)."""

    @abstractmethod
    def output_remove(self, *, stream_id: UUID | str) -> None:
        """Delete what the live output of a stream that has ended left behind (playlists, segments)."""

    # --- Recordings -----------------------------------------------------------------------------
    @abstractmethod
    def recording_part_stream_id(self, *, path: str) -> str | None:
        """The stream id of a recorded part the media system wrote at `path`; None when `path` is not
        one of its parts (the path comes from a callback: it decides which files the platform touches)."""

    @abstractmethod
    def recording_save(self, *, name: str, path: Path) -> str:
        """Store a finished recording file (a replay or its thumbnail) under `name`, replacing what an
        earlier attempt stored there; return the stored name that recording_url takes."""

    @abstractmethod
    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        """A signed URL of a stored recording file, valid until expires_at."""

    # --- Viewers on other players ----------------------------------------------------------------
    def hls_requests_read(self, *, cursor: dict | None) -> tuple[list[HlsRequest], dict | None]:
        """The viewers' live HLS requests the media system logged after `cursor` (None: from the start
        of what it keeps), and the cursor to pass next time (plain JSON data). A media system without
        such a log (a hosted service counts its own audience) has none."""
        return [], cursor

    # --- The local media server -----------------------------------------------------------------
    def media_server_prepare(self) -> MediaServer | None:
        """Write the config of the media server the platform runs itself and say how to run and check
        it; None when the media system runs elsewhere (a hosted service)."""
        return None


@cache
def _backend_class(name: str) -> type[StreamingBackend]:
    try:
        return import_string(BACKENDS.get(name, name))
    except ImportError as exc:
        raise ValueError(f"Unknown STREAMING_BACKEND {name!r}") from exc


def get_backend() -> StreamingBackend:
    """The configured media system (settings.STREAMING_BACKEND)."""
    return _backend_class(settings.STREAMING_BACKEND)()


def quality_max_height(*qualities: str) -> int:
    """The lowest height any of these qualities allows (empty values mean no cap)."""
    return min(QUALITY_MAX_HEIGHT.get(q, 10_000) for q in qualities if q) if any(qualities) else 10_000
