"""WebSocket test helpers: connect through the real ASGI application, always disconnect."""

import json

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.tests.factories import token_for
from livestream_site.asgi import application
from streams.tests.factories import stream_factory

from .socketio_node import node_socketio  # noqa: F401 (a fixture: socket.io-client sockets run by Node)

# Frames the server sends unasked (counts; quality advice after a bad report), skipped unless expected.
SKIPPED = {"viewerCountUpdate", "qualityAdvice"}


class Client:
    """A WebSocket client of ws/livestream/ that keeps every frame it received."""

    def __init__(self, communicator: WebsocketCommunicator):
        self.communicator = communicator
        self.frames: list[dict] = []
        self.raw: list[str] = []

    async def send(self, event: str, data=None) -> None:
        await self.communicator.send_to(text_data=json.dumps({"event": event, "data": data or {}}))

    async def send_text(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 3) -> dict:
        output = await self.communicator.receive_output(timeout)
        assert output["type"] == "websocket.send", output
        self.raw.append(output["text"])
        frame = json.loads(output["text"])
        self.frames.append(frame)
        return frame

    async def expect(self, event: str, timeout: float = 3, skip=SKIPPED) -> dict:
        """The next frame that is not in `skip`; it must be `event`. Returns its data."""
        while True:
            frame = await self.receive(timeout)
            if frame["event"] in skip and frame["event"] != event:
                continue
            assert frame["event"] == event, frame
            return frame["data"]

    async def expect_error(self, code: str, timeout: float = 3, skip=SKIPPED) -> dict:
        data = await self.expect("error", timeout, skip)
        assert data["code"] == code, data
        return data

    async def join(self, stream) -> dict:
        await self.send("joinStream", {"streamId": str(stream.id)})
        return await self.expect("joinedStream")

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout)


@pytest.fixture
async def ws():
    """connect(user=None, headers=None, query=None) -> Client, disconnected at the end of the test."""
    clients: list[Client] = []

    async def connect(user=None, *, headers=None, query=None, expect_refused=False):
        path = "/ws/livestream/"
        if user is not None:
            token = await database_sync_to_async(token_for)(user)
            path += f"?token={token}"
        elif query:
            path += f"?{query}"
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        connected, _ = await communicator.connect()
        client = Client(communicator)
        clients.append(client)
        assert connected is not expect_refused
        return client

    yield connect
    for client in clients:
        try:
            await client.communicator.disconnect()
        except Exception:  # already closed by the server
            pass


@pytest.fixture
def live_stream(transactional_db, artist):
    return stream_factory(artist=artist, status="live")


@pytest.fixture
def make_stream(transactional_db, artist):
    def make(**fields):
        fields.setdefault("artist", artist)
        return stream_factory(**fields)

    return make
