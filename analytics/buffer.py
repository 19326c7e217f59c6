"""The durable buffer of analytics events: Redis Streams with a consumer group, or an in-process queue.

Session events and playback reports are appended here on the request path and written to PostgreSQL
in batches by `analytics.services.events_write_batch`. An entry read by a writer stays
pending until the writer acknowledges it, which it does only after its rows are committed; an entry
left pending longer than `ANALYTICS_CLAIM_IDLE_SECONDS` (its writer died between the read and the
acknowledgement) is claimed by the next writer and written again, which the writer makes harmless
(reports are unique by event id, session updates are idempotent).

An entry holds the events of one `append` (a beacon's reports travel together: one XADD, one entry to
read and acknowledge, however many reports it carries); `read` counts entries.

Which implementation runs is chosen from settings.REDIS_URL; everything else uses `EventBuffer`.
"""

import itertools
import os
import socket
import threading
import time
from collections import OrderedDict

import orjson
import redis
from django.conf import settings

STREAM_KEY = "analytics:events"
GROUP = "writers"

# (entry id, the events appended together, whether a writer was handed it before: claimed from a writer
# that never acknowledged it, so some of its rows may be stored already)
Entry = tuple[str, list, bool]


def consumer_name() -> str:
    """This process's name in the consumer group (a restarted process is a new consumer)."""
    return f"{socket.gethostname()}-{os.getpid()}"


class EventBuffer:
    """Append events; read them as a consumer; acknowledge them once written."""

    def append(self, events: list[dict]) -> None:
        raise NotImplementedError

    def read(self, *, consumer: str, count: int, claim_idle_seconds: float) -> list[Entry]:
        """Up to `count` entries: first those pending longer than `claim_idle_seconds` (claimed), then new ones."""
        raise NotImplementedError

    def ack(self, entry_ids: list[str]) -> None:
        raise NotImplementedError

    def backlog(self) -> int:
        """Entries not yet acknowledged (waiting or being written)."""
        raise NotImplementedError

    def clear(self) -> None:
        """Drop everything (tests)."""
        raise NotImplementedError


class RedisEventBuffer(EventBuffer):
    """A Redis stream capped at ANALYTICS_BUFFER_MAXLEN (approximately), read through one consumer group."""

    def __init__(self, url: str, key: str = STREAM_KEY):
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.key = key
        self._group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def append(self, events: list[dict]) -> None:
        if not events:
            return
        self.client.xadd(
            self.key, {"e": orjson.dumps(events)}, maxlen=settings.ANALYTICS_BUFFER_MAXLEN, approximate=True
        )

    def read(self, *, consumer: str, count: int, claim_idle_seconds: float) -> list[Entry]:
        self._ensure_group()
        try:
            return self._read(consumer, count, claim_idle_seconds)
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            # The stream was deleted (flushed) since: make the group again.
            self._group_ready = False
            self._ensure_group()
            return self._read(consumer, count, claim_idle_seconds)

    def _read(self, consumer: str, count: int, claim_idle_seconds: float) -> list[Entry]:
        entries: list[Entry] = []
        # Entries of a writer that died between read and ack: claimed once idle long enough.
        claimed = self.client.xautoclaim(
            self.key, GROUP, consumer, min_idle_time=int(claim_idle_seconds * 1000), start_id="0-0", count=count
        )
        messages, deleted = claimed[1], claimed[2] if len(claimed) > 2 else []
        if deleted:  # trimmed away by MAXLEN while pending: nothing left to write
            self.client.xack(self.key, GROUP, *deleted)
        entries += _decoded(messages, redelivered=True)
        if len(entries) < count:
            response = self.client.xreadgroup(GROUP, consumer, {self.key: ">"}, count=count - len(entries))
            for _stream, stream_messages in response or []:
                entries += _decoded(stream_messages, redelivered=False)
        return entries

    def ack(self, entry_ids: list[str]) -> None:
        """Acknowledge entries and delete them, together: the stream holds only what is not written yet
        (Redis's memory follows the backlog, not the history, and MAXLEN caps the backlog)."""
        if entry_ids:
            with self.client.pipeline(transaction=True) as pipe:
                pipe.xack(self.key, GROUP, *entry_ids)
                pipe.xdel(self.key, *entry_ids)
                pipe.execute()

    def backlog(self) -> int:
        # Acknowledged entries are deleted: the stream's length is what waits or is being written.
        return int(self.client.xlen(self.key))

    def clear(self) -> None:
        self.client.delete(self.key)
        self._group_ready = False


def _decoded(messages, *, redelivered: bool) -> list[Entry]:
    entries = []
    for entry_id, fields in messages:
        if fields and "e" in fields:
            try:
                events = orjson.loads(fields["e"])
            except orjson.JSONDecodeError:
                events = [fields["e"]]  # written by something else: the writer drops what it cannot read
            entries.append((entry_id, events if isinstance(events, list) else [events], redelivered))
    return entries


class LocalEventBuffer(EventBuffer):
    """The embedded default (no Redis): the same read/claim/ack protocol in this process's memory."""

    def __init__(self):
        self.lock = threading.Lock()
        self.waiting: OrderedDict[str, list] = OrderedDict()
        self.pending: dict[str, tuple[list, float]] = {}  # entry id -> (events, delivered at)
        self.ids = itertools.count(1)

    def append(self, events: list[dict]) -> None:
        if not events:
            return
        with self.lock:
            self.waiting[f"{next(self.ids)}-0"] = list(events)
            if len(self.waiting) > settings.ANALYTICS_BUFFER_MAXLEN:
                self.waiting.popitem(last=False)

    def read(self, *, consumer: str, count: int, claim_idle_seconds: float) -> list[Entry]:
        now = time.monotonic()
        entries: list[Entry] = []
        with self.lock:
            for entry_id, (event, delivered_at) in list(self.pending.items()):
                if len(entries) >= count:
                    break
                if now - delivered_at >= claim_idle_seconds:
                    self.pending[entry_id] = (event, now)
                    entries.append((entry_id, event, True))
            while self.waiting and len(entries) < count:
                entry_id, event = self.waiting.popitem(last=False)
                self.pending[entry_id] = (event, now)
                entries.append((entry_id, event, False))
        return entries

    def ack(self, entry_ids: list[str]) -> None:
        with self.lock:
            for entry_id in entry_ids:
                self.pending.pop(entry_id, None)

    def backlog(self) -> int:
        with self.lock:
            return len(self.waiting) + len(self.pending)

    def clear(self) -> None:
        with self.lock:
            self.waiting.clear()
            self.pending.clear()


_buffers: dict[str, EventBuffer] = {}
_buffers_lock = threading.Lock()


def buffer_get() -> EventBuffer:
    """This process's buffer for settings.REDIS_URL (Redis when set, else in-process)."""
    url = settings.REDIS_URL
    buffer = _buffers.get(url)
    if buffer is None:
        with _buffers_lock:
            buffer = _buffers.get(url)
            if buffer is None:
                buffer = _buffers[url] = RedisEventBuffer(url) if url else LocalEventBuffer()
    return buffer


def buffer_is_local() -> bool:
    return isinstance(buffer_get(), LocalEventBuffer)
