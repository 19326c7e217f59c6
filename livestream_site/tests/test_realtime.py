"""The real-time transport's one interface, held to the same contract by both implementations (Redis, in-process)."""

import asyncio
import threading
import uuid

import pytest

from livestream_site.realtime import Hub, LocalTransport, RedisTransport, viewer_peak_hook_set
from livestream_site.realtime import hub as hub_module


@pytest.fixture(params=["local", "redis"])
def transport(request, settings):
    if request.param == "local":
        return LocalTransport()
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    return RedisTransport(settings.REDIS_URL)


class Endpoint:
    """One event loop's link, with the frames it was handed and the rooms it was told are subscribed."""

    def __init__(self, transport):
        self.transport = transport
        self.frames: list[tuple[str, str]] = []
        self.arrived = asyncio.Event()
        self.subscribed: dict[str, asyncio.Event] = {}
        self.link = transport.link_open(asyncio.get_running_loop(), deliver=self._deliver, subscribed=self._subscribed)
        self.reader: asyncio.Task | None = None

    async def _deliver(self, stream_id: str, text: str) -> None:
        self.frames.append((stream_id, text))
        self.arrived.set()

    def _subscribed(self, stream_id: str) -> None:
        self.subscribed.setdefault(stream_id, asyncio.Event()).set()

    async def subscribe(self, stream_id: str) -> None:
        self.subscribed.setdefault(stream_id, asyncio.Event())
        await self.transport.room_subscribe(self.link, stream_id)
        if self.reader is None:  # Redis's pub/sub has no connection to read before its first subscription
            self.reader = asyncio.create_task(self.transport.room_read(self.link))
        await asyncio.wait_for(self.subscribed[stream_id].wait(), 5)

    async def frame(self) -> tuple[str, str]:
        await asyncio.wait_for(self.arrived.wait(), 5)
        self.arrived.clear()
        return self.frames.pop(0)

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            try:
                await self.reader
            except asyncio.CancelledError:
                pass
        await self.transport.link_close(self.link)


@pytest.fixture
async def endpoint(transport):
    endpoint = Endpoint(transport)
    yield endpoint
    await endpoint.close()


def _stream() -> str:
    return str(uuid.uuid4())  # a fresh stream, so Redis keys of other runs never count


async def _until(condition, seconds: float = 5) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def test_a_frame_published_from_another_thread_or_the_loop_reaches_a_subscribed_link(transport, endpoint):
    stream = _stream()
    await endpoint.subscribe(stream)
    # A sync service in a worker thread (Django's sync views, eager Celery tasks) publishes like this.
    await asyncio.to_thread(transport.room_publish, stream, '{"event":"a"}')
    assert await endpoint.frame() == (stream, '{"event":"a"}')
    await transport.room_publish_async(endpoint.link, stream, '{"event":"b"}')
    assert await endpoint.frame() == (stream, '{"event":"b"}')


async def test_the_seat_check_counts_distinct_viewers_and_refuses_only_a_new_one_when_full(transport, endpoint):
    stream = _stream()

    async def add(member: str, limit: int) -> int:
        return await transport.viewer_add(endpoint.link, stream_id=stream, member=member, limit=limit, ttl_ms=10_000)

    assert await add("u1|c1", 2) == 1
    assert await add("u1|c2", 2) == 1  # the same viewer on a second connection is still one viewer
    assert await add("u2|c3", 2) == 2
    assert await add("u3|c4", 2) == -1  # a new viewer of a full stream
    assert await add("u2|c5", 2) == 2  # a viewer already in may open another connection
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 2
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="u2|c3")
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 2  # u2 is still in on c5
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="u2|c5")
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 1
    assert await add("u3|c4", 0) == 2  # 0: no limit
    assert await add("u4|c6", 0) == 3


async def test_members_expire_unless_the_heartbeat_refreshes_them(transport, endpoint):
    stream = _stream()
    for member in ("u1|c1", "u2|c2"):
        await transport.viewer_add(endpoint.link, stream_id=stream, member=member, limit=0, ttl_ms=300)
    await transport.viewers_refresh(endpoint.link, members={stream: {"u1|c1"}}, ttl_ms=10_000)
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 2
    await asyncio.sleep(0.5)
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 1


