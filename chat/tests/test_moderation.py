"""Moderation over the WebSocket: delete, bans and timeouts, slow mode, blocked terms, moderators."""

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from accounts.tests.factories import UserFactory
from chat import services
from chat.models import BlockedTerm, ChatBan

pytestmark = pytest.mark.django_db(transaction=True)


async def _say(client, stream, message):
    await client.send("sendChatMessage", {"streamId": str(stream.id), "message": message})


async def test_moderator_deletes_a_message_for_everyone_and_history_omits_it(
    ws, live_stream, viewer, artist, client_for
):
    moderator = await database_sync_to_async(UserFactory)()
    await database_sync_to_async(services.chat_moderator_add)(
        stream_id=live_stream.id, user_id=moderator.id, by_user=artist
    )
    fan, mod = await ws(viewer), await ws(moderator)
    await fan.join(live_stream)
    await mod.join(live_stream)
    await _say(fan, live_stream, "spam spam")
    message_id = (await fan.expect("newChatMessage"))["id"]
    await mod.expect("newChatMessage")

    await fan.send("deleteChatMessage", {"streamId": str(live_stream.id), "messageId": message_id})
    await fan.expect_error("forbidden")

    await mod.send("deleteChatMessage", {"streamId": str(live_stream.id), "messageId": message_id})
    deleted = {"streamId": str(live_stream.id), "messageId": message_id}
    assert await fan.expect("chatMessageDeleted") == deleted
    events = set()
    while len(events) < 2:
        frame = await mod.receive()
        if frame["event"] != "viewerCountUpdate":
            events.add(frame["event"])
    assert events == {"chatMessageDeleted", "moderationApplied"}

    await mod.send("deleteChatMessage", {"streamId": str(live_stream.id), "messageId": 999999})
    await mod.expect_error("not_found")

    history = await database_sync_to_async(lambda: client_for(viewer).get(f"/api/livestreams/{live_stream.id}/chat"))()
    assert message_id not in [item["id"] for item in history.json()["results"]]


async def test_timeout_and_ban_over_the_websocket(ws, live_stream, viewer, artist):
    fan, host = await ws(viewer), await ws(artist)
    await fan.join(live_stream)
    await host.join(live_stream)
    await host.send(
        "banUser", {"streamId": str(live_stream.id), "userId": viewer.id, "durationSeconds": 600, "reason": "spam"}
    )
    applied = await host.expect("moderationApplied")
    assert applied["action"] == "banUser" and applied["userId"] == viewer.id and applied["expiresAt"]
    await _say(fan, live_stream, "let me talk")
    error = await fan.expect_error("banned")
    assert "until" in error["message"]

    for bad in ({"durationSeconds": 0}, {"durationSeconds": 14 * 24 * 3600 + 1}, {"userId": "x"}):
        await host.send("banUser", {"streamId": str(live_stream.id), "userId": viewer.id, **bad})
        await host.expect_error("bad_request")
    await host.send("banUser", {"streamId": str(live_stream.id), "userId": artist.id})
    await host.expect_error("forbidden")

    await host.send("unbanUser", {"streamId": str(live_stream.id), "userId": viewer.id})
    assert (await host.expect("moderationApplied"))["action"] == "unbanUser"
    await _say(fan, live_stream, "thanks")
    assert (await fan.expect("newChatMessage"))["message"] == "thanks"


async def test_an_expired_timeout_no_longer_blocks(ws, live_stream, viewer, artist):
    await database_sync_to_async(services.chat_ban_create)(
        stream_id=live_stream.id, user_id=viewer.id, by_user=artist, duration_seconds=60
    )
    fan = await ws(viewer)
    await fan.join(live_stream)
    await _say(fan, live_stream, "hello?")
    await fan.expect_error("banned")
    # The minute passes.
    await ChatBan.objects.filter(user=viewer).aupdate(expires_at=timezone.now() - timedelta(seconds=1))
    await _say(fan, live_stream, "hello again")
    assert (await fan.expect("newChatMessage"))["message"] == "hello again"


