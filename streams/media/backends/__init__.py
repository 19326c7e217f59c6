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

BACKENDS = {
    "rtmp": "streams.media.backends.rtmp.RtmpBackend",
    "ivs": "streams.media.backends.ivs.IvsBackend",
    "wowza": "streams.media.backends.wowza.WowzaBackend",
    "agora": "streams.media.backends.agora.AgoraBackend",
}

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


class MediaProviderError(Exception):
    """A managed media system failed or refused a call. `retryable`: trying again later may help (a
    timeout, 429, a 5xx); the API answers 502 media_provider_error when it cannot wait."""

    def __init__(self, message: str, *, retryable: bool = False):
        super().__init__(message)
        self.retryable = retryable


class MediaEventsRefused(Exception):
    """A request to the provider-events endpoint that is not the provider's (bad or missing signature)."""


@dataclass(frozen=True)
class MediaEvent:
    """What a managed media system reports about a stream's resource, in the platform's words.

    kind: "publish_started" | "publish_ended" | "recording_started" | "recording_ready" | "recording_failed";
    recording (for recording_ready): {"name": the stored replay that recording_url signs,
    "thumbnail": a stored image name or "", "durationSeconds": float | None};
    resource: entries to merge into the stream's stored resource once the event is applied (a polling
    backend started something on the media system it must find again: Agora's recording session)."""

    id: str
    kind: str
    resource_id: str
    session: str = ""
    recording: dict | None = None
    resource: dict | None = None


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
    # A managed media system keeps a resource per stream (provisioned after the stream is saved, stored
    # on it as media_backend + media_resource); a self-hosted one needs none.
    provisions: bool = False
    # The media system records and stores the replay itself and says so by an event (recording_ready);
    # the platform then has nothing to remux.
    records_itself: bool = False
    # The media system sends no callbacks the platform can trust: media_poll asks it (stream_poll).
    polls: bool = False
    # The backend's own routes outside the REST API (callbacks of its media server, playlists the
    # platform serves for it): a dotted URLconf module that streams/media/urls.py includes, or None.
    # A dotted name rather than the module, so that no domain module imports views.
    urlconf: str | None = None
    # The player the watch page uses: "hls" (hls.js, or Safari's own) or "agora" (the Agora Web SDK).
    player: str = "hls"

    # --- Configuration and provisioning ----------------------------------------------------------
    @classmethod
    def configuration_errors(cls) -> list[str]:
        """What is missing or wrong in the settings, each message naming its variable; checked at start."""
        return []

    def stream_errors(self, *, stream) -> dict[str, list[str]]:
        """Why this media system cannot carry the stream as saved ({field: [messages]}; empty: it can)."""
        return {}

    def stream_provision(self, *, stream, resource: dict) -> dict:
        """Create the stream's resource, or bring it in line with the stream; `resource` is what an earlier
        call returned ({} the first time). Idempotent: a repeated call (a retry after a timeout) finds what
        the first one created. Returns the data to store; raises MediaProviderError."""
        return resource

    def stream_deprovision(self, *, resource: dict) -> None:
        """Delete a resource stream_provision returned (the stream was deleted); one already gone is fine."""
        return None

    def stream_key_rotate(self, *, stream, resource: dict) -> dict:
        """Replace the encoder's key on the media system (the platform's own key was just rotated);
        returns the resource to store. Raises MediaProviderError."""
        return resource

    def provider_events_read(self, *, body: bytes, headers) -> list[MediaEvent]:
        """The events in a request to the platform's provider-events endpoint, after checking it comes
        from the media system (raise MediaEventsRefused otherwise). None: this system sends no events."""
        raise NotImplementedError

    def stream_poll(self, *, stream) -> list[MediaEvent]:
        """For a system that polls: prepare the provisioned stream for what comes next (start it when
        publishing opens) and report what changed, as events. Raises MediaProviderError."""
        return []

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

    def playback(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> dict:
        """What the player needs: {"type": "hls", "url"}, or another player's bundle (Agora's)."""
        return {"type": "hls", "url": self.playback_url(stream=stream, expires_at=expires_at, viewer_id=viewer_id)}

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
        """A signed URL of a stored recording file, valid until expires_at (absolute, or a path on the
        platform)."""

    def recording_read(self, *, name: str) -> bytes:
        """The content of a stored recording file (a playlist the platform serves signed: replays.py);
        raises FileNotFoundError when there is none."""
        raise FileNotFoundError(name)

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


def get_backend(name: str | None = None) -> StreamingBackend:
    """The configured media system (settings.STREAMING_BACKEND), or the one called `name` (the backend
    that provisioned a stream's resource, to delete it after an operator switched systems)."""
    configured = _backend_class(settings.STREAMING_BACKEND)
    if name is None or name == configured.name:
        return configured()
    return _backend_class(name)()


def backend_configuration_errors() -> list[str]:
    """Why the configured media system cannot run (an unknown STREAMING_BACKEND, missing credentials),
    each naming its variable; empty when it can. streams' AppConfig refuses to start otherwise."""
    name = settings.STREAMING_BACKEND
    try:
        backend_class = _backend_class(name)
    except ValueError:
        known = ", ".join(sorted(BACKENDS))
        return [f"STREAMING_BACKEND={name!r} is not a media backend: use one of {known} (or a dotted class path)."]
    return backend_class.configuration_errors()


def quality_max_height(*qualities: str) -> int:
    """The lowest height any of these qualities allows (empty values mean no cap)."""
    return min(QUALITY_MAX_HEIGHT.get(q, 10_000) for q in qualities if q) if any(qualities) else 10_000
