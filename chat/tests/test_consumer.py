"""The ws/livestream/ protocol end to end through WebsocketCommunicator: every event, every error code."""

import json
import uuid

import pytest
from channels.db import database_sync_to_async

from accounts.tests.factories import UserFactory
from chat.models import LiveStreamChat
from streams import services as stream_services

pytestmark = pytest.mark.django_db(transaction=True)


async def test_anonymous_joins_free_stream_and_reads_but_cannot_write(ws, live_stream, viewer):
    anonymous = await ws()
    joined = await anonymous.join(live_stream)
    assert uuid.UUID(joined.pop("sessionId"))  # the viewer session (analytics), additive
    assert joined == {
        "streamId": str(live_stream.id),
        "viewerCount": 1,
        "status": "live",
        "isChatEnabled": True,
        "slowModeSeconds": 0,
    }
    await anonymous.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "hi"})
    await anonymous.expect_error("forbidden")

    fan = await ws(viewer)
    await fan.join(live_stream)
    await fan.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "hello"})
    received = await anonymous.expect("newChatMessage")
    assert received["message"] == "hello"
    assert received["user"] == {"id": viewer.id, "username": viewer.username}


async def test_chat_message_is_stored_before_broadcast_and_the_user_is_the_connection(ws, live_stream, viewer):
    other = await database_sync_to_async(UserFactory)()
    sender, reader = await ws(viewer), await ws(other)
    await sender.join(live_stream)
    await reader.join(live_stream)
    await sender.send(
        "sendChatMessage",
        {"streamId": str(live_stream.id), "message": "  <b>encore</b>  ", "clientMessageId": "c-1", "userId": other.id},
    )
    for client in (sender, reader):
        data = await client.expect("newChatMessage")
        assert data["user"]["id"] == viewer.id
        assert data["message"] == "<b>encore</b>"
        assert data["clientMessageId"] == "c-1"
        assert data["streamId"] == str(live_stream.id)
        assert set(data) == {"id", "streamId", "user", "badge", "message", "createdAt", "clientMessageId"}
    stored = await database_sync_to_async(LiveStreamChat.objects.get)(pk=data["id"])
    assert stored.user_id == viewer.id and stored.message == "<b>encore</b>"


async def test_leave_stream_and_not_joined(ws, live_stream, viewer):
    client = await ws(viewer)
    await client.join(live_stream)
    await client.send("leaveStream", {"streamId": str(live_stream.id)})
    assert await client.expect("leftStream") == {"streamId": str(live_stream.id)}
    await client.send("leaveStream", {"streamId": str(live_stream.id)})
    await client.expect_error("not_joined")
    await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "hi"})
    error = await client.expect_error("not_joined")
    assert error["event"] == "sendChatMessage"


async def test_not_found(ws, viewer):
    client = await ws(viewer)
    await client.send("joinStream", {"streamId": "00000000-0000-0000-0000-000000000000"})
    await client.expect_error("not_found")
    await client.send("joinStream", {"streamId": "not-a-uuid"})
    await client.expect_error("not_found")


async def test_pay_per_view_needs_a_ticket(ws, make_stream, viewer):
    stream = await database_sync_to_async(make_stream)(status="live", is_pay_per_view=True)
    for client in (await ws(viewer), await ws()):
        await client.send("joinStream", {"streamId": str(stream.id)})
        await client.expect_error("payment_required")


async def test_cancelled_stream_is_forbidden(ws, make_stream, viewer):
    stream = await database_sync_to_async(make_stream)(status="cancelled")
    client = await ws(viewer)
    await client.send("joinStream", {"streamId": str(stream.id)})
    await client.expect_error("forbidden")


async def test_stream_full_counts_concurrent_viewers_and_exempts_the_artist(ws, make_stream, viewer, artist):
    stream = await database_sync_to_async(make_stream)(status="live", max_viewers=1)
    other = await database_sync_to_async(UserFactory)()
    first = await ws(viewer)
    assert (await first.join(stream))["viewerCount"] == 1
    second = await ws(other)
    await second.send("joinStream", {"streamId": str(stream.id)})
    await second.expect_error("stream_full")
    # The same viewer in a second tab is still one viewer.
    again = await ws(viewer)
    assert (await again.join(stream))["viewerCount"] == 1
    host = await ws(artist)
    assert (await host.join(stream))["viewerCount"] == 1
    # A seat frees up when the viewer leaves (both tabs).
    for client in (first, again):
        await client.send("leaveStream", {"streamId": str(stream.id)})
        await client.expect("leftStream")
    assert (await second.join(stream))["viewerCount"] == 1


