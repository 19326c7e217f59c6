"""Socket.IO at /socket.io/, namespace /livestream: the real npm socket.io-client against real daphne processes.

The clients of the original module (its README's example, unchanged) and any socket.io-client 4.x
share rooms, counts, chat and moderation with the native WebSocket protocol, across processes
through Redis, on long-polling-then-WebSocket and on WebSocket alone.
"""

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from django.conf import settings
from django.test import Client as DjangoClient

from accounts.tests.factories import UserFactory, token_for
from chat import services as chat_services
from livestream_site.testing.processes import daphne_server
from streams.tests.factories import stream_factory

from .socketio_node import ORIGINAL_EXAMPLE

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PROCESS_ENV = {
    "VIEWER_COUNT_INTERVAL_SECONDS": "0.2",
    "VIEWER_TTL_SECONDS": "2",
    "VIEWER_HEARTBEAT_SECONDS": "0.5",
    "WS_FLOOD_LIMIT": "60",
    "LOG_LEVEL": "warning",
}

# The client's default (long-polling, then the upgrade to WebSocket), and WebSocket alone.
TRANSPORTS = {"default": {}, "websocket": {"transports": ["websocket"]}}


def _process_env() -> dict:
    if not settings.REDIS_URL:
        pytest.fail("the Socket.IO process tests need REDIS_URL (processes share rooms through Redis)")
    return {**PROCESS_ENV, "REDIS_URL": settings.REDIS_URL}


@pytest.fixture
def server():
    with daphne_server(env=_process_env()) as started:
        yield started


@pytest.fixture
def two_servers():
    env = _process_env()
    with daphne_server(env=env) as first, daphne_server(env=env) as second:
        yield first, second


