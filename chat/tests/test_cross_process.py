"""Two real daphne processes on the real Redis: one room, one chat, one viewer count."""

import asyncio
import json

import pytest
import websockets
from django.conf import settings
from django.db import connection

from accounts.tests.factories import UserFactory, token_for
from livestream_site.testing.processes import daphne_server
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

VIEWER_TTL_SECONDS = 2


@pytest.fixture
def daphnes():
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (separate processes share the test database)")
    env = {
        "REDIS_URL": settings.REDIS_URL,
        "VIEWER_COUNT_INTERVAL_SECONDS": "0.2",
        "VIEWER_TTL_SECONDS": str(VIEWER_TTL_SECONDS),
        "VIEWER_HEARTBEAT_SECONDS": "0.5",
        "LOG_LEVEL": "warning",
    }
    with daphne_server(env=env) as first, daphne_server(env=env) as second:
        yield [first.process, second.process], [first.port, second.port]


async def _next(socket_, event: str, predicate=lambda data: True) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket_.recv(), 10))
        if frame["event"] == event and predicate(frame["data"]):
            return frame["data"]
        assert frame["event"] != "error", frame


def test_a_viewer_on_one_process_hears_a_message_sent_on_the_other(daphnes, artist):
    processes, ports = daphnes
    stream = stream_factory(artist=artist, status="live")
    viewers = [UserFactory(), UserFactory()]
    tokens = [token_for(user) for user in viewers]

    async def scenario():
        urls = [
            f"ws://127.0.0.1:{port}/ws/livestream/?token={token}" for port, token in zip(ports, tokens, strict=True)
        ]
        async with websockets.connect(urls[0]) as first, websockets.connect(urls[1]) as second:
            join = json.dumps({"event": "joinStream", "data": {"streamId": str(stream.id)}})
            await first.send(join)
            assert (await _next(first, "joinedStream"))["viewerCount"] == 1
            await second.send(join)
            assert (await _next(second, "joinedStream"))["viewerCount"] == 2
            # Both processes report the same count: 2.
            await _next(first, "viewerCountUpdate", lambda data: data["viewerCount"] == 2)

            message = {"streamId": str(stream.id), "message": "from process two", "clientMessageId": "x1"}
            await second.send(json.dumps({"event": "sendChatMessage", "data": message}))
            received = await _next(first, "newChatMessage")
            assert received["message"] == "from process two"
            assert received["user"] == {"id": viewers[1].id, "username": viewers[1].username}
            echoed = await _next(second, "newChatMessage")
            assert echoed["id"] == received["id"]

            # The second process dies without a goodbye: its viewer expires and the count corrects.
            processes[1].kill()
            await _next(first, "viewerCountUpdate", lambda data: data["viewerCount"] == 1)

    asyncio.run(scenario())
    stream.refresh_from_db()
    assert stream.peak_viewers == 2


def test_viewers_of_a_killed_process_reconnect_to_the_other_and_count_once(daphnes, artist):
    """A web process dies under its viewers: they reconnect to the other process and join again at once.
    Until the dead connection's entry expires the user has two connections in the registry, one of them
    dead: still one viewer. After the TTL the count is still right, and chat reaches them."""
    processes, ports = daphnes
    stream = stream_factory(artist=artist, status="live")
    staying, moving = UserFactory(), UserFactory()
    tokens = {user.id: token_for(user) for user in (staying, moving, artist)}
    join = json.dumps({"event": "joinStream", "data": {"streamId": str(stream.id)}})

    def url(port, user):
        return f"ws://127.0.0.1:{port}/ws/livestream/?token={tokens[user.id]}"

    async def scenario():
        async with (
            websockets.connect(url(ports[0], staying)) as first,
            websockets.connect(url(ports[0], artist)) as host,
        ):
            await first.send(join)
            await _next(first, "joinedStream")
            await host.send(join)
            await _next(host, "joinedStream")
            doomed = await websockets.connect(url(ports[1], moving))
            await doomed.send(join)
            assert (await _next(doomed, "joinedStream"))["viewerCount"] == 2

            processes[1].kill()  # no goodbye: its socket just drops
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(doomed.recv(), 10)
            async with websockets.connect(url(ports[0], moving)) as back:
                await back.send(join)
                assert (await _next(back, "joinedStream"))["viewerCount"] == 2  # the same user: once
                # The dead connection's entry expires (TTL 2 s); the user stays counted through the new one.
                await asyncio.sleep(VIEWER_TTL_SECONDS + 1.5)
                await host.send(
                    json.dumps(
                        {"event": "sendChatMessage", "data": {"streamId": str(stream.id), "message": "welcome back"}}
                    )
                )
                assert (await _next(back, "newChatMessage"))["message"] == "welcome back"
                await back.send(json.dumps({"event": "joinStream", "data": {"streamId": str(stream.id)}}))
                assert (await _next(back, "joinedStream"))["viewerCount"] == 2

    asyncio.run(scenario())
