"""A WebSocket fuzzer over the native protocol (ws/livestream/): every client event of the consumer's
HANDLERS with its fields (chat/inputs.py) and random ones, values of every JSON type, NUL and control
characters, deep nesting, oversized text and binary frames, and floods.

Whatever arrives: no exception escapes (no ERROR log record), every refusal is an `error` event with a
known code, the connection survives (a good joinStream after each bad frame is answered, and a viewer's
chat message still goes out), and no frame carries another user's e-mail or any stream key.
"""

import json

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import ArtistFactory, UserFactory, token_for
from chat.consumers import CLOSE_FLOODING, ERROR_CODES, LiveStreamConsumer
from chat.inputs import BanInput, ChatMessageInput, MessageIdInput, QualityReportInput, SettingsInput, UserIdInput
from livestream_site.asgi import application
from streams.tests.factories import stream_factory

from .conftest import examples, failures

# The fields each event reads (camelCase, as frames carry them).
EVENT_FIELDS = {
    "joinStream": ["streamId"],
    "leaveStream": ["streamId"],
    "sendChatMessage": ["streamId", "message", "clientMessageId"],
    "reportQuality": ["streamId", *QualityReportInput().get_fields()],
    "deleteChatMessage": ["streamId", "messageId"],
    "banUser": ["streamId", "userId", "durationSeconds", "reason"],
    "unbanUser": ["streamId", "userId"],
    "updateChatSettings": ["streamId", "slowModeSeconds", "blockedTerms"],
}
INPUTS = [ChatMessageInput, MessageIdInput, UserIdInput, BanInput, SettingsInput]


def test_the_fuzzer_knows_every_event():
    """A new client event must be added to EVENT_FIELDS, or the fuzzer would never send it."""
    assert set(EVENT_FIELDS) == set(LiveStreamConsumer.HANDLERS)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


EVENT_FIELDS["reportQuality"] = ["streamId", *(_camel(n) for n in QualityReportInput().get_fields())]

PLAUSIBLE = {
    "message": st.text(max_size=300),
    "clientMessageId": st.text(max_size=70),
    "reason": st.text(max_size=300),
    "userId": st.integers(min_value=-1, max_value=50),
    "messageId": st.integers(min_value=-1, max_value=500),
    "durationSeconds": st.one_of(st.none(), st.integers(min_value=0, max_value=14 * 24 * 3600 + 1)),
    "slowModeSeconds": st.integers(min_value=-1, max_value=3601),
    "blockedTerms": st.lists(st.text(max_size=60), max_size=5),
    "quality": st.text(max_size=20),
    "resolution": st.text(max_size=20),
    "player": st.text(max_size=70),
}
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=20),  # NUL and control characters
    st.sampled_from(["", " ", "\x00", "a\x00b", "\u202e", "\ud7ff", "null", "0", "-1", "1e999", "💥" * 50]),
    st.text(min_size=300, max_size=2000),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
)


def _nested(depth: int) -> str:
    """JSON text nested `depth` arrays deep (json.dumps itself cannot write 5,000 levels)."""
    return "[" * depth + "]" * depth


@st.composite
def frames(draw, stream_ids):
    """One frame as text or bytes: mostly well-formed {event, data} with hostile values, sometimes not."""
    kind = draw(st.sampled_from(["event", "event", "event", "event", "raw", "binary", "deep", "huge"]))
    if kind == "raw":
        return draw(st.one_of(st.text(max_size=200), st.sampled_from(["", "{", "[]", "null", '{"event": 1}', "NaN"])))
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "deep":
        depth = draw(st.sampled_from([33, 200, 5000]))
        return '{"event": "joinStream", "data": {"streamId": ' + _nested(depth) + "}}"
    if kind == "huge":
        return json.dumps(
            {"event": "sendChatMessage", "data": {"message": "x" * draw(st.sampled_from([16_400, 70_000]))}}
        )
    event = draw(st.one_of(st.sampled_from(sorted(EVENT_FIELDS)), st.text(max_size=80)))
    fields = EVENT_FIELDS.get(event, ["streamId"])
    data = {}
    for field in draw(st.lists(st.sampled_from(fields), unique=True)):
        # Half the time a value of the right type, so that frames get past validation into the services.
        plausible = PLAUSIBLE.get(field, st.integers(min_value=0, max_value=5000))
        if field == "streamId":
            plausible = st.sampled_from(stream_ids)
        data[field] = draw(st.one_of(plausible, json_values) if draw(st.booleans()) else plausible)
    data.update(draw(st.dictionaries(st.text(max_size=12), json_values, max_size=2)))
    frame = {"event": event, "data": draw(st.one_of(st.just(data), json_values)) if draw(st.booleans()) else data}
    return json.dumps(frame, allow_nan=True)