def _started_on(clients, name: str, transports: str) -> None:
    """The socket connected, on long-polling then upgraded to WebSocket (default), or on WebSocket alone."""
    opened = clients.expect(name, "open")
    clients.expect(name, "connect")
    if transports == "default":
        assert opened["transport"] == "polling"
        assert clients.expect(name, "upgrade")["transport"] == "websocket"
    else:
        assert opened["transport"] == "websocket"


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_the_original_modules_example_runs_unchanged(server, node_socketio, artist, transports):
    stream = stream_factory(artist=artist, status="live")
    fan = UserFactory()
    code = ORIGINAL_EXAMPLE.read_text().replace("stream-uuid", str(stream.id)).replace("user-uuid", str(fan.id))
    node_socketio.run_example("page", server.url, code, **TRANSPORTS[transports])
    _started_on(node_socketio, "page", transports)
    assert node_socketio.expect("page", "log")["args"] == ["Joined stream:", str(stream.id)]
    assert node_socketio.expect("page", "log")["args"] == ["Current viewers:", 1]

    # A second viewer (signed in with a token) joins and chats: the page hears the count and the message.
    node_socketio.connect("fan", f"{server.url}/livestream", auth={"token": token_for(fan)}, **TRANSPORTS[transports])
    node_socketio.emit("fan", "joinStream", {"streamId": str(stream.id)})
    assert node_socketio.event("fan", "joinedStream")["viewerCount"] == 2
    node_socketio.expect("page", "log", where=lambda r: r["args"] == ["Viewer count updated:", 2])
    node_socketio.emit("fan", "sendChatMessage", {"streamId": str(stream.id), "message": "hello from a fan"})
    said = node_socketio.expect("page", "log", where=lambda r: r["args"][0] == "New message:")["args"][1]
    assert said["message"] == "hello from a fan"
    assert said["user"] == {"id": fan.id, "username": fan.username}


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_chat_counts_and_moderation_with_acknowledgements(server, node_socketio, artist, transports):
    stream = stream_factory(artist=artist, status="live")
    stream_id = str(stream.id)
    fans = [UserFactory(), UserFactory()]
    url = f"{server.url}/livestream"
    options = TRANSPORTS[transports]
    for name, user in [("artist", artist), ("fan0", fans[0]), ("fan1", fans[1])]:
        node_socketio.connect(name, url, auth={"token": token_for(user)}, **options)
        _started_on(node_socketio, name, transports)

    # joinStream's acknowledgement is the joinedStream data; the artist is not counted as audience.
    node_socketio.emit("artist", "joinStream", {"streamId": stream_id}, ack="join")
    joined = node_socketio.event("artist", "joinedStream")
    assert node_socketio.ack("artist", "join") == joined
    assert joined["viewerCount"] == 0 and joined["status"] == "live" and joined["isChatEnabled"] is True
    node_socketio.emit("fan0", "joinStream", {"streamId": stream_id, "userId": "ignored"}, ack="join")
    assert node_socketio.ack("fan0", "join")["viewerCount"] == 1
    node_socketio.emit("fan1", "joinStream", {"streamId": stream_id}, ack="join")
    assert node_socketio.ack("fan1", "join")["viewerCount"] == 2
    for name in ["artist", "fan0"]:
        node_socketio.event(name, "viewerCountUpdate", lambda data: data["viewerCount"] == 2)

    # A chat message reaches everyone in the room, once; the sender's acknowledgement carries its id.
    node_socketio.emit("fan0", "sendChatMessage", {"streamId": stream_id, "message": "first!"}, ack="chat")
    sent = node_socketio.ack("fan0", "chat")
    assert sent == {"streamId": stream_id, "messageId": sent["messageId"]}
    for name in ["artist", "fan0", "fan1"]:
        message = node_socketio.event(name, "newChatMessage")
        assert (message["id"], message["message"], message["user"]["id"]) == (sent["messageId"], "first!", fans[0].id)

    # The artist deletes it: the acknowledgement is moderationApplied's data, and everyone hears the deletion.
    node_socketio.emit(
        "artist", "deleteChatMessage", {"streamId": stream_id, "messageId": sent["messageId"]}, ack="delete"
    )
    applied = node_socketio.ack("artist", "delete")
    assert applied == {"streamId": stream_id, "action": "deleteChatMessage", "messageId": sent["messageId"]}
    assert node_socketio.event("artist", "moderationApplied") == applied
    for name in ["artist", "fan0", "fan1"]:
        assert node_socketio.event(name, "chatMessageDeleted") == {
            "streamId": stream_id,
            "messageId": sent["messageId"],
        }

    # A fan may not moderate: the refusal is the error event, and the acknowledgement carries the same.
    node_socketio.emit("fan1", "banUser", {"streamId": stream_id, "userId": fans[0].id}, ack="ban")
    refused = node_socketio.event("fan1", "error")
    assert refused["code"] == "forbidden" and refused["event"] == "banUser"
    assert node_socketio.ack("fan1", "ban") == refused

    # Leaving: leftStream, and the count falls for those still there.
    node_socketio.emit("fan1", "leaveStream", {"streamId": stream_id}, ack="leave")
    assert node_socketio.ack("fan1", "leave") == {"streamId": stream_id}
    assert node_socketio.event("fan1", "leftStream") == {"streamId": stream_id}
    node_socketio.event("fan0", "viewerCountUpdate", lambda data: data["viewerCount"] == 1)
    node_socketio.disconnect("fan0")
    node_socketio.event("artist", "viewerCountUpdate", lambda data: data["viewerCount"] == 0)


async def _native_next(socket_, event: str, where=lambda data: True) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(socket_.recv(), 10))
        if frame["event"] == event and where(frame["data"]):
            return frame["data"]
        assert frame["event"] != "error", frame