async def test_a_viewer_counts_until_the_last_of_their_connections_expires_or_leaves(transport, endpoint):
    """The count is kept per viewer as connections come and go (no scan of the members): a connection's
    expiry, a repeated removal, or a refresh of a live connection never counts a viewer twice or drops one
    who still has a connection."""
    stream = _stream()

    async def add(member: str, ttl_ms: int) -> int:
        return await transport.viewer_add(endpoint.link, stream_id=stream, member=member, limit=0, ttl_ms=ttl_ms)

    assert await add("u1|short", 300) == 1
    assert await add("u1|long", 10_000) == 1
    assert await add("a9|c3", 10_000) == 2
    await transport.viewers_refresh(endpoint.link, members={stream: {"u1|long", "a9|c3"}}, ttl_ms=10_000)
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 2  # refreshing adds nobody
    await asyncio.sleep(0.5)  # u1's short connection expired; u1 is still in on the other
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 2
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="a9|c3")
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="a9|c3")  # twice: still one leave
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="u1|short")  # already expired
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 1
    assert await add("u1|short", 10_000) == 1  # back on a second connection: one viewer
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="u1|long")
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 1
    await transport.viewer_remove(endpoint.link, stream_id=stream, member="u1|short")
    assert await transport.viewer_count(endpoint.link, stream_id=stream) == 0
    assert await add("u2|c4", 10_000) == 1


async def test_the_heartbeat_registers_again_what_redis_lost(settings):
    """Audit F2: after Redis lost its data (a restart), the next heartbeat puts the live connections back,
    so the count heals within one heartbeat instead of undercounting for good."""
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    import redis

    transport = RedisTransport(settings.REDIS_URL)
    endpoint = Endpoint(transport)
    try:
        stream = _stream()
        members = {f"u{n}|c{n}" for n in range(5)}
        for member in members:
            await transport.viewer_add(endpoint.link, stream_id=stream, member=member, limit=0, ttl_ms=10_000)
        # What a restart does: every key of the registry is gone.
        redis.Redis.from_url(settings.REDIS_URL).delete("rt:viewers:" + stream, "rt:viewer-conns:" + stream)
        assert await transport.viewer_count(endpoint.link, stream_id=stream) == 0
        await transport.viewers_refresh(endpoint.link, members={stream: members}, ttl_ms=10_000)
        assert await transport.viewer_count(endpoint.link, stream_id=stream) == 5
    finally:
        await endpoint.close()


async def test_the_count_slot_is_taken_once_per_interval_and_the_last_count_is_swapped(transport, endpoint):
    stream = _stream()
    assert await transport.count_slot_take(endpoint.link, stream_id=stream, interval_seconds=10) == 0
    wait = await transport.count_slot_take(endpoint.link, stream_id=stream, interval_seconds=10)
    assert 0 < wait <= 10
    assert await transport.count_swap(endpoint.link, stream_id=stream, count=3) is None
    assert await transport.count_swap(endpoint.link, stream_id=stream, count=5) == 3


def test_rate_limit_and_slow_mode(transport):
    key = uuid.uuid4().hex
    assert transport.rate_limit_hit(key=key, limit=2, window_seconds=10) == 0
    assert transport.rate_limit_hit(key=key, limit=2, window_seconds=10) == 0
    assert 0 < transport.rate_limit_hit(key=key, limit=2, window_seconds=10) <= 10
    assert transport.slow_mode_hit(key=key, seconds=10) == 0
    assert 0 < transport.slow_mode_hit(key=key, seconds=10) <= 10


def test_a_lock_is_held_once_until_released_or_lapsed(transport):
    key = uuid.uuid4().hex
    token = transport.lock_acquire(key=key, ttl_ms=10_000, wait_seconds=0)
    assert token is not None
    assert transport.lock_acquire(key=key, ttl_ms=10_000, wait_seconds=0.05) is None  # held: not taken
    transport.lock_release(key=key, token=token)
    again = transport.lock_acquire(key=key, ttl_ms=10_000, wait_seconds=0)
    assert again is not None
    transport.lock_release(key=key, token=again)


def test_a_lock_of_a_holder_that_died_lapses(settings):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    transport = RedisTransport(settings.REDIS_URL)
    key = uuid.uuid4().hex
    stale = transport.lock_acquire(key=key, ttl_ms=100, wait_seconds=0)
    taken = transport.lock_acquire(key=key, ttl_ms=10_000, wait_seconds=2)  # once the first lapsed
    assert stale and taken
    transport.lock_release(key=key, token=stale)  # the late release of the dead holder frees nothing
    assert transport.lock_acquire(key=key, ttl_ms=10_000, wait_seconds=0) is None
    transport.lock_release(key=key, token=taken)


def test_the_in_process_transport_reaches_every_event_loop_from_any_thread():
    transport = LocalTransport()
    received: dict[int, tuple[str, str]] = {}
    listening = threading.Barrier(3)

    async def listen(index: int) -> None:
        endpoint = Endpoint(transport)
        await endpoint.subscribe("s1")
        await asyncio.to_thread(listening.wait)
        received[index] = await endpoint.frame()
        await endpoint.close()

    threads = [threading.Thread(target=asyncio.run, args=(listen(index),)) for index in range(2)]
    for thread in threads:
        thread.start()
    listening.wait()
    transport.room_publish("s1", "frame")
    for thread in threads:
        thread.join(10)
    assert received == {0: ("s1", "frame"), 1: ("s1", "frame")}