async def test_slow_mode_is_announced_and_enforced_with_moderators_exempt(ws, live_stream, viewer, artist):
    fan, host = await ws(viewer), await ws(artist)
    await fan.join(live_stream)
    await host.join(live_stream)
    await host.send("updateChatSettings", {"streamId": str(live_stream.id), "slowModeSeconds": 30})
    assert await fan.expect("chatSettingsUpdate") == {
        "streamId": str(live_stream.id),
        "slowModeSeconds": 30,
        "isChatEnabled": True,
    }
    assert "30 seconds" in (await fan.expect("systemMessage"))["message"]
    await _say(fan, live_stream, "first")
    assert (await fan.expect("newChatMessage"))["message"] == "first"
    await _say(fan, live_stream, "second")
    error = await fan.expect_error("slow_mode")
    assert 0 < error["retryAfter"] <= 30
    second_tab = await ws(viewer)
    assert (await second_tab.join(live_stream))["slowModeSeconds"] == 30
    await _say(host, live_stream, "host 1")
    await _say(host, live_stream, "host 2")
    seen = []
    while "host 2" not in seen:
        frame = await host.receive()
        assert frame["event"] != "error", frame
        seen.append(frame["data"].get("message"))
    assert "host 1" in seen
    await host.send("updateChatSettings", {"streamId": str(live_stream.id), "slowModeSeconds": 3601})
    await host.expect_error("bad_request")
    await fan.send("updateChatSettings", {"streamId": str(live_stream.id), "slowModeSeconds": 0})
    await fan.expect_error("forbidden", skip={"newChatMessage", "viewerCountUpdate"})


async def test_blocked_terms_per_stream_and_site_wide(ws, live_stream, viewer, artist):
    await BlockedTerm.objects.acreate(term="sitebad")
    host, fan = await ws(artist), await ws(viewer)
    await fan.join(live_stream)
    await host.send("updateChatSettings", {"streamId": str(live_stream.id), "blockedTerms": ["Spoiler", " leak "]})
    applied = await host.expect("moderationApplied")
    assert applied["blockedTerms"] == ["Spoiler", "leak"]
    for message in ("big SPOILER ahead", "a leak!", "so sitebad"):
        await _say(fan, live_stream, message)
        await fan.expect_error("blocked_term")
    await _say(fan, live_stream, "spoilers are fine as another word")
    assert (await fan.expect("newChatMessage"))["message"].startswith("spoilers")
    await host.send("updateChatSettings", {"streamId": str(live_stream.id), "blockedTerms": "leak"})
    await host.expect_error("bad_request")


async def test_only_the_artist_or_staff_ban_a_moderator_and_messages_belong_to_their_stream(
    ws, live_stream, make_stream, viewer, artist
):
    other_stream = await database_sync_to_async(make_stream)(status="live")
    moderator, second_moderator = [await database_sync_to_async(UserFactory)() for _ in range(2)]
    for user in (moderator, second_moderator):
        await database_sync_to_async(services.chat_moderator_add)(
            stream_id=live_stream.id, user_id=user.id, by_user=artist
        )
    mod = await ws(moderator)
    await mod.send("banUser", {"streamId": str(live_stream.id), "userId": second_moderator.id})
    await mod.expect_error("forbidden")
    # A moderator of one stream is nobody in another.
    await mod.send("banUser", {"streamId": str(other_stream.id), "userId": viewer.id})
    await mod.expect_error("forbidden")
    fan = await ws(viewer)
    await fan.join(other_stream)
    await fan.send("sendChatMessage", {"streamId": str(other_stream.id), "message": "elsewhere"})
    message_id = (await fan.expect("newChatMessage"))["id"]
    await mod.send("deleteChatMessage", {"streamId": str(live_stream.id), "messageId": message_id})
    await mod.expect_error("not_found")
    host = await ws(artist)
    await host.send("banUser", {"streamId": str(live_stream.id), "userId": second_moderator.id, "durationSeconds": 1})
    assert (await host.expect("moderationApplied"))["userId"] == second_moderator.id
