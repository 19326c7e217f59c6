"""The transport within one process (no REDIS_URL): rooms through a queue per event loop, registries in memory."""

import asyncio
import collections
import threading
import time
from dataclasses import dataclass, field

from .transport import Deliver, Subscribed, Transport, now_ms


@dataclass(eq=False)
class _Link:
    """One event loop's inbox of frames; any thread may put into it through the loop."""

    loop: asyncio.AbstractEventLoop
    deliver: Deliver
    subscribed: Subscribed
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)


class LocalTransport(Transport):
    """Every event loop of this process (daphne's, test loops, none for Celery's eager tasks) sees the same rooms."""

    def __init__(self):
        self._links: list[_Link] = []
        # The viewer registry: {stream_id: {member: expiry_ms}}.
        self._viewers: dict[str, dict[str, int]] = {}
        self._counts: dict[str, tuple[float, int | None]] = {}  # stream -> (next slot, last count sent)
        self._windows: dict[str, collections.deque] = {}
        self._slow: dict[str, float] = {}
        self._lock = threading.Lock()

    # Any thread ----------------------------------------------------------------------------------
    def room_publish(self, stream_id: str, text: str) -> None:
        for link in list(self._links):
            self._put(link, stream_id, text)

    @staticmethod
    def _put(link: _Link, stream_id: str, text: str) -> None:
        """Queue a frame on the link's loop, from any thread (a sync service in a worker thread, say)."""
        if link.loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is link.loop:
            link.queue.put_nowait((stream_id, text))
        else:
            link.loop.call_soon_threadsafe(link.queue.put_nowait, (stream_id, text))

    def rate_limit_hit(self, *, key: str, limit: int, window_seconds: float) -> float:
        with self._lock:
            now = time.monotonic()
            hits = self._windows.setdefault(key, collections.deque())
            while hits and hits[0] <= now - window_seconds:
                hits.popleft()
            if len(hits) >= limit:
                return max(0.001, hits[0] + window_seconds - now)
            hits.append(now)
            return 0

    def slow_mode_hit(self, *, key: str, seconds: int) -> float:
        with self._lock:
            now = time.monotonic()
            until = self._slow.get(key, 0)
            if until > now:
                return until - now
            self._slow[key] = now + seconds
            return 0

    # One event loop ------------------------------------------------------------------------------
    def link_open(self, loop: asyncio.AbstractEventLoop, *, deliver: Deliver, subscribed: Subscribed) -> _Link:
        link = _Link(loop=loop, deliver=deliver, subscribed=subscribed)
        self._links.append(link)
        return link

    async def link_close(self, link: _Link) -> None:
        if link in self._links:
            self._links.remove(link)

    async def room_read(self, link: _Link) -> None:
        while True:
            stream_id, text = await link.queue.get()
            await link.deliver(stream_id, text)

    async def room_subscribe(self, link: _Link, stream_id: str) -> None:
        # Every link receives every room's frames: the room is live at once.
        link.subscribed(stream_id)

    async def room_unsubscribe(self, link: _Link, stream_id: str) -> None:
        pass

    async def room_publish_async(self, link: _Link, stream_id: str, text: str) -> None:
        self.room_publish(stream_id, text)

    async def viewer_add(self, link: _Link, *, stream_id: str, member: str, limit: int, ttl_ms: int) -> int:
        now = now_ms()
        viewer = member.split("|", 1)[0]
        viewers = self._viewers.setdefault(stream_id, {})
        for key in [key for key, expiry in viewers.items() if expiry <= now]:
            del viewers[key]
        distinct = {key.split("|", 1)[0] for key in viewers}
        if viewer not in distinct and limit and len(distinct) >= limit:
            return -1
        viewers[member] = now + ttl_ms
        return len(distinct | {viewer})

    async def viewer_remove(self, link: _Link, *, stream_id: str, member: str) -> None:
        self._viewers.get(stream_id, {}).pop(member, None)

    async def viewer_count(self, link: _Link, *, stream_id: str) -> int:
        now = now_ms()
        viewers = self._viewers.get(stream_id, {})
        return len({key.split("|", 1)[0] for key, expiry in viewers.items() if expiry > now})

    async def viewers_refresh(self, link: _Link, *, members: dict[str, set[str]], ttl_ms: int) -> None:
        expiry = now_ms() + ttl_ms
        for stream_id, stream_members in members.items():
            viewers = self._viewers.setdefault(stream_id, {})
            for member in stream_members:
                viewers[member] = expiry

    async def count_slot_take(self, link: _Link, *, stream_id: str, interval_seconds: float) -> float:
        now = time.monotonic()
        next_slot, last = self._counts.get(stream_id, (0.0, None))
        if next_slot > now:
            return next_slot - now
        self._counts[stream_id] = (now + interval_seconds, last)
        return 0

    async def count_swap(self, link: _Link, *, stream_id: str, count: int) -> int | None:
        next_slot, last = self._counts.get(stream_id, (0.0, None))
        self._counts[stream_id] = (next_slot, count)
        return last