async def test_chat_disabled_and_stream_not_live(ws, make_stream, viewer):
    quiet = await database_sync_to_async(make_stream)(status="live", is_chat_enabled=False)
    scheduled = await database_sync_to_async(make_stream)(status="scheduled")
    client = await ws(viewer)
    joined = await client.join(quiet)
    assert joined["isChatEnabled"] is False
    await client.send("sendChatMessage", {"streamId": str(quiet.id), "message": "hi"})
    await client.expect_error("chat_disabled")
    assert (await client.join(scheduled))["status"] == "scheduled"
    await client.send("sendChatMessage", {"streamId": str(scheduled.id), "message": "hi"})
    await client.expect_error("stream_not_live")


async def test_invalid_message(ws, live_stream, viewer):
    client = await ws(viewer)
    await client.join(live_stream)
    for message in ("", "   \n ", "x" * 501, "\x00\x01"):
        await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": message})
        await client.expect_error("invalid_message")
    await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": " " + "y" * 500 + " "})
    assert (await client.expect("newChatMessage"))["message"] == "y" * 500


async def test_bad_frames_get_errors_and_the_connection_stays_usable(ws, live_stream, viewer, settings):
    client = await ws(viewer)
    for text in ("not json", "[1, 2]", '{"data": {}}', '{"event": "joinStream", "data": []}', '{"event": 5}'):
        await client.send_text(text)
        await client.expect_error("bad_request")
    await client.send_text('{"event": "joinStream", "data": {"streamId": "' + "a" * 17000 + '"}}')
    await client.expect_error("bad_request")
    await client.communicator.send_to(bytes_data=b"\x00\x01")
    await client.expect_error("bad_request")
    await client.send("joinStream", {})
    error = await client.expect_error("bad_request")
    assert error["event"] == "joinStream"
    await client.send("joinStream", {"streamId": 42})
    await client.expect_error("bad_request")
    await client.join(live_stream)
    await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": ["a"]})
    await client.expect_error("bad_request")
    await client.send(
        "sendChatMessage", {"streamId": str(live_stream.id), "message": "ok", "clientMessageId": "x" * 65}
    )
    await client.expect_error("bad_request")
    await client.send("dance", {})
    error = await client.expect_error("unknown_event")
    assert error["event"] == "dance"
    await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "still here"})
    assert (await client.expect("newChatMessage"))["message"] == "still here"


async def test_chat_rate_limit_per_user_per_stream_with_artist_exempt(ws, live_stream, viewer, artist, settings):
    settings.CHAT_RATE_LIMIT_MESSAGES = 3
    fan, host = await ws(viewer), await ws(artist)
    await fan.join(live_stream)
    await host.join(live_stream)
    for number in range(3):
        await fan.send("sendChatMessage", {"streamId": str(live_stream.id), "message": f"m{number}"})
        await fan.expect("newChatMessage")
        await host.expect("newChatMessage")
    await fan.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "one too many"})
    error = await fan.expect_error("rate_limited")
    assert 0 < error["retryAfter"] <= settings.CHAT_RATE_LIMIT_SECONDS
    # The limit is per user, across connections.
    second_tab = await ws(viewer)
    await second_tab.join(live_stream)
    await second_tab.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "other tab"})
    await second_tab.expect_error("rate_limited")
    for number in range(5):
        await host.send("sendChatMessage", {"streamId": str(live_stream.id), "message": f"host {number}"})
        assert (await host.expect("newChatMessage"))["message"] == f"host {number}"


