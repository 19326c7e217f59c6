"""The real-time transport of stream rooms: cross-process fan-out, the viewer registry, coalesced counts, rate limits.

One hub per event loop holds that loop's real-time connections (of any protocol), by stream. With
Redis, the hub keeps ONE pub/sub subscription per stream that has local viewers; a frame is
JSON-encoded once by whoever publishes it and written as-is to every local viewer, so a chat message
costs one PUBLISH and one delivery per process, never per viewer. A connection of another protocol
(Socket.IO) names its encoding of a frame (`frame_format`), which the hub makes once per frame and
room. Without REDIS_URL the same hub delivers in-process, so the embedded default behaves the same
way in one process. Which of the two is chosen once per process (`transport_get`); everything else
is written against the `Transport` interface.

This package imports no app: the peak-viewer write reaches the domain through `viewer_peak_hook_set`.
"""

import contextlib
import logging
import threading
from collections.abc import Iterator

import redis
from django.conf import settings

from .hub import Hub, RoomUnavailable, heartbeat_hook_set, hub_for, viewer_peak_hook_set
from .local_transport import LocalTransport
from .redis_transport import RedisTransport
from .transport import CONTROL_PREFIX, Transport, control_encode, frame_encode, now_ms

__all__ = [
    "CONTROL_PREFIX",
    "Hub",
    "LocalTransport",
    "RedisTransport",
    "RoomUnavailable",
    "TRANSPORT_ERRORS",
    "Transport",
    "control_encode",
    "frame_encode",
    "heartbeat_hook_set",
    "hub_get",
    "now_ms",
    "rate_limit_hit",
    "redis_sync",
    "room_ordered",
    "room_publish",
    "slow_mode_hit",
    "transport_get",
    "viewer_counts",
    "viewer_peak_hook_set",
]

# What a transport raises when it cannot be reached (Redis down or restarting): a caller answers
# "unavailable, try again" instead of failing as if the request were wrong.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    RoomUnavailable,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)

logger = logging.getLogger(__name__)

# The order lock of a stream's room: held for one store-and-publish (milliseconds).
_ORDER_LOCK_TTL_MS = 5000
_ORDER_LOCK_WAIT_SECONDS = 5.0

_transport: Transport | None = None
_transport_lock = threading.Lock()


def transport_get() -> Transport:
    """This process's transport, chosen once from settings.REDIS_URL."""
    global _transport
    if _transport is not None:  # every frame passes here: no lock once chosen
        return _transport
    with _transport_lock:
        if _transport is None:
            _transport = RedisTransport(settings.REDIS_URL) if settings.REDIS_URL else LocalTransport()
        return _transport


def redis_sync() -> redis.Redis | None:
    """The blocking Redis client of the fan-out, or None when it runs in-process."""
    transport = transport_get()
    return transport.sync_client() if isinstance(transport, RedisTransport) else None


def room_publish(stream_id, text: str) -> None:
    """Send an encoded frame to every viewer of the stream, in every process (sync callers, any thread)."""
    transport_get().room_publish(str(stream_id), text)


@contextlib.contextmanager
def room_ordered(stream_id) -> Iterator[None]:
    """Hold the stream's order lock (every process) around storing and publishing one of its frames.

    Messages get their ids when stored, and viewers must receive them in that order: with several web
    processes, two messages stored in one order could otherwise be published in the other. A lock that
    cannot be taken (Redis down, or a holder that died, for a few seconds) does not stop the caller.
    """
    key = f"order:{stream_id}"
    transport = transport_get()
    try:
        token = transport.lock_acquire(key=key, ttl_ms=_ORDER_LOCK_TTL_MS, wait_seconds=_ORDER_LOCK_WAIT_SECONDS)
    except TRANSPORT_ERRORS:
        token = None
    if token is None:
        logger.warning("stream %s: frames stored and published without the order lock", stream_id)
    try:
        yield
    finally:
        if token is not None:
            with contextlib.suppress(*TRANSPORT_ERRORS):
                transport.lock_release(key=key, token=token)


def rate_limit_hit(*, key: str, limit: int, window_seconds: float) -> float:
    """Count one hit against `key`; 0 when allowed, else the seconds to wait (the hit is not counted)."""
    return transport_get().rate_limit_hit(key=key, limit=limit, window_seconds=window_seconds)


def slow_mode_hit(*, key: str, seconds: int) -> float:
    """One message per `seconds` per key; 0 when allowed, else the seconds to wait."""
    return transport_get().slow_mode_hit(key=key, seconds=seconds)


def viewer_counts(stream_ids) -> dict[str, int]:
    """The number of distinct viewers of each stream now, in one round trip (any thread)."""
    return transport_get().viewer_counts([str(stream_id) for stream_id in stream_ids])


def hub_get() -> Hub:
    """The hub of the running event loop."""
    return hub_for(transport_get())
