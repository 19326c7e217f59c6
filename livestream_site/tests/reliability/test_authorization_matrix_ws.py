"""The authorization matrix of the WebSocket (ws/livestream/): every client event of the consumer for every role,
on a live pay-per-view stream: the event each role gets back (or the error code)."""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator

from accounts.tests.factories import ArtistFactory, StaffFactory, UserFactory, token_for
from chat import services as chat_services
from chat.consumers import LiveStreamConsumer
from livestream_site.asgi import application
from payments.tests.factories import paid_ticket_factory
from streams.tests.factories import stream_factory

ROLES = ["anonymous", "viewer", "ticket", "other_artist", "artist", "moderator", "staff"]


def _row(*answers):
    return dict(zip(ROLES, answers, strict=True))


OK = "ok"
MODERATE = _row("forbidden", "forbidden", "forbidden", "forbidden", OK, OK, OK)
# event -> {role: "ok" (the event's answer) or an error code}; each event is sent after a joinStream.
EXPECTED = {
    "joinStream": _row("payment_required", "payment_required", OK, "payment_required", OK, "payment_required", OK),
    "leaveStream": _row("not_joined", "not_joined", OK, "not_joined", OK, "not_joined", OK),
    "sendChatMessage": _row("forbidden", "not_joined", OK, "not_joined", OK, "not_joined", OK),
    "reportQuality": _row("not_joined", "not_joined", OK, "not_joined", OK, "not_joined", OK),
    "deleteChatMessage": MODERATE,
    "banUser": MODERATE,
    "unbanUser": MODERATE,
    "updateChatSettings": MODERATE,
}
ANSWERS = {
    "joinStream": "joinedStream",
    "leaveStream": "leftStream",
    "sendChatMessage": "newChatMessage",
    "reportQuality": "qualityReported",
}


def test_every_event_is_in_the_matrix():
    assert set(EXPECTED) == set(LiveStreamConsumer.HANDLERS)


@pytest.fixture
def world(transactional_db):
    artist = ArtistFactory()
    users = {
        "viewer": UserFactory(),
        "ticket": UserFactory(),
        "other_artist": ArtistFactory(),
        "artist": artist,
        "moderator": UserFactory(),
        "staff": StaffFactory(),
    }
    stream = stream_factory(artist=artist, status="live", is_pay_per_view=True)
    paid_ticket_factory(stream=stream, user=users["ticket"])
    chat_services.chat_moderator_add(stream_id=str(stream.id), user_id=users["moderator"].id, by_user=artist)
    victim = UserFactory()
    message = chat_services.chat_message_send(stream_id=str(stream.id), user=users["ticket"], message="hi")
    tokens = {role: token_for(user) for role, user in users.items()}
    secrets = [user.email for user in users.values()] + [victim.email]
    return {
        "stream": stream,
        "tokens": tokens,
        "victim": victim,
        "message": message,
        "secrets": secrets,
        "users": users,
    }


def _data(event, world):
    return {
        "sendChatMessage": {"message": "matrix"},
        "reportQuality": {"fps": 30},
        "deleteChatMessage": {"messageId": world["message"].id},
        "banUser": {"userId": world["victim"].id, "durationSeconds": 60},
        "unbanUser": {"userId": world["victim"].id},
        "updateChatSettings": {"slowModeSeconds": 0},
    }.get(event, {})


async def _answer(world, role, event):
    token = world["tokens"].get(role)
    communicator = WebsocketCommunicator(application, f"/ws/livestream/?token={token}" if token else "/ws/livestream/")
    assert (await communicator.connect())[0]
    stream_id = str(world["stream"].id)
    frames = []

    async def send(name, data):
        """The answer to the event (its own, or an error), past the room's broadcasts it may cause."""
        wanted = ANSWERS.get(name, "moderationApplied")
        await communicator.send_to(text_data=json.dumps({"event": name, "data": {"streamId": stream_id, **data}}))
        while True:
            frame = json.loads(await communicator.receive_from(5))
            frames.append(frame)
            if frame["event"] in (wanted, "error"):
                return frame

    try:
        if event != "joinStream":
            await send("joinStream", {})
        answer = await send(event, _data(event, world))
        wanted = ANSWERS.get(event, "moderationApplied")
        return (OK if answer["event"] == wanted else answer["data"].get("code", answer["event"])), frames
    finally:
        await communicator.disconnect()


@pytest.mark.parametrize("event", sorted(EXPECTED))
def test_each_role_gets_what_the_matrix_says(world, event):
    got = {}
    for role in ROLES:
        if event == "unbanUser":  # someone to unban, for every role
            chat_services.chat_ban_create(
                stream_id=str(world["stream"].id), by_user=world["users"]["artist"], user_id=world["victim"].id
            )
        got[role], frames = async_to_sync(_answer)(world, role, event)
        text = json.dumps(frames)
        assert world["stream"].stream_key not in text
        assert not any(secret in text for secret in world["secrets"]), f"{event} as {role}: an e-mail in a frame"
    assert got == EXPECTED[event]
