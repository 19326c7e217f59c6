"""What a WebSocket join reads, in the fewest round trips: the stream, reused briefly per event loop, and
viewer sessions opened in batches.

A storm of joins to one stream would otherwise read the same row once per viewer, each read a hop to
the one database thread (`database_sync_to_async`). Here concurrent joins share one read, and later joins
reuse it while the stream's room is subscribed and has received no frame since the read (every service
that changes a stream or its chat settings announces it to the room after commit, which moves the room's
epoch), for at most WS_JOIN_CACHE_SECONDS, and until a save in this process.
"""

import asyncio
import time
import weakref
from dataclasses import dataclass

from channels.db import database_sync_to_async
from django.conf import settings

from analytics import services as analytics_services
from streams.models import LiveStream

from .selectors import stream_for_join


@dataclass
class _Read:
    stream: LiveStream
    epoch: int | None  # the room's epoch when the read began; None: not subscribed then, never reused
    until: float  # time.monotonic() after which it is not reused


class _LoopJoins:
    """One event loop's reads in flight and reusable, and its batch of sessions to open."""

    def __init__(self):
        self.reads: dict[str, _Read] = {}
        self.in_flight: dict[str, asyncio.Task] = {}
        self.sessions: list[tuple[dict, asyncio.Future]] = []
        self.sessions_task: asyncio.Task | None = None


_loops: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopJoins]" = weakref.WeakKeyDictionary()


def _joins() -> _LoopJoins:
    loop = asyncio.get_running_loop()
    joins = _loops.get(loop)
    if joins is None:
        joins = _loops[loop] = _LoopJoins()
    return joins


def stream_forget(stream_id) -> None:
    """Drop every reusable read of a stream (any thread): it was saved in this process."""
    while True:
        try:  # an event loop's first join may add to the loops meanwhile: then look again
            every = list(_loops.values())
        except RuntimeError:
            continue
        break
    for joins in every:
        joins.reads.pop(str(stream_id), None)


async def join_stream_read(*, hub, stream_id: str) -> LiveStream:
    """The stream and its chat settings for a join (NotFound when there is none): no query when reusable."""
    joins = _joins()
    epoch = hub.room_epoch(stream_id)
    read = joins.reads.get(stream_id)
    if read is not None and epoch is not None and read.epoch == epoch and time.monotonic() < read.until:
        return read.stream
    task = joins.in_flight.get(stream_id)
    if task is None:
        task = joins.in_flight[stream_id] = asyncio.ensure_future(_read(joins, stream_id, epoch))
    # Shielded: a join that goes away does not cancel the read the others wait for.
    return await asyncio.shield(task)


async def _read(joins: _LoopJoins, stream_id: str, epoch: int | None) -> LiveStream:
    try:
        stream = await database_sync_to_async(stream_for_join)(stream_id=stream_id)
    finally:
        joins.in_flight.pop(stream_id, None)
    if epoch is not None and settings.WS_JOIN_CACHE_SECONDS > 0:
        joins.reads[stream_id] = _Read(stream, epoch, time.monotonic() + settings.WS_JOIN_CACHE_SECONDS)
    return stream


async def session_open(**session) -> str:
    """Open a viewer session (analytics_services.session_open's arguments); joins at once share one write."""
    joins = _joins()
    future = asyncio.get_running_loop().create_future()
    joins.sessions.append((session, future))
    if joins.sessions_task is None:
        joins.sessions_task = asyncio.ensure_future(_sessions_write(joins))
    return await asyncio.shield(future)


async def _sessions_write(joins: _LoopJoins) -> None:
    try:
        while joins.sessions:
            batch, joins.sessions = joins.sessions, []
            try:
                ids = await database_sync_to_async(analytics_services.sessions_open)(
                    sessions=[session for session, _ in batch]
                )
            except Exception as error:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), session_id in zip(batch, ids, strict=True):
                if not future.done():
                    future.set_result(session_id)
    finally:
        joins.sessions_task = None
