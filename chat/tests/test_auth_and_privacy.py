"""Who a connection is (session from an allowed Origin, or token), and what frames never carry."""

import json

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from accounts.tests.factories import UserFactory
from streams import services as stream_services

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def _session_cookie(user) -> bytes:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}".encode()


async def test_session_cookie_needs_an_allowed_origin(ws, live_stream, viewer):
    cookie = await _session_cookie(viewer)
    await ws(headers=[(b"cookie", cookie), (b"origin", b"http://evil.example")], expect_refused=True)
    await ws(headers=[(b"cookie", cookie)], expect_refused=True)
    client = await ws(headers=[(b"cookie", cookie), (b"origin", b"http://localhost:8000")])
    await client.join(live_stream)
    await client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "from the browser"})
    assert (await client.expect("newChatMessage"))["user"]["id"] == viewer.id


async def test_token_and_anonymous_clients_need_no_origin(ws, live_stream, viewer):
    token_client = await ws(viewer)
    await token_client.join(live_stream)
    await token_client.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "api client"})
    assert (await token_client.expect("newChatMessage"))["user"]["id"] == viewer.id
    anonymous = await ws(headers=[(b"origin", b"http://evil.example")])
    await anonymous.join(live_stream)
    await ws(query="token=not-a-real-token", expect_refused=True)


async def test_no_frame_carries_a_stream_key_an_email_or_private_data(ws, live_stream, viewer, artist, settings):
    settings.VIEWER_COUNT_INTERVAL_SECONDS = 0.01
    other = await database_sync_to_async(UserFactory)()
    fan, host, lurker = await ws(viewer), await ws(artist), await ws()
    for client in (fan, host, lurker):
        await client.join(live_stream)
    await fan.send("sendChatMessage", {"streamId": str(live_stream.id), "message": "hi", "clientMessageId": "a"})
    message_id = (await lurker.expect("newChatMessage"))["id"]
    await host.send("updateChatSettings", {"streamId": str(live_stream.id), "slowModeSeconds": 5})
    await host.send("deleteChatMessage", {"streamId": str(live_stream.id), "messageId": message_id})
    await host.send("banUser", {"streamId": str(live_stream.id), "userId": other.id, "reason": "private reason"})
    await database_sync_to_async(stream_services.stream_key_rotate)(stream_id=live_stream.id)
    await database_sync_to_async(stream_services.stream_end)(stream_id=live_stream.id)
    room_events = {
        "viewerCountUpdate",
        "newChatMessage",
        "chatSettingsUpdate",
        "systemMessage",
        "chatMessageDeleted",
        "streamUpdate",
    }
    # The moderator's frames and the services above race to the room: any order of them is right.
    await lurker.expect("streamUpdate", skip=room_events - {"streamUpdate"})
    await live_stream.arefresh_from_db()
    await fan.send("leaveStream", {"streamId": str(live_stream.id)})
    await fan.expect("leftStream", skip=room_events)
    # Drain what is still on its way.
    for client in (host, lurker):
        while not await client.nothing(0.3):
            await client.receive()
    secrets = [live_stream.stream_key, viewer.email, artist.email, other.email, viewer.password, artist.password]
    room_frames = fan.raw + lurker.raw
    assert room_frames and host.raw
    for text in room_frames + host.raw:
        assert not any(secret in text for secret in secrets), text
        assert "email" not in text.lower() and "streamKey" not in text and "password" not in text
    # The ban's reason and the banned user stay with the moderator who banned.
    for text in room_frames:
        assert "private reason" not in text
        assert json.loads(text)["event"] != "moderationApplied"