def test_one_room_across_protocols_and_processes(two_servers, node_socketio, artist):
    """Socket.IO on process one, the native protocol on process two: one chat, one count, one viewer per
    user on both protocols; a killed process's Socket.IO viewers expire from the count."""
    first, second = two_servers
    stream = stream_factory(artist=artist, status="live")
    stream_id = str(stream.id)
    sio_fan, native_fan = UserFactory(), UserFactory()
    node_socketio.connect("sio", f"{first.url}/livestream", auth={"token": token_for(sio_fan)})
    node_socketio.emit("sio", "joinStream", {"streamId": stream_id})
    assert node_socketio.event("sio", "joinedStream")["viewerCount"] == 1
    native_url = f"ws://127.0.0.1:{second.port}/ws/livestream/?token="
    native_fan_token, sio_fan_token = token_for(native_fan), token_for(sio_fan)
    join = json.dumps({"event": "joinStream", "data": {"streamId": stream_id}})

    async def scenario():
        async with websockets.connect(native_url + native_fan_token) as native:
            await native.send(join)
            assert (await _native_next(native, "joinedStream"))["viewerCount"] == 2
            await asyncio.to_thread(node_socketio.event, "sio", "viewerCountUpdate", lambda d: d["viewerCount"] == 2)

            # The Socket.IO user opens a native tab too (on the other process): still one viewer.
            async with websockets.connect(native_url + sio_fan_token) as second_tab:
                await second_tab.send(join)
                assert (await _native_next(second_tab, "joinedStream"))["viewerCount"] == 2

                # Messages cross both ways, once each.
                await native.send(
                    json.dumps({"event": "sendChatMessage", "data": {"streamId": stream_id, "message": "native hi"}})
                )
                heard = await asyncio.to_thread(node_socketio.event, "sio", "newChatMessage")
                assert (heard["message"], heard["user"]["id"]) == ("native hi", native_fan.id)
                node_socketio.emit("sio", "sendChatMessage", {"streamId": stream_id, "message": "sio hi"})
                for socket_ in (native, second_tab):
                    assert (await _native_next(socket_, "newChatMessage", lambda d: d["message"] == "sio hi"))["user"][
                        "id"
                    ] == sio_fan.id
                await asyncio.to_thread(
                    node_socketio.event, "sio", "newChatMessage", lambda d: d["message"] == "sio hi"
                )
                assert [m["message"] for m in node_socketio.received("sio", "newChatMessage")] == [
                    "native hi",
                    "sio hi",
                ]

            # The Socket.IO viewer's process dies without a goodbye: its viewer expires like a native one.
            first.process.kill()
            await _native_next(native, "viewerCountUpdate", lambda data: data["viewerCount"] == 1)

    asyncio.run(scenario())
    stream.refresh_from_db()
    assert stream.peak_viewers == 2


def test_session_cookie_from_an_allowed_origin_only(server, node_socketio, artist):
    stream = stream_factory(artist=artist, status="live")
    fan = UserFactory()
    browser = DjangoClient()
    browser.force_login(fan)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    url = f"{server.url}/livestream"
    allowed = f"http://localhost:{server.port}"
    for name, origin in [("allowed", allowed), ("foreign", "https://evil.example")]:
        node_socketio.connect(
            name, url, transports=["websocket"], extraHeaders={"Cookie": cookie, "Origin": origin}, reconnection=False
        )
    # Signed in through the session: chatting (refused to anonymous sockets) works.
    node_socketio.expect("allowed", "connect")
    node_socketio.emit("allowed", "joinStream", {"streamId": str(stream.id)})
    node_socketio.event("allowed", "joinedStream")
    node_socketio.emit("allowed", "sendChatMessage", {"streamId": str(stream.id), "message": "by cookie"}, ack="chat")
    assert "messageId" in node_socketio.ack("allowed", "chat")
    assert node_socketio.event("allowed", "newChatMessage")["user"]["id"] == fan.id
    # Any other Origin is refused before Socket.IO connects.
    node_socketio.expect("foreign", "connect_error")

    # Long-polling's CORS headers name allowed origins only.
    def handshake(origin):
        request = urllib.request.Request(f"{server.url}/socket.io/?EIO=4&transport=polling", headers={"Origin": origin})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.headers.get("Access-Control-Allow-Origin")
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Access-Control-Allow-Origin")

    assert handshake(allowed) == (200, allowed)
    assert handshake("https://evil.example") == (400, None)