@pytest.fixture
def fuzz_world(transactional_db, settings):
    # Rate limits off: the fuzzer sends far more than a person would (the flood test keeps them on).
    settings.WS_EVENT_RATE_LIMIT = 1_000_000
    settings.WS_FLOOD_LIMIT = 1_000_000
    settings.CHAT_RATE_LIMIT_MESSAGES = 1_000_000
    artist, viewer, other = ArtistFactory(), UserFactory(), UserFactory()
    live = stream_factory(artist=artist, status="live")
    ppv = stream_factory(artist=ArtistFactory(), status="live", is_pay_per_view=True)
    others = stream_factory(artist=ArtistFactory(), status="scheduled")
    return {
        "artist": artist,
        "viewer": viewer,
        "live": live,
        "stream_ids": [str(live.id), str(ppv.id), str(others.id), "not-a-uuid", "00000000-0000-0000-0000-000000000000"],
        "secrets": [artist.email, viewer.email, other.email, live.stream_key, ppv.stream_key, others.stream_key],
        "tokens": {"artist": token_for(artist), "viewer": token_for(viewer)},
    }


class Session:
    """One connection, recording every frame it receives."""

    def __init__(self, communicator):
        self.communicator = communicator
        self.received: list[str] = []

    async def send(self, frame):
        # Straight to the application: the communicator's send_to refuses empty frames, which a client can send.
        key = "bytes" if isinstance(frame, bytes) else "text"
        await self.communicator.send_input({"type": "websocket.receive", key: frame})

    async def until(self, event: str) -> dict:
        """Frames up to the first `event`; every other frame on the way must be a known one."""
        while True:
            output = await self.communicator.receive_output(5)
            assert output["type"] == "websocket.send", f"the consumer closed or failed: {output}"
            self.received.append(output["text"])
            frame = json.loads(output["text"])
            if frame["event"] == event:
                return frame["data"]
            if frame["event"] == "error":
                assert frame["data"]["code"] in ERROR_CODES, frame


async def _fuzz(world, role, batch):
    path = f"/ws/livestream/?token={world['tokens'][role]}"
    communicator = WebsocketCommunicator(application, path)
    connected, _ = await communicator.connect()
    assert connected
    session = Session(communicator)
    good_join = json.dumps({"event": "joinStream", "data": {"streamId": str(world["live"].id)}})
    try:
        for frame in batch:
            await session.send(frame)
            await session.send(good_join)
            # A fuzzed joinStream of another stream may be answered first: wait for the answer to ours.
            while (await session.until("joinedStream"))["streamId"] != str(world["live"].id):
                pass
        if role == "viewer":
            message = json.dumps(
                {"event": "sendChatMessage", "data": {"streamId": str(world["live"].id), "message": "still here"}}
            )
            await session.send(message)
            assert (await session.until("newChatMessage"))["message"] == "still here"
    finally:
        await communicator.disconnect()
    return session.received


def _valid_frames(world) -> list[str]:
    """One well-formed frame of every event, so each handler is reached whatever hypothesis draws."""
    stream_id, user_id = str(world["live"].id), world["viewer"].id
    data = {
        "joinStream": {},
        "reportQuality": {"bitrateKbps": 2500, "quality": "720p"},
        "sendChatMessage": {"message": "hello", "clientMessageId": "c1"},
        "deleteChatMessage": {"messageId": 1},
        "banUser": {"userId": user_id, "durationSeconds": 1, "reason": "fuzz"},
        "unbanUser": {"userId": user_id},
        "updateChatSettings": {"slowModeSeconds": 0, "blockedTerms": []},
        "leaveStream": {},
    }
    assert set(data) == set(EVENT_FIELDS)
    return [json.dumps({"event": event, "data": {"streamId": stream_id, **fields}}) for event, fields in data.items()]


@pytest.mark.parametrize("role", ["viewer", "artist"])
def test_hostile_frames_never_break_or_leak(fuzz_world, role, app_log):

    @settings(
        max_examples=examples(ci=60, long=1500), deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @example(batch=_valid_frames(fuzz_world))
    @given(batch=st.lists(frames(fuzz_world["stream_ids"]), min_size=1, max_size=4))
    def fuzz(batch):
        app_log.clear()
        received = async_to_sync(_fuzz)(fuzz_world, role, batch)
        assert not failures(app_log.records)
        for text in received:
            for secret in fuzz_world["secrets"]:
                assert secret not in text, f"a frame carries private data: {text[:200]}"

    fuzz()


def test_a_flood_is_closed_without_an_error(transactional_db, app_log):
    """Frames past WS_FLOOD_LIMIT in the window close the connection (4008), logged at INFO, no traceback."""
    token = token_for(UserFactory())

    async def flood():
        communicator = WebsocketCommunicator(application, f"/ws/livestream/?token={token}")
        assert (await communicator.connect())[0]
        closed = None
        for _ in range(150):
            await communicator.send_to(text_data='{"event": "nope", "data": {}}')
        while closed is None:
            output = await communicator.receive_output(5)
            if output["type"] == "websocket.close":
                closed = output["code"]
        await communicator.disconnect()
        return closed

    assert async_to_sync(flood)() == CLOSE_FLOODING
    assert not failures(app_log.records)
    assert any("flooding" in record.getMessage() for record in app_log.records)