async def test_generic_event_limit_then_flood_close(ws, live_stream, viewer, settings):
    settings.WS_EVENT_RATE_LIMIT = 3
    settings.WS_FLOOD_LIMIT = 6
    client = await ws(viewer)
    await client.join(live_stream)
    for _ in range(2):
        await client.send("reportQuality", {"streamId": str(live_stream.id), "latencyMs": 900})
        await client.expect("qualityReported")
    await client.send("reportQuality", {"streamId": str(live_stream.id), "latencyMs": 900})
    await client.expect_error("rate_limited")
    for _ in range(2):
        await client.send("leaveStream", {"streamId": str(live_stream.id)})
        await client.expect_error("rate_limited")
    await client.send("leaveStream", {"streamId": str(live_stream.id)})
    while (output := await client.communicator.receive_output(3))["type"] == "websocket.send":
        assert json.loads(output["text"])["event"] == "viewerCountUpdate", output
    assert output["type"] == "websocket.close" and output["code"] == 4008


async def test_report_quality_is_validated_and_acknowledged(ws, live_stream, viewer):
    client = await ws(viewer)
    await client.send("reportQuality", {"streamId": str(live_stream.id), "latencyMs": 10})
    await client.expect_error("not_joined")
    await client.join(live_stream)
    await client.send(
        "reportQuality", {"streamId": str(live_stream.id), "bitrateKbps": 2500, "bufferingMs": 0, "quality": "high"}
    )
    assert (await client.expect("qualityReported"))["metrics"] == ["bitrateKbps", "bufferingMs", "quality"]
    for bad in ({"latencyMs": "slow"}, {"latencyMs": -1}, {"cpu": 3}, {}, {"fps": True}):
        await client.send("reportQuality", {"streamId": str(live_stream.id), **bad})
        await client.expect_error("bad_request")


async def test_stream_update_reaches_the_room_after_commit(ws, live_stream, viewer):
    client = await ws(viewer)
    await client.join(live_stream)
    await database_sync_to_async(stream_services.stream_end)(stream_id=live_stream.id)
    update = await client.expect("streamUpdate")
    assert update["streamId"] == str(live_stream.id)
    assert update["status"] == "ended"
    await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "bye"})
    await client.expect_error("stream_not_live")


async def test_viewer_count_updates_are_coalesced(ws, live_stream, settings):
    settings.VIEWER_COUNT_INTERVAL_SECONDS = 60
    users = [await database_sync_to_async(UserFactory)() for _ in range(6)]
    first = await ws(users[0])
    await first.join(live_stream)
    # The first change goes out at once; the rest wait for the next slot (a minute here).
    updates = [frame["data"] for frame in first.frames if frame["event"] == "viewerCountUpdate"]
    if not updates:  # it may come before or after joinedStream
        updates.append(await first.expect("viewerCountUpdate", skip=()))
    assert updates == [{"streamId": str(live_stream.id), "viewerCount": 1}]
    for number, user in enumerate(users[1:], start=2):
        client = await ws(user)
        assert (await client.join(live_stream))["viewerCount"] == number
    assert await first.nothing(0.5)


async def test_viewer_count_update_and_peak_viewers(ws, live_stream, viewer, settings):
    settings.VIEWER_COUNT_INTERVAL_SECONDS = 0.05
    other = await database_sync_to_async(UserFactory)()
    first = await ws(viewer)
    await first.join(live_stream)
    second = await ws(other)
    await second.join(live_stream)
    count = 0
    while count != 2:
        count = (await first.expect("viewerCountUpdate", skip=()))["viewerCount"]
    await second.send("leaveStream", {"streamId": str(live_stream.id)})
    while count != 1:
        count = (await first.expect("viewerCountUpdate", skip=()))["viewerCount"]
    await live_stream.arefresh_from_db()
    assert live_stream.peak_viewers == 2


