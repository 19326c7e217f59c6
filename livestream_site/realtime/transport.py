"""The one interface of the real-time transport, and the frame encoding every implementation carries."""

import abc
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

# A frame for the local connections of a stream: (stream id, encoded frame).
Deliver = Callable[[str, str], Awaitable[None]]
# A room's subscription is effective: frames published from now on reach this event loop.
Subscribed = Callable[[str], None]


def now_ms() -> int:
    return int(time.time() * 1000)


def frame_encode(event: str, data: dict) -> str:
    """The one JSON encoding of a server-to-client frame."""
    return json.dumps({"event": event, "data": data}, separators=(",", ":"), default=str)


# A room message for the connections themselves, never sent to a client: it travels the room's fan-out
# like a frame (so it reaches every process in order with the frames), and a hub hands it to each
# connection's `room_control` instead of writing it. A frame is a JSON object, so it never starts so.
CONTROL_PREFIX = "!"


def control_encode(kind: str, data: dict) -> str:
    """A room control message: {"kind", ...data} for the room's connections (see CONTROL_PREFIX)."""
    return CONTROL_PREFIX + json.dumps({"kind": kind, **data}, separators=(",", ":"), default=str)


class Transport(abc.ABC):
    """What the stream rooms share between connections: frames, the viewer registry, count slots, rate limits.

    One instance per process, chosen once from settings (Redis across processes, or in-process). The
    sync methods may be called from any thread. The async ones run on one event loop through that
    loop's link (`link_open`), because an asyncio connection belongs to the loop that opened it; the
    hub of each loop holds its link and never looks inside it.

    The viewer registry holds members "<viewer>|<connection>"; viewers are counted distinct by the part
    before "|" (a user, or one anonymous connection), and a member expires `ttl_ms` after it was
    last added or refreshed.
    """

    # --- Any thread: services, Celery tasks, views ------------------------------------------------
    @abc.abstractmethod
    def room_publish(self, stream_id: str, text: str) -> None:
        """Send an encoded frame to every local connection of the stream, in every process."""

    @abc.abstractmethod
    def rate_limit_hit(self, *, key: str, limit: int, window_seconds: float) -> float:
        """Count one hit against `key`; 0 when allowed, else the seconds to wait (the hit is not counted)."""

    @abc.abstractmethod
    def slow_mode_hit(self, *, key: str, seconds: int) -> float:
        """One hit per `seconds` per key; 0 when allowed, else the seconds to wait."""

    @abc.abstractmethod
    def viewer_counts(self, stream_ids: list[str]) -> dict[str, int]:
        """The number of distinct viewers of each stream now (the catalogue's counts), in one round trip."""

    @abc.abstractmethod
    def lock_acquire(self, *, key: str, ttl_ms: int, wait_seconds: float) -> str | None:
        """Take a lock shared by every process, waiting up to `wait_seconds`; its token, or None when not taken.

        The lock lapses after `ttl_ms` if its holder never releases it (a process that died)."""

    @abc.abstractmethod
    def lock_release(self, *, key: str, token: str) -> None:
        """Release a lock taken with `token` (nothing if it lapsed and another holds it now)."""

    # --- One event loop: its link -----------------------------------------------------------------
    @abc.abstractmethod
    def link_open(self, loop: asyncio.AbstractEventLoop, *, deliver: Deliver, subscribed: Subscribed) -> object:
        """Open this loop's link: frames of the rooms it subscribes to go to `deliver`, on `loop`."""

    @abc.abstractmethod
    async def link_close(self, link: object) -> None:
        """Release the link (its reader is already stopped); no frame reaches it afterwards."""

    @abc.abstractmethod
    async def room_read(self, link: object) -> None:
        """Hand every frame of the link's rooms to its `deliver`, until cancelled."""

    @abc.abstractmethod
    async def room_subscribe(self, link: object, stream_id: str) -> None:
        """Ask for the stream's frames; the link's `subscribed(stream_id)` says when they flow."""

    @abc.abstractmethod
    async def room_unsubscribe(self, link: object, stream_id: str) -> None:
        """Stop receiving the stream's frames on this link."""

    @abc.abstractmethod
    async def room_publish_async(self, link: object, stream_id: str, text: str) -> None:
        """`room_publish` from the link's event loop, without blocking it."""

    @abc.abstractmethod
    async def viewer_add(self, link: object, *, stream_id: str, member: str, limit: int, ttl_ms: int) -> int:
        """Register a member unless its viewer is new and `limit` (> 0) viewers are in: then -1.

        Returns the number of distinct viewers, this one included. The check and the add are one step,
        so two processes cannot both take the last seat.
        """

    @abc.abstractmethod
    async def viewer_remove(self, link: object, *, stream_id: str, member: str) -> None:
        """Drop a member from the stream's registry."""

    @abc.abstractmethod
    async def viewer_count(self, link: object, *, stream_id: str) -> int:
        """The number of distinct viewers of the stream whose members have not expired."""

    @abc.abstractmethod
    async def viewers_refresh(self, link: object, *, members: dict[str, set[str]], ttl_ms: int) -> None:
        """Heartbeat: push back the expiry of this process's members, by stream."""

    @abc.abstractmethod
    async def count_slot_take(self, link: object, *, stream_id: str, interval_seconds: float) -> float:
        """Take the stream's viewer-count update slot for one interval (shared by every process).

        0 when taken, else the seconds until it is free.
        """

    @abc.abstractmethod
    async def count_swap(self, link: object, *, stream_id: str, count: int) -> int | None:
        """Record the viewer count last sent for the stream; returns the one recorded before (or None)."""
