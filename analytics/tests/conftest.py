"""Fixtures of the analytics tests: the event buffer on Redis and in-process, WebSocket clients with
chosen handshake headers and client address, and draining the buffer as the worker would."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings

from accounts.tests.factories import token_for
from analytics import services
from analytics.buffer import buffer_get
from chat.tests.conftest import Client
from livestream_site.asgi import application
from streams.tests.factories import stream_factory


@pytest.fixture(params=["redis", "local"])
def event_buffer(request):
    """The buffer of each kind, empty: Redis Streams (REDIS_URL of the run) and the in-process one."""
    if request.param == "redis" and not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    overrides = {"REDIS_URL": ""} if request.param == "local" else {}
    with override_settings(**overrides):
        buffer = buffer_get()
        buffer.clear()
        yield buffer
        buffer.clear()


@pytest.fixture
def redis_buffer():
    """The Redis buffer alone (for what only Redis has: pending entries of other processes)."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    buffer = buffer_get()
    buffer.clear()
    yield buffer
    buffer.clear()


def drain() -> int:
    """Write everything buffered, as the worker's analytics_events_write does."""
    total = 0
    while count := services.events_write_batch():
        total += count
    return total


@pytest.fixture
def adrain():
    return database_sync_to_async(drain)


@pytest.fixture
async def ws():
    """connect(user=None, headers=[(b"name", b"value")], client=("addr", port)) -> chat's test Client."""
    clients: list[Client] = []

    async def connect(user=None, *, headers=None, client=("127.0.0.1", 50000)):
        path = "/ws/livestream/"
        if user is not None:
            path += f"?token={await database_sync_to_async(token_for)(user)}"

        async def app(scope, receive, send):  # the server's view of the peer, as daphne fills it
            return await application(dict(scope, client=list(client)), receive, send)

        communicator = WebsocketCommunicator(app, path, headers=headers or [])
        connected, _ = await communicator.connect()
        assert connected
        clients.append(Client(communicator))
        return clients[-1]

    yield connect
    for client in clients:
        try:
            await client.communicator.disconnect()
        except Exception:
            pass


@pytest.fixture
def make_stream(transactional_db, artist):
    def make(**fields):
        fields.setdefault("artist", artist)
        fields.setdefault("status", "live")
        return stream_factory(**fields)

    return make
