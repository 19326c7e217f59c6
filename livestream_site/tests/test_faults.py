"""Faults with real processes: Redis killed and restarted under a live chat on two web processes.

The test runs its own Redis on a free port (never the shared one), two daphne processes on it, and
viewers on each. What must hold (audit F2, F3): during the outage every request gets a clear answer
(`unavailable`, or `broadcast_failed` for a message that was stored); after Redis returns, the rooms
work again on both processes, the counts heal within the viewer TTL, and nothing stored is lost.
"""

import asyncio
import json

import pytest
import websockets
from django.db import connection

from accounts.tests.factories import UserFactory, token_for
from chat.models import LiveStreamChat
from livestream_site.testing.processes import daphne_server, redis_server
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


async def _next(socket_, event: str, predicate=lambda data: True, seconds: float = 15) -> dict:
    """The next frame of `event` matching `predicate` (other frames skipped)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        left = deadline - asyncio.get_running_loop().time()
        frame = json.loads(await asyncio.wait_for(socket_.recv(), max(left, 0.01)))
        if frame["event"] == event and predicate(frame["data"]):
            return frame["data"]


def _frame(event: str, **data) -> str:
    return json.dumps({"event": event, "data": data})


def test_redis_killed_and_restarted_under_a_live_chat(tmp_path, artist):
    if connection.vendor != "postgresql":
        pytest.skip("separate processes share the test database: PostgreSQL")
    stream = stream_factory(artist=artist, status="live")
    sid = str(stream.id)
    fans = [UserFactory() for _ in range(3)]
    tokens = [token_for(user) for user in [artist, *fans]]

    with redis_server(tmp_path) as redis:
        env = {
            "REDIS_URL": redis.url,
            "VIEWER_COUNT_INTERVAL_SECONDS": "0.2",
            "VIEWER_TTL_SECONDS": "3",
            "VIEWER_HEARTBEAT_SECONDS": "0.5",
            "LOG_LEVEL": "warning",
        }
        with daphne_server(env=env) as one, daphne_server(env=env) as two:

            def url(server, token):
                return f"ws://127.0.0.1:{server.port}/ws/livestream/?token={token}"

            async def scenario():
                async with (
                    websockets.connect(url(one, tokens[0])) as host,
                    websockets.connect(url(one, tokens[1])) as fan1,
                    websockets.connect(url(two, tokens[2])) as fan2,
                    websockets.connect(url(two, tokens[3])) as fan3,
                ):
                    for socket_ in (host, fan1, fan2):
                        await socket_.send(_frame("joinStream", streamId=sid))
                        await _next(socket_, "joinedStream")
                    await _next(fan1, "viewerCountUpdate", lambda d: d["viewerCount"] == 2)

                    redis.kill()
                    # The artist (no rate limit to ask Redis) gets the message stored, and is told the
                    # room did not hear it.
                    await host.send(_frame("sendChatMessage", streamId=sid, message="during the outage"))
                    failed = await _next(host, "error")
                    assert failed["code"] == "broadcast_failed", failed
                    # A fan's message needs the shared rate limit: refused, clearly.
                    await fan1.send(_frame("sendChatMessage", streamId=sid, message="me too"))
                    assert (await _next(fan1, "error"))["code"] == "unavailable"
                    # A join during the outage is refused, never answered with a room that is not there.
                    await fan3.send(_frame("joinStream", streamId=sid))
                    refused = await _next(fan3, "error")
                    assert refused["code"] == "unavailable", refused

                    redis.start()  # empty: the viewer registry and every count are gone
                    # The heartbeats register the connections again: the count heals to 2.
                    await _next(fan1, "viewerCountUpdate", lambda d: d["viewerCount"] == 2, seconds=20)
                    # The room works again on both processes: fan3 joins process two, chat crosses.
                    await fan3.send(_frame("joinStream", streamId=sid))
                    assert (await _next(fan3, "joinedStream"))["streamId"] == sid
                    await _next(fan1, "viewerCountUpdate", lambda d: d["viewerCount"] == 3, seconds=20)
                    await fan2.send(_frame("sendChatMessage", streamId=sid, message="back again"))
                    assert (await _next(fan1, "newChatMessage"))["message"] == "back again"
                    assert (await _next(host, "newChatMessage"))["message"] == "back again"

            asyncio.run(scenario())

    stored = list(LiveStreamChat.objects.filter(stream=stream).values_list("message", flat=True).order_by("id"))
    assert stored == ["during the outage", "back again"]