async def test_a_bad_value_is_named_in_camel_case_and_frames_keep_json_types(ws, live_stream, viewer, artist):
    host = await ws(artist)
    await host.join(live_stream)
    stream_id = str(live_stream.id)
    cases = [
        ("banUser", {"userId": viewer.id, "durationSeconds": 0}, "durationSeconds"),
        ("banUser", {"userId": str(viewer.id)}, "userId"),  # a number in a JSON frame is a JSON number
        ("banUser", {"userId": viewer.id, "reason": "r" * 201}, "reason"),
        ("unbanUser", {"userId": True}, "userId"),
        ("deleteChatMessage", {"messageId": 1.5}, "messageId"),
        ("updateChatSettings", {"blockedTerms": ["ok", 5]}, "blockedTerms"),
        ("updateChatSettings", {"slowModeSeconds": -1}, "slowModeSeconds"),
        ("sendChatMessage", {"message": 5}, "message"),
        ("sendChatMessage", {"message": "hi", "clientMessageId": "x" * 65}, "clientMessageId"),
        ("reportQuality", {"latencyMs": "slow"}, "latencyMs"),
        ("reportQuality", {"cpu": 3}, "cpu"),
        ("joinStream", {}, "streamId"),
    ]
    for event, data, field in cases:
        await host.send(event, {"streamId": stream_id, **data} if field != "streamId" else data)
        error = await host.expect_error("bad_request")
        assert (error["event"], list(error["fields"])) == (event, [field]), error
        assert field in error["message"]
    # Refusals of the services name their field too; a message's content is still invalid_message.
    await host.send("banUser", {"streamId": stream_id, "userId": 999999})
    assert (await host.expect_error("not_found"))["fields"] == {"userId": ["No such user."]}
    await host.send("sendChatMessage", {"streamId": stream_id, "message": "\x00"})
    await host.expect_error("invalid_message")


async def test_nul_characters_and_deep_nesting_are_bad_requests_without_a_traceback(
    ws, live_stream, viewer, artist, caplog
):
    """Audit F6: NUL reached PostgreSQL (a generic error and an ERROR traceback); a 5,000-deep frame hit
    RecursionError. Each is a bad_request naming what is wrong, and the connection stays usable."""
    host = await ws(artist)
    await host.join(live_stream)
    stream_id = str(live_stream.id)
    cases = [
        ("sendChatMessage", {"message": "hi", "clientMessageId": "a\x00b"}, "clientMessageId"),
        ("banUser", {"userId": viewer.id, "reason": "spam\x00"}, "reason"),
        ("updateChatSettings", {"blockedTerms": ["ok", "bad\x00word"]}, "blockedTerms"),
    ]
    for event, data, field in cases:
        await host.send(event, {"streamId": stream_id, **data})
        error = await host.expect_error("bad_request")
        assert (error["event"], list(error["fields"])) == (event, [field]), error
    await host.send_text("[" * 5000 + "]" * 5000)
    assert "nested" in (await host.expect_error("bad_request"))["message"]
    await host.send_text('{"event": "joinStream", "data": {"streamId": NaN}}')
    await host.expect_error("bad_request")
    await host.send("sendChatMessage", {"streamId": stream_id, "message": "still here"})
    assert (await host.expect("newChatMessage"))["message"] == "still here"
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]


async def test_anonymous_sockets_of_one_address_cannot_fill_max_viewers(make_stream, viewer, settings):
    """Audit F8: three anonymous connections made a maxViewers=3 stream answer stream_full to a fan.
    Anonymous sockets count once per address, and an address holds only so many of them."""
    from channels.testing import WebsocketCommunicator

    from accounts.tests.factories import token_for
    from livestream_site.asgi import application

    from .conftest import Client

    settings.WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS = 3
    stream = await database_sync_to_async(make_stream)(status="live", max_viewers=2)
    clients = []

    async def connect(address: str, token: str | None = None):
        async def app(scope, receive, send):  # the peer's address, as daphne fills it
            return await application(dict(scope, client=[address, 40000]), receive, send)

        path = "/ws/livestream/" + (f"?token={token}" if token else "")
        communicator = WebsocketCommunicator(app, path)
        connected, _ = await communicator.connect()
        if connected:
            clients.append(communicator)
        return connected, Client(communicator)

    try:
        for _ in range(3):
            connected, anonymous = await connect("203.0.113.7")
            assert connected
            assert (await anonymous.join(stream))["viewerCount"] == 1  # one address: one viewer
        refused, _ = await connect("203.0.113.7")
        assert not refused  # a fourth anonymous socket of that address is refused at the handshake
        connected, fan = await connect("203.0.113.7", await database_sync_to_async(token_for)(viewer))
        assert connected  # signed in: not counted against the address
        assert (await fan.join(stream))["viewerCount"] == 2
    finally:
        for communicator in clients:
            await communicator.disconnect()
