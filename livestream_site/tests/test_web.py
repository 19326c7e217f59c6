"""The web tier of `make run` with Redis: web processes behind the project's nginx, as a client meets them."""

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets
from django.conf import settings
from django.db import connection

from accounts.tests.factories import UserFactory, token_for
from livestream_site.testing.processes import web_tier
from livestream_site.web import nginx_config_render, socket_paths
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tier(tmp_path):
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (separate processes share the test database)")
    env = {
        "REDIS_URL": settings.REDIS_URL,
        "TRUSTED_PROXY_COUNT": "1",
        "VIEWER_COUNT_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "warning",
    }
    with web_tier(run_dir=tmp_path / "run", env=env, processes=2) as server:
        yield server


def _health(server) -> dict:
    with urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as response:
        return json.loads(response.read())


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


async def _next(socket_, event: str, predicate=lambda data: True) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket_.recv(), 10))
        if frame["event"] == event and predicate(frame["data"]):
            return frame["data"]
        assert frame["event"] != "error", frame


def test_every_process_serves_and_a_dead_one_is_started_again(tier):
    health = _health(tier)
    assert health["status"] == "ok"
    assert health["web"]["processes"] == 2 and health["web"]["answering"] == 2
    # nginx spreads requests over both processes.
    assert {_health(tier)["web"]["process"] for _ in range(10)} == {0, 1}

    web_processes = [pid for pid in _children(tier.process.pid) if "daphne" in Path(f"/proc/{pid}/cmdline").read_text()]
    assert len(web_processes) == 2
    os.kill(web_processes[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # the tier starts it again; meanwhile nginx sends requests to the other
        alive = [pid for pid in _children(tier.process.pid) if pid not in web_processes]
        if alive and _health(tier)["web"]["answering"] == 2:
            break
        assert time.monotonic() < deadline, "the dead web process was not started again"
        time.sleep(0.3)
    # ...and nginx sends requests to it again (each nginx worker keeps its own turn between the two, and
    # the attempts that met the dead socket went to the other: allow a few seconds of requests for it).
    served, until = set(), time.monotonic() + 10
    while served != {0, 1}:
        assert time.monotonic() < until, f"the restarted web process gets no requests ({served})"
        served.add(_health(tier)["web"]["process"])
        time.sleep(0.05)


def test_websockets_through_nginx_share_rooms_and_count_viewers_by_their_forwarded_address(tier, artist):
    stream = stream_factory(artist=artist, status="live")
    sender = UserFactory()
    token = token_for(sender)
    base = f"ws://127.0.0.1:{tier.port}/ws/livestream/"
    join = json.dumps({"event": "joinStream", "data": {"streamId": str(stream.id)}})

    async def scenario():
        # Two anonymous viewers behind a proxy that appended their addresses (TRUSTED_PROXY_COUNT=1):
        # two viewers, although both sockets come from 127.0.0.1.
        first = await websockets.connect(base, additional_headers={"X-Forwarded-For": "198.51.100.7"})
        second = await websockets.connect(base, additional_headers={"X-Forwarded-For": "198.51.100.8"})
        talker = await websockets.connect(f"{base}?token={token}")
        try:
            for socket_ in (first, second, talker):
                await socket_.send(join)
                await _next(socket_, "joinedStream")
            await _next(first, "viewerCountUpdate", lambda data: data["viewerCount"] == 3)
            # A socket of the same forwarded address is the same viewer.
            again = await websockets.connect(base, additional_headers={"X-Forwarded-For": "198.51.100.7"})
            await again.send(join)
            assert (await _next(again, "joinedStream"))["viewerCount"] == 3
            await again.close()
            message = {"streamId": str(stream.id), "message": "across the tier", "clientMessageId": "t1"}
            await talker.send(json.dumps({"event": "sendChatMessage", "data": message}))
            for socket_ in (first, second, talker):
                assert (await _next(socket_, "newChatMessage"))["message"] == "across the tier"
        finally:
            for socket_ in (first, second, talker):
                await socket_.close()

    asyncio.run(scenario())


def test_the_client_address_is_the_forwarded_one_for_django_too(tier):
    """REMOTE_ADDR (throttles, the loopback-only /metrics) is the client's, TRUSTED_PROXY_COUNT hops back."""

    def metrics_status(forwarded: str | None) -> int:
        request = urllib.request.Request(f"{tier.url}/metrics")
        if forwarded:
            request.add_header("X-Forwarded-For", forwarded)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    assert metrics_status(None) == 200  # this test's own loopback address
    assert metrics_status("203.0.113.9") == 403  # a client behind the trusted proxy is not loopback
    assert metrics_status("127.0.0.1, 203.0.113.9") == 403  # what the client itself sent is not trusted


def test_the_nginx_config_proxies_websockets_and_keeps_socket_io_sticky(tmp_path, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    sockets = socket_paths(tmp_path, 3)
    text = nginx_config_render(run_dir=tmp_path, host="127.0.0.1", port=8000, sockets=sockets).read_text()
    for path in sockets:
        assert text.count(f"server unix:{path} ") == 2  # in both upstreams
    sticky = text.split("upstream web_sticky", 1)[1].split("}", 1)[0]
    assert "hash " in sticky and "consistent" in sticky
    assert "location /socket.io/ {\n            proxy_pass http://web_sticky;" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header X-Real-IP $remote_addr;" in text
    # Without trusted proxies a client cannot claim HTTPS: the scheme is nginx's own.
    assert "X-Forwarded-Proto $scheme;" in text