def test_a_session_without_an_allowed_origin_is_refused_with_a_reason(server, node_socketio, artist):
    stream = stream_factory(artist=artist, status="live")
    fan = UserFactory()
    browser = DjangoClient()
    browser.force_login(fan)
    cookie = f"{settings.SESSION_COOKIE_NAME}={browser.cookies[settings.SESSION_COOKIE_NAME].value}"
    url = f"{server.url}/livestream"
    node_socketio.connect("no-origin", url, transports=["websocket"], extraHeaders={"Cookie": cookie})
    refused = node_socketio.expect("no-origin", "connect_error")
    assert refused["data"]["code"] == "forbidden"
    # A browser's same-origin long-polling request carries no Origin, but Sec-Fetch-Site: same-origin.
    node_socketio.connect(
        "same-origin",
        url,
        transports=["polling"],
        extraHeaders={"Cookie": cookie, "Sec-Fetch-Site": "same-origin"},
    )
    node_socketio.expect("same-origin", "connect")
    node_socketio.emit("same-origin", "joinStream", {"streamId": str(stream.id)})
    node_socketio.event("same-origin", "joinedStream")
    node_socketio.emit("same-origin", "sendChatMessage", {"streamId": str(stream.id), "message": "polled"}, ack="m")
    assert "messageId" in node_socketio.ack("same-origin", "m")
    assert node_socketio.event("same-origin", "newChatMessage")["user"]["id"] == fan.id


def test_a_bad_token_is_refused_at_connect(server, node_socketio):
    for name, options in TRANSPORTS.items():
        node_socketio.connect(name, f"{server.url}/livestream", auth={"token": "not-a-token"}, **options)
        refused = node_socketio.expect(name, "connect_error")
        assert refused["data"] == {"code": "authentication_failed", "message": "Unknown or inactive API token."}
        assert refused["message"] == "Unknown or inactive API token."


def test_bad_input_gets_clear_errors_and_harms_no_one(server, node_socketio, artist):
    stream = stream_factory(artist=artist, status="live")
    stream_id = str(stream.id)
    url = f"{server.url}/livestream"
    fan, bystander = UserFactory(), UserFactory()
    node_socketio.connect("fan", url, auth={"token": token_for(fan)}, transports=["websocket"], reconnection=False)
    node_socketio.connect("bystander", url, auth={"token": token_for(bystander)})
    for name in ["fan", "bystander"]:
        node_socketio.emit(name, "joinStream", {"streamId": stream_id})
        node_socketio.event(name, "joinedStream")
    node_socketio.event("fan", "viewerCountUpdate", lambda data: data["viewerCount"] == 2)

    def refused(event, *args):
        node_socketio.emit("fan", event, *args, ack=event)
        error = node_socketio.event("fan", "error")
        assert node_socketio.ack("fan", event) == error
        return error

    assert refused("sing", {"streamId": stream_id}) == {
        "code": "unknown_event",
        "message": "Unknown event 'sing'.",
        "event": "sing",
    }
    assert refused("joinStream", "not an object")["fields"] == {"data": ["Must be an object."]}
    wrong_type = refused("sendChatMessage", {"streamId": stream_id, "message": {"text": "hi"}})
    assert (wrong_type["code"], list(wrong_type["fields"])) == ("bad_request", ["message"])
    two = refused("joinStream", {"streamId": stream_id}, {"streamId": stream_id})
    assert (two["code"], two["message"]) == ("bad_request", "An event carries one data object.")
    oversized = refused("sendChatMessage", {"streamId": stream_id, "message": "x" * (settings.WS_MAX_FRAME_BYTES + 1)})
    assert (oversized["code"], oversized["message"]) == (
        "bad_request",
        f"Events are at most {settings.WS_MAX_FRAME_BYTES} bytes.",
    )
    assert refused("joinStream", {"streamId": "not-a-uuid"})["code"] == "not_found"

    # The bystander chats on, unaffected.
    node_socketio.emit("bystander", "sendChatMessage", {"streamId": stream_id, "message": "still here"})
    assert node_socketio.event("fan", "newChatMessage")["message"] == "still here"

    # A flood: rate_limited errors, then the socket is closed; the server and the room carry on.
    for _ in range(70):
        node_socketio.emit("fan", "reportQuality", {"streamId": stream_id})
    node_socketio.event("fan", "error", lambda data: data["code"] == "rate_limited")
    closing = node_socketio.event(
        "fan", "error", lambda data: data["message"] == "Too many events: this connection is closed."
    )
    assert closing["code"] == "rate_limited"
    assert node_socketio.expect("fan", "disconnect")["reason"] == "io server disconnect"
    node_socketio.event("bystander", "viewerCountUpdate", lambda data: data["viewerCount"] == 1)
    node_socketio.emit("bystander", "sendChatMessage", {"streamId": stream_id, "message": "after the flood"}, ack="m")
    assert "messageId" in node_socketio.ack("bystander", "m")