async def test_a_hub_tells_the_peak_hook_of_each_new_peak_from_a_worker_thread(settings):
    settings.VIEWER_COUNT_INTERVAL_SECONDS = 0.01
    calls: list[tuple[str, int, int]] = []

    def hook(*, stream_id: str, viewers: int) -> None:
        calls.append((stream_id, viewers, threading.get_ident()))

    previous = hub_module._viewer_peak_hook
    viewer_peak_hook_set(hook)
    try:
        room = Hub(asyncio.get_running_loop(), LocalTransport())
        for number, member in enumerate(["u1|c1", "u2|c2"], start=1):
            assert await room.viewer_add("s1", member, None) == number
            room.count_changed("s1")
            await _until(lambda number=number: len(calls) == number and not room.flush_tasks)
        await room.viewer_remove("s1", "u2|c2")  # down to 1: no new peak
        await room.viewer_remove("s1", "u1|c1")
        await _until(lambda: room.stopped)
    finally:
        viewer_peak_hook_set(previous)
    assert [(stream_id, viewers) for stream_id, viewers, _ in calls] == [("s1", 1), ("s1", 2)]
    assert threading.get_ident() not in {thread for _, _, thread in calls}  # never on the event loop


async def test_a_room_that_could_not_be_subscribed_is_retried_once_redis_is_back(tmp_path):
    """Audit F3: a join while Redis was down left the room recorded but never ready; joins after Redis
    returned waited 10 s and failed, and frames never reached the room on that process."""
    from livestream_site.realtime import RoomUnavailable
    from livestream_site.testing.processes import redis_server

    with redis_server(tmp_path) as server:
        hub = Hub(asyncio.get_running_loop(), RedisTransport(server.url))
        stream = _stream()
        received: list[str] = []

        class Connection:
            async def server_send(self, message):
                received.append(message["text"])

        server.kill()
        with pytest.raises(RoomUnavailable):
            await hub.room_join(stream, Connection())
        assert stream not in hub.rooms
        server.start()
        connection = Connection()
        await asyncio.wait_for(hub.room_join(stream, connection), 5)
        await hub.publish(stream, '{"event":"ping"}')
        await _until(lambda: received == ['{"event":"ping"}'])
        await hub.room_leave(stream, connection)


async def test_a_hub_encodes_each_frame_once_per_room_for_each_protocol():
    """Connections of another protocol (Socket.IO) name their encoding of a room frame: it is made once
    per frame and room, whatever the number of such viewers, and native viewers get the frame as is."""
    hub = Hub(asyncio.get_running_loop(), LocalTransport())
    stream = _stream()
    encodings: list[str] = []

    def shout(text: str) -> str:
        encodings.append(text)
        return text.upper()

    class Native:
        def __init__(self):
            self.messages = []

        async def server_send(self, message):
            self.messages.append(message)

    class Shouting(Native):
        frame_format = staticmethod(shout)

    natives, shouting = [Native(), Native()], [Shouting() for _ in range(3)]
    for connection in natives + shouting:
        await hub.room_join(stream, connection)
    for text in ['{"event":"a"}', '{"event":"b"}']:
        await hub.publish(stream, text)
    await _until(lambda: len(shouting[-1].messages) == 2 and len(natives[-1].messages) == 2)
    assert encodings == ['{"event":"a"}', '{"event":"b"}']
    assert all(c.messages == ['{"EVENT":"A"}', '{"EVENT":"B"}'] for c in shouting)
    assert all(
        c.messages
        == [{"type": "websocket.send", "text": '{"event":"a"}'}, {"type": "websocket.send", "text": '{"event":"b"}'}]
        for c in natives
    )
    for connection in natives + shouting:
        await hub.room_leave(stream, connection)


async def test_the_catalogue_reads_many_streams_counts_from_any_thread(transport, endpoint):
    """viewer_counts: what the home page shows for its live shows, from a sync view's thread, in one round
    trip; the same numbers the room's count gives, expired connections left out."""
    busy, quiet, nobody = _stream(), _stream(), _stream()
    await transport.viewer_add(endpoint.link, stream_id=quiet, member="u4|c5", limit=0, ttl_ms=200)
    for member, stream in (("u1|c1", busy), ("u1|c2", busy), ("a2|c3", busy), ("u3|c4", quiet)):
        await transport.viewer_add(endpoint.link, stream_id=stream, member=member, limit=0, ttl_ms=10_000)
    await asyncio.sleep(0.4)  # u4's connection expired
    counts = await asyncio.to_thread(transport.viewer_counts, [busy, quiet, nobody])
    assert counts == {busy: 2, quiet: 1, nobody: 0}
    assert await transport.viewer_count(endpoint.link, stream_id=busy) == 2
