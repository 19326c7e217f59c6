"""Two real daphne processes on the real Redis: one room, one chat, one viewer count."""

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import websockets
from django.conf import settings
from django.db import connection

from accounts.tests.factories import UserFactory, token_for
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    )


@pytest.fixture
def daphnes():
    if not settings.REDIS_URL or connection.vendor != "postgresql":
        pytest.skip("needs REDIS_URL and PostgreSQL (separate processes share the test database)")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "VIEWER_COUNT_INTERVAL_SECONDS": "0.2",
        "VIEWER_TTL_SECONDS": "2",
        "VIEWER_HEARTBEAT_SECONDS": "0.5",
        "LOG_LEVEL": "warning",
    }
    processes, ports = [], []
    for _ in range(2):
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "livestream_site.asgi:application",
        ]
        processes.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        )
        ports.append(port)
    try:
        for port, process in zip(ports, processes, strict=True):
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except OSError:
                    assert process.poll() is None, process.stderr.read().decode()
                    assert time.monotonic() < deadline, "daphne did not start"
                    time.sleep(0.2)
        yield processes, ports
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


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