def test_malformed_socketio_packets_leave_the_server_answering(server, node_socketio, artist):
    """Packets no socket.io-client would send (written by hand on a raw WebSocket) get errors or are
    ignored; a payload beyond Engine.IO's limit closes that transport; the server serves on."""
    stream = stream_factory(artist=artist, status="live")

    async def scenario():
        url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
        async with websockets.connect(url, max_size=None) as raw:
            assert (await raw.recv()).startswith("0{")  # Engine.IO open
            await raw.send("40/livestream,")
            assert (await raw.recv()).startswith("40/livestream,")
            for packet in [
                '42/livestream,[5,{"streamId":"x"}]',  # an event name that is no string
                '42/livestream,["connect",{}]',  # reserved names
                '42/livestream,["disconnect"]',
                "42/livestream,[]",  # no event at all
                "42/livestream,{",  # not JSON
            ]:
                await raw.send(packet)
            first = json.loads((await asyncio.wait_for(raw.recv(), 5)).split(",", 1)[1])
            assert first[0] == "error" and first[1]["message"] == "Event names are strings."
            # The socket still answers (joinStream with acknowledgement 7).
            await raw.send(f'42/livestream,7["joinStream",{{"streamId":"{stream.id}"}}]')
            while True:
                reply = await asyncio.wait_for(raw.recv(), 5)
                if reply.startswith("43/livestream,7"):
                    break
            assert json.loads(reply.removeprefix("43/livestream,7"))[0]["streamId"] == str(stream.id)
        async with websockets.connect(url, max_size=None) as raw:
            await raw.recv()
            await raw.send("40/livestream,")
            await raw.recv()
            await raw.send('42/livestream,["sendChatMessage",{"message":"' + "x" * 1_100_000 + '"}]')
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    await asyncio.wait_for(raw.recv(), 5)

    asyncio.run(scenario())
    node_socketio.connect("after", f"{server.url}/livestream")
    node_socketio.emit("after", "joinStream", {"streamId": str(stream.id)}, ack="join")
    assert node_socketio.ack("after", "join")["viewerCount"] == 1


def test_a_socketio_viewer_who_loses_access_leaves_the_room_too(server, node_socketio, artist):
    """Audit F7 on the original module's protocol: a ban without end takes the Socket.IO viewer out of the
    room (the same revoke the native viewers get), with the reason, and a new join is refused."""
    stream = stream_factory(artist=artist, status="live")
    stream_id = str(stream.id)
    fan = UserFactory()
    node_socketio.connect("fan", f"{server.url}/livestream", auth={"token": token_for(fan)}, transports=["websocket"])
    node_socketio.emit("fan", "joinStream", {"streamId": stream_id}, ack="join")
    assert node_socketio.ack("fan", "join")["streamId"] == stream_id
    chat_services.chat_ban_create(stream_id=stream.id, user_id=fan.id, by_user=artist)
    error = node_socketio.event("fan", "error", lambda data: data.get("streamId") == stream_id)
    assert error["code"] == "banned"
    assert node_socketio.event("fan", "leftStream") == {"streamId": stream_id, "reason": "banned"}
    node_socketio.emit("fan", "joinStream", {"streamId": stream_id}, ack="again")
    assert node_socketio.ack("fan", "again")["code"] == "banned"
