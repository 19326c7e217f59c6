"""The stream REST API through HTTP: every endpoint for every role, the lifecycle, validation, filters."""

import json
import warnings
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.paginator import UnorderedObjectListWarning
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, ArtistFactory, UserFactory
from payments.models import LiveStreamPayment
from streams.models import LiveStream
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db

ROLES = ["anon", "viewer", "other_artist", "artist", "staff"]
MANAGERS = {"artist", "staff"}


def future(days: int = 7) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def past(days: int = 1) -> str:
    return (timezone.now() - timedelta(days=days)).isoformat()


def new_stream_body(**overrides) -> dict:
    return {"title": "Evening set", "scheduledStartTime": future(), **overrides}


@pytest.fixture
def users(viewer, artist, other_artist, staff):
    return {"anon": None, "viewer": viewer, "other_artist": other_artist, "artist": artist, "staff": staff}


@pytest.fixture
def clients(users, client_for):
    return {role: client_for(user) for role, user in users.items()}


@pytest.fixture
def stream(artist):
    return stream_factory(artist=artist, title="Rock Night", description="Loud guitars")


def assert_error(response, status_code: int, code: str | None = None) -> dict:
    assert response.status_code == status_code, response.content
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def denied_status(role: str) -> tuple[int, str]:
    return (401, "not_authenticated") if role == "anon" else (403, "forbidden")


# --- Reads are public --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_everyone_lists_streams(role, clients, stream):
    response = clients[role].get("/api/livestreams")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [item["id"] for item in body["results"]] == [str(stream.id)]


@pytest.mark.parametrize("role", ROLES)
def test_everyone_retrieves_a_stream(role, clients, stream, artist):
    response = clients[role].get(f"/api/livestreams/{stream.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(stream.id)
    assert body["title"] == "Rock Night"
    assert body["artist"] == {"id": artist.id, "username": artist.username}
    assert ("streamKey" in body) == (role in MANAGERS)


def test_retrieve_shows_every_contract_field(clients, stream):
    body = clients["artist"].get(f"/api/livestreams/{stream.id}").json()
    expected = {
        "id",
        "title",
        "description",
        "type",
        "status",
        "scheduledStartTime",
        "startedAt",
        "endedAt",
        "maxViewers",
        "ticketPrice",
        "currency",
        "isPayPerView",
        "isChatEnabled",
        "isRecordingEnabled",
        "maxQuality",
        "artistId",
        "artist",
        "streamSettings",
        "streamKey",
        "createdAt",
        "updatedAt",
    }
    assert expected <= set(body)
    assert set(body["streamSettings"]) == {"bitrate", "fps", "resolution", "audioCodec", "videoCodec"}
    # No snake_case key leaks out anywhere in the document.
    assert "_" not in json.dumps(list(body) + list(body["streamSettings"]))


# --- Create -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role,expected", [("anon", 401), ("viewer", 403), ("other_artist", 201), ("artist", 201), ("staff", 201)]
)
def test_create_is_for_artists_and_staff(role, expected, clients, users):
    response = clients[role].post("/api/livestreams", new_stream_body(), format="json")
    assert response.status_code == expected, response.content
    if expected == 201:
        body = response.json()
        assert body["artist"]["id"] == users[role].id
        assert body["status"] == "scheduled"
        assert body["streamKey"].startswith("sk_")
        assert LiveStream.objects.get(pk=body["id"]).artist == users[role]
    else:
        assert_error(response, expected, denied_status(role)[1])
        assert not LiveStream.objects.exists()


def test_staff_creates_a_stream_for_an_artist(clients, artist):
    response = clients["staff"].post("/api/livestreams", new_stream_body(artistId=artist.id), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["artist"]["id"] == artist.id
    assert LiveStream.objects.get().artist == artist


def test_an_artist_cannot_create_for_another_artist(clients, other_artist):
    response = clients["artist"].post("/api/livestreams", new_stream_body(artistId=other_artist.id), format="json")
    assert_error(response, 403, "forbidden")
    assert not LiveStream.objects.exists()


def test_staff_cannot_name_a_viewer_as_the_artist(clients, viewer):
    response = clients["staff"].post("/api/livestreams", new_stream_body(artistId=viewer.id), format="json")
    error = assert_error(response, 400, "validation_error")
    assert "artistId" in error["fields"]
    assert not LiveStream.objects.exists()


def test_staff_naming_an_unknown_artist_gets_a_field_error(clients):
    response = clients["staff"].post("/api/livestreams", new_stream_body(artistId=10**30), format="json")
    assert "artistId" in assert_error(response, 400, "validation_error")["fields"]


def test_the_original_module_example_body_creates_a_stream(clients, artist):
    # ORIGINAL_MODULE.md's CreateLiveStreamDto, without the placeholder artistId; its date (2024-12-01) is in the
    # past now, and a past start is refused on create, so the same wall-clock time a year ahead is used.
    start = (timezone.now() + timedelta(days=365)).replace(hour=20, minute=0, second=0, microsecond=0)
    body = {
        "title": "Live Concert - Rock Night",
        "description": "Amazing rock concert featuring local bands",
        "type": "concert",
        "scheduledStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "maxViewers": 1000,
        "ticketPrice": 29.99,
        "isPayPerView": True,
        "isChatEnabled": True,
        "isRecordingEnabled": True,
        "maxQuality": "high",
        "streamSettings": {
            "bitrate": 5000,
            "fps": 30,
            "resolution": "1920x1080",
            "audioCodec": "aac",
            "videoCodec": "h264",
        },
    }
    response = clients["artist"].post("/api/livestreams", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    for key in ("title", "description", "type", "maxViewers", "isPayPerView", "isChatEnabled", "maxQuality"):
        assert created[key] == body[key], key
    assert created["isRecordingEnabled"] is True
    assert created["ticketPrice"] == "29.99"
    assert created["streamSettings"] == body["streamSettings"]
    assert created["currency"] == "usd"
    stream = LiveStream.objects.get(pk=created["id"])
    assert stream.ticket_price == Decimal("29.99")
    assert stream.scheduled_start_time == start
    assert stream.stream_settings["audio_codec"] == "aac"


@pytest.mark.parametrize("price", [29.99, "29.99", " 29.99 "])
def test_ticket_price_is_accepted_as_number_or_string_and_returned_as_a_decimal_string(price, clients):
    body = new_stream_body(isPayPerView=True, ticketPrice=price)
    response = clients["artist"].post("/api/livestreams", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["ticketPrice"] == "29.99"
    stream_id = response.json()["id"]
    assert clients["anon"].get(f"/api/livestreams/{stream_id}").json()["ticketPrice"] == "29.99"


def test_create_fills_defaults_and_ignores_read_only_fields(clients):
    body = new_stream_body(
        status="live", streamKey="sk_mine", startedAt=past(), id="00000000-0000-0000-0000-000000000000"
    )
    response = clients["artist"].post("/api/livestreams", body, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["status"] == "scheduled"
    assert created["startedAt"] is None
    assert created["streamKey"] != "sk_mine"
    assert created["id"] != body["id"]
    assert created["type"] == "concert"
    assert created["maxQuality"] == "high"
    assert created["ticketPrice"] == "0.00"
    assert created["isPayPerView"] is False
    assert created["streamSettings"]["audioCodec"] == "aac"


# --- Validation ---------------------------------------------------------------------------------------

INVALID_CREATE_BODIES = [
    ({"title": ""}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"title": ["a list"]}, "title"),
    ({"title": {"an": "object"}}, "title"),
    ({"title": None}, "title"),
    ({"description": "x" * 5001}, "description"),
    ({"type": "rave"}, "type"),
    ({"type": 3}, "type"),
    ({"scheduledStartTime": past()}, "scheduledStartTime"),
    ({"scheduledStartTime": "next friday"}, "scheduledStartTime"),
    ({"scheduledStartTime": 1700000000}, "scheduledStartTime"),
    ({"scheduledStartTime": "9999-12-31T23:59:59-05:00"}, "scheduledStartTime"),
    ({"maxViewers": 0}, "maxViewers"),
    ({"maxViewers": -5}, "maxViewers"),
    ({"maxViewers": "many"}, "maxViewers"),
    ({"maxViewers": 1.5}, "maxViewers"),
    ({"maxViewers": 10**30}, "maxViewers"),
    ({"ticketPrice": -1}, "ticketPrice"),
    ({"ticketPrice": "-0.01"}, "ticketPrice"),
    ({"ticketPrice": "free"}, "ticketPrice"),
    ({"ticketPrice": "1.999"}, "ticketPrice"),
    ({"ticketPrice": 10**12}, "ticketPrice"),
    ({"ticketPrice": [1]}, "ticketPrice"),
    ({"isPayPerView": True}, "ticketPrice"),
    ({"isPayPerView": True, "ticketPrice": 0}, "ticketPrice"),
    ({"isPayPerView": "maybe"}, "isPayPerView"),
    ({"isChatEnabled": "sometimes"}, "isChatEnabled"),
    ({"isRecordingEnabled": []}, "isRecordingEnabled"),
    ({"maxQuality": "ultra"}, "maxQuality"),
    ({"currency": "dollars"}, "currency"),
    ({"currency": 840}, "currency"),
    ({"artistId": "abc"}, "artistId"),
    ({"artistId": 0}, "artistId"),
    ({"streamSettings": "fast"}, "streamSettings"),
    ({"streamSettings": [1, 2]}, "streamSettings"),
    ({"streamSettings": {"audioCodec": "wav"}}, "streamSettings.audioCodec"),
    ({"streamSettings": {"videoCodec": "mpeg2"}}, "streamSettings.videoCodec"),
    ({"streamSettings": {"bitrate": 0}}, "streamSettings.bitrate"),
    ({"streamSettings": {"bitrate": 10**40}}, "streamSettings.bitrate"),
    ({"streamSettings": {"fps": "30"}}, "streamSettings.fps"),
    ({"streamSettings": {"fps": True}}, "streamSettings.fps"),
    ({"streamSettings": {"resolution": "big"}}, "streamSettings.resolution"),
    ({"streamSettings": {"resolution": "99999x99999"}}, "streamSettings.resolution"),
    ({"streamSettings": {"frameRate": 30}}, "streamSettings.frameRate"),
    ({"streamSettings": {"bitrate": None}}, "streamSettings.bitrate"),
    ({"streamSettings": None}, "streamSettings"),
]


def field_at(fields: dict, path: str):
    value = fields
    for part in path.split("."):
        assert isinstance(value, dict) and part in value, f"{path} not in {fields}"
        value = value[part]
    return value


@pytest.mark.parametrize("overrides,field", INVALID_CREATE_BODIES, ids=[f for _, f in INVALID_CREATE_BODIES])
def test_invalid_create_bodies_get_a_400_naming_the_field(overrides, field, clients):
    response = clients["artist"].post("/api/livestreams", new_stream_body(**overrides), format="json")
    error = assert_error(response, 400, "validation_error")
    messages = field_at(error["fields"], field)
    assert messages and all(isinstance(message, str) and message for message in messages)
    assert not LiveStream.objects.exists()


@pytest.mark.parametrize("missing", ["title", "scheduledStartTime"])
def test_required_fields(missing, clients):
    body = new_stream_body()
    del body[missing]
    error = assert_error(clients["artist"].post("/api/livestreams", body, format="json"), 400, "validation_error")
    assert error["fields"] == {missing: ["This field is required."]}


@pytest.mark.parametrize("raw", ["{not json", '{"title": "x",}', "\x00\x01", '{"title": "\\ud800"'])
def test_a_body_that_is_not_json_is_a_400(raw, clients):
    response = clients["artist"].post("/api/livestreams", raw, content_type="application/json")
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("raw", ["[1, 2]", '"a string"', "42", "null"])
def test_a_json_body_that_is_not_an_object_is_a_400(raw, clients):
    response = clients["artist"].post("/api/livestreams", raw, content_type="application/json")
    assert_error(response, 400, "validation_error")
    assert not LiveStream.objects.exists()


def test_an_unsupported_content_type_is_a_415(clients):
    response = clients["artist"].post("/api/livestreams", "title=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_an_unsupported_method_is_a_405(clients, stream):
    assert_error(clients["artist"].put(f"/api/livestreams/{stream.id}/start"), 405, "method_not_allowed")


# --- Retrieve, update, delete: who may ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_patch_is_for_the_artist_and_staff(role, clients, stream):
    response = clients[role].patch(f"/api/livestreams/{stream.id}", {"title": "Renamed"}, format="json")
    stream.refresh_from_db()
    if role in MANAGERS:
        assert response.status_code == 200, response.content
        assert response.json()["title"] == "Renamed"
        assert stream.title == "Renamed"
    else:
        assert_error(response, *denied_status(role))
        assert stream.title == "Rock Night"


@pytest.mark.parametrize("role", ROLES)
def test_delete_is_for_the_artist_and_staff(role, clients, stream):
    response = clients[role].delete(f"/api/livestreams/{stream.id}")
    if role in MANAGERS:
        assert response.status_code == 204
        assert not LiveStream.objects.filter(pk=stream.id).exists()
    else:
        assert_error(response, *denied_status(role))
        assert LiveStream.objects.filter(pk=stream.id).exists()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "action,from_status,to_status",
    [("start", "scheduled", "live"), ("end", "live", "ended"), ("cancel", "scheduled", "cancelled")],
)
def test_transitions_are_for_the_artist_and_staff(role, action, from_status, to_status, clients, artist):
    stream = stream_factory(artist=artist, status=from_status)
    response = clients[role].post(f"/api/livestreams/{stream.id}/{action}")
    stream.refresh_from_db()
    if role in MANAGERS:
        assert response.status_code == 200, response.content
        assert response.json()["status"] == to_status
        assert stream.status == to_status
    else:
        assert_error(response, *denied_status(role))
        assert stream.status == from_status


@pytest.mark.parametrize("role", ROLES)
def test_stream_key_rotation_is_for_the_artist_and_staff(role, clients, stream):
    old_key = stream.stream_key
    response = clients[role].post(f"/api/livestreams/{stream.id}/stream-key/rotate")
    stream.refresh_from_db()
    if role in MANAGERS:
        assert response.status_code == 200, response.content
        new_key = response.json()["streamKey"]
        assert new_key == stream.stream_key != old_key
        assert new_key.startswith("sk_") and len(new_key) >= 3 + 22  # at least 128 bits of base64url
        assert clients["artist"].get(f"/api/livestreams/{stream.id}").json()["streamKey"] == new_key
    else:
        assert_error(response, *denied_status(role))
        assert stream.stream_key == old_key


def test_stream_keys_are_unique_and_random(artist):
    keys = {stream_factory(artist=artist).stream_key for _ in range(20)}
    assert len(keys) == 20


DETAIL_REQUESTS = [
    ("get", ""),
    ("patch", ""),
    ("put", ""),
    ("delete", ""),
    ("post", "/start"),
    ("post", "/end"),
    ("post", "/cancel"),
    ("post", "/stream-key/rotate"),
]


@pytest.mark.parametrize("stream_id", ["not-a-uuid", "12345", "00000000-0000-0000-0000-000000000000", "%00", "a" * 300])
@pytest.mark.parametrize("method,suffix", DETAIL_REQUESTS)
def test_malformed_or_unknown_ids_are_404(stream_id, method, suffix, clients):
    response = getattr(clients["staff"], method)(f"/api/livestreams/{stream_id}{suffix}", {}, format="json")
    assert_error(response, 404, "not_found")


def test_put_replaces_the_editable_fields(clients, stream):
    body = new_stream_body(title="Replaced", maxViewers=50, type="studio_session")
    response = clients["artist"].put(f"/api/livestreams/{stream.id}", body, format="json")
    assert response.status_code == 200, response.content
    stream.refresh_from_db()
    assert (stream.title, stream.max_viewers, stream.type) == ("Replaced", 50, "studio_session")


def test_patch_ignores_read_only_fields(clients, stream):
    old_key = stream.stream_key
    body = {"status": "ended", "streamKey": "sk_stolen", "startedAt": past(), "title": "Still scheduled"}
    response = clients["artist"].patch(f"/api/livestreams/{stream.id}", body, format="json")
    assert response.status_code == 200, response.content
    stream.refresh_from_db()
    assert (stream.status, stream.stream_key, stream.started_at) == ("scheduled", old_key, None)
    assert stream.title == "Still scheduled"


def test_patch_merges_stream_settings(clients, stream):
    response = clients["artist"].patch(
        f"/api/livestreams/{stream.id}", {"streamSettings": {"fps": 60, "audioCodec": "opus"}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["streamSettings"] == {
        "bitrate": 4500,
        "fps": 60,
        "resolution": "1920x1080",
        "audioCodec": "opus",
        "videoCodec": "h264",
    }


@pytest.mark.parametrize(
    "body,field",
    [
        ({"maxViewers": 0}, "maxViewers"),
        ({"ticketPrice": -3}, "ticketPrice"),
        ({"isPayPerView": True}, "ticketPrice"),
        ({"scheduledStartTime": past()}, "scheduledStartTime"),
        ({"title": "y" * 201}, "title"),
        ({"type": "karaoke"}, "type"),
        ({"streamSettings": {"audioCodec": "flac"}}, "streamSettings.audioCodec"),
        ({"artistId": "nobody"}, "artistId"),
    ],
)
def test_invalid_patches_get_a_400_naming_the_field(body, field, clients, stream):
    response = clients["artist"].patch(f"/api/livestreams/{stream.id}", body, format="json")
    field_at(assert_error(response, 400, "validation_error")["fields"], field)
    before = LiveStream.objects.get(pk=stream.id)
    assert (before.max_viewers, before.ticket_price, before.title) == (None, Decimal("0"), "Rock Night")


def test_patch_cannot_move_a_stream_to_another_artist(clients, stream, other_artist):
    response = clients["staff"].patch(f"/api/livestreams/{stream.id}", {"artistId": other_artist.id}, format="json")
    assert "artistId" in assert_error(response, 400, "validation_error")["fields"]
    stream.refresh_from_db()
    assert stream.artist_id != other_artist.id


def test_patch_keeps_an_unchanged_past_start_time(clients, artist):
    stream = stream_factory(artist=artist, status="ended")
    body = {"scheduledStartTime": stream.scheduled_start_time.isoformat(), "title": "Replay"}
    assert clients["artist"].patch(f"/api/livestreams/{stream.id}", body, format="json").status_code == 200


def test_pay_per_view_with_a_price_in_the_same_patch(clients, stream):
    response = clients["artist"].patch(
        f"/api/livestreams/{stream.id}", {"isPayPerView": True, "ticketPrice": "12.50"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert (response.json()["isPayPerView"], response.json()["ticketPrice"]) == (True, "12.50")


@pytest.mark.parametrize("status_name", ["live", "ended", "cancelled"])
def test_schedule_fields_are_frozen_once_a_stream_has_left_scheduled(status_name, clients, artist):
    stream = stream_factory(artist=artist, status=status_name)
    response = clients["artist"].patch(f"/api/livestreams/{stream.id}", {"ticketPrice": "5.00"}, format="json")
    error = assert_error(response, 409, "stream_not_editable")
    assert status_name in error["message"]
    stream.refresh_from_db()
    assert stream.ticket_price == Decimal("0")
    # The title and description stay editable.
    assert clients["artist"].patch(f"/api/livestreams/{stream.id}", {"title": "New"}, format="json").status_code == 200


# --- The state machine --------------------------------------------------------------------------------

LEGAL = {("scheduled", "start"): "live", ("live", "end"): "ended", ("scheduled", "cancel"): "cancelled"}
ALL_CASES = [
    (status, action) for status in ("scheduled", "live", "ended", "cancelled") for action in ("start", "end", "cancel")
]


@pytest.mark.parametrize("from_status,action", ALL_CASES)
def test_every_transition(from_status, action, clients, artist):
    stream = stream_factory(artist=artist, status=from_status)
    before = LiveStream.objects.get(pk=stream.id)
    started = timezone.now()
    response = clients["artist"].post(f"/api/livestreams/{stream.id}/{action}")
    stream.refresh_from_db()
    if (from_status, action) in LEGAL:
        target = LEGAL[(from_status, action)]
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["status"] == stream.status == target
        if target == "live":
            assert stream.started_at >= started and stream.ended_at is None
            assert body["startedAt"] is not None and body["endedAt"] is None
        else:
            assert stream.ended_at >= started
            assert body["endedAt"] is not None
        if target == "ended":
            assert stream.started_at <= stream.ended_at
    else:
        error = assert_error(response, 409, "invalid_transition")
        assert from_status in error["message"]
        assert action in error["message"]
        assert (stream.status, stream.started_at, stream.ended_at) == (
            before.status,
            before.started_at,
            before.ended_at,
        )


def test_a_full_lifecycle_through_the_api(clients):
    created = clients["artist"].post("/api/livestreams", new_stream_body(), format="json").json()
    url = f"/api/livestreams/{created['id']}"
    live = clients["artist"].post(f"{url}/start").json()
    ended = clients["staff"].post(f"{url}/end").json()
    assert (created["status"], live["status"], ended["status"]) == ("scheduled", "live", "ended")
    assert live["startedAt"] == ended["startedAt"]
    assert ended["endedAt"] >= ended["startedAt"]
    assert_error(clients["artist"].post(f"{url}/start"), 409, "invalid_transition")


@pytest.mark.parametrize(
    "status_name,expected", [("scheduled", 204), ("live", 409), ("ended", 204), ("cancelled", 204)]
)
def test_delete_in_each_status(status_name, expected, clients, artist):
    stream = stream_factory(artist=artist, status=status_name)
    response = clients["artist"].delete(f"/api/livestreams/{stream.id}")
    assert response.status_code == expected, response.content
    assert LiveStream.objects.filter(pk=stream.id).exists() == (expected == 409)
    if expected == 409:
        error = assert_error(response, 409, "stream_live")
        assert "end it first" in error["message"]


def test_a_stream_with_tickets_cannot_be_deleted(clients, artist, viewer):
    stream = stream_factory(artist=artist, is_pay_per_view=True)
    LiveStreamPayment.objects.create(
        stream=stream, user=viewer, amount=stream.ticket_price, currency="usd", status="paid"
    )
    assert_error(clients["staff"].delete(f"/api/livestreams/{stream.id}"), 409, "stream_has_tickets")
    assert LiveStream.objects.filter(pk=stream.id).exists()


# --- The stream key never reaches anyone else --------------------------------------------------------


@pytest.mark.parametrize("role", ["anon", "viewer", "other_artist"])
def test_no_response_to_others_contains_the_stream_key(role, clients, artist):
    streams = [stream_factory(artist=artist, status=s) for s in ("scheduled", "live", "ended")]
    client = clients[role]
    reads = [client.get("/api/livestreams"), client.get("/api/livestreams?pageSize=100&ordering=-createdAt")]
    reads += [client.get(f"/api/livestreams/{stream.id}") for stream in streams]
    for response in reads:  # not even the field's name
        assert response.status_code == 200
        assert "streamKey" not in response.content.decode()
    responses = reads + [
        client.get("/api/livestreams", HTTP_ACCEPT="text/html"),
        client.post("/api/livestreams", new_stream_body(), format="json"),
        client.options("/api/livestreams"),
    ]
    for stream in streams:
        url = f"/api/livestreams/{stream.id}"
        responses += [
            client.get(url, HTTP_ACCEPT="text/html"),
            client.get(f"{url}/", HTTP_ACCEPT="text/html"),
            client.options(url),
            client.patch(url, {"title": "mine"}, format="json"),
            client.put(url, new_stream_body(), format="json"),
            client.post(f"{url}/start"),
            client.post(f"{url}/end"),
            client.post(f"{url}/stream-key/rotate"),
            client.delete(url),
        ]
    keys = [stream.stream_key for stream in streams]
    assert all(LiveStream.objects.filter(stream_key=key).exists() for key in keys)  # not rotated by anyone
    for response in responses:
        assert response.status_code < 500
        text = response.content.decode()
        for key in keys:
            assert key not in text, (response.request, response.status_code)


def test_the_artist_and_staff_see_the_key_in_list_and_retrieve(clients, stream, other_artist):
    stream_factory(artist=other_artist)
    for role in ("artist", "staff"):
        assert clients[role].get(f"/api/livestreams/{stream.id}").json()["streamKey"] == stream.stream_key
        results = clients[role].get("/api/livestreams").json()["results"]
        mine = next(item for item in results if item["id"] == str(stream.id))
        assert mine["streamKey"] == stream.stream_key
    # The artist sees only their own key in the list.
    results = clients["artist"].get("/api/livestreams").json()["results"]
    assert [("streamKey" in item) for item in results] == [item["id"] == str(stream.id) for item in results]


# --- List: pagination, filters, ordering, query count ----------------------------------------------


def test_list_query_count_does_not_grow_with_the_page_size(clients, artist, django_assert_num_queries):
    for n in range(50):
        stream_factory(artist=ArtistFactory() if n % 2 else artist, title=f"Stream {n}")
    for role, queries in (("anon", 2), ("artist", 3)):
        for page_size in (5, 50):
            with django_assert_num_queries(queries):
                response = clients[role].get(f"/api/livestreams?pageSize={page_size}")
            assert response.status_code == 200
            assert len(response.json()["results"]) == page_size


def test_pagination_shape(clients, artist):
    for n in range(3):
        stream_factory(artist=artist, title=f"Show {n}", scheduled_start_time=timezone.now() + timedelta(days=n + 1))
    first = clients["anon"].get("/api/livestreams?pageSize=2").json()
    assert set(first) == {"count", "next", "previous", "results"}
    assert first["count"] == 3 and first["previous"] is None
    assert [item["title"] for item in first["results"]] == ["Show 0", "Show 1"]
    assert "page=2" in first["next"] and "pageSize=2" in first["next"]
    second = clients["anon"].get(first["next"]).json()
    assert [item["title"] for item in second["results"]] == ["Show 2"]
    assert second["next"] is None and second["previous"] is not None
    assert_error(clients["anon"].get("/api/livestreams?pageSize=2&page=9"), 404, "not_found")


def test_page_size_is_capped_at_100(clients, artist):
    for _ in range(101):
        stream_factory(artist=artist)
    body = clients["anon"].get("/api/livestreams?pageSize=500").json()
    assert body["count"] == 101
    assert len(body["results"]) == 100
    assert body["next"] is not None
    assert len(clients["anon"].get("/api/livestreams").json()["results"]) == 20  # the default page size


@pytest.fixture
def catalogue(artist, other_artist):
    now = timezone.now()
    return {
        "rock": stream_factory(
            artist=artist,
            title="Rock Night",
            type="concert",
            is_pay_per_view=True,
            ticket_price=Decimal("29.99"),
            scheduled_start_time=now + timedelta(days=1),
        ),
        "studio": stream_factory(
            artist=artist,
            title="Studio hours",
            description="Mixing the new ROCK record",
            type="studio_session",
            scheduled_start_time=now + timedelta(days=3),
            status="live",
        ),
        "qa": stream_factory(
            artist=other_artist,
            title="Ask me anything",
            type="artist_interaction",
            scheduled_start_time=now + timedelta(days=5),
            status="ended",
        ),
        "jazz": stream_factory(
            artist=other_artist,
            title="Jazz brunch",
            is_pay_per_view=True,
            ticket_price=Decimal("5.00"),
            scheduled_start_time=now + timedelta(days=7),
            status="cancelled",
        ),
    }


def listed(client, query: str) -> list[str]:
    response = client.get(f"/api/livestreams?{query}")
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


@pytest.mark.parametrize(
    "query,expected",
    [
        ("status=live", ["Studio hours"]),
        ("status=scheduled", ["Rock Night"]),
        ("status=cancelled", ["Jazz brunch"]),
        ("type=concert", ["Rock Night", "Jazz brunch"]),
        ("type=artist_interaction", ["Ask me anything"]),
        ("isPayPerView=true", ["Rock Night", "Jazz brunch"]),
        ("isPayPerView=false", ["Studio hours", "Ask me anything"]),
        ("search=rock", ["Rock Night", "Studio hours"]),
        ("search=BRUNCH", ["Jazz brunch"]),
        ("search=nothing-like-this", []),
        ("ordering=title", ["Ask me anything", "Jazz brunch", "Rock Night", "Studio hours"]),
        ("ordering=-ticketPrice,title", ["Rock Night", "Jazz brunch", "Ask me anything", "Studio hours"]),
        ("ordering=-scheduledStartTime", ["Jazz brunch", "Ask me anything", "Studio hours", "Rock Night"]),
        ("", ["Rock Night", "Studio hours", "Ask me anything", "Jazz brunch"]),
        ("status=live&type=concert", []),
        ("type=concert&isPayPerView=true&ordering=-title", ["Rock Night", "Jazz brunch"]),
    ],
)
def test_list_filters(query, expected, clients, catalogue):
    assert listed(clients["viewer"], query) == expected


@pytest.mark.parametrize("ordering", ["ordering=,", "ordering=title"])
def test_every_page_is_in_one_definite_order(ordering, clients, artist):
    # Same titles: only the id tells them apart; an empty ordering (",") once left the pages unordered.
    streams = {str(stream_factory(artist=artist, title="Same").id) for _ in range(5)}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=UnorderedObjectListWarning)
        pages = [clients["anon"].get(f"/api/livestreams?{ordering}&pageSize=2&page={page}") for page in (1, 2, 3)]
    seen = [stream["id"] for page in pages for stream in page.json()["results"]]
    assert sorted(seen) == sorted(streams)  # every stream once: no page overlaps or skips


def test_artist_and_schedule_filters(clients, catalogue, artist, other_artist):
    assert listed(clients["anon"], f"artistId={artist.id}") == ["Rock Night", "Studio hours"]
    assert listed(clients["anon"], f"artistId={other_artist.id}") == ["Ask me anything", "Jazz brunch"]
    after = (catalogue["studio"].scheduled_start_time - timedelta(minutes=1)).isoformat()
    before = (catalogue["qa"].scheduled_start_time + timedelta(minutes=1)).isoformat()
    assert listed(clients["anon"], f"scheduledAfter={after.replace('+', '%2B')}") == [
        "Studio hours",
        "Ask me anything",
        "Jazz brunch",
    ]
    assert listed(clients["anon"], f"scheduledBefore={before.replace('+', '%2B')}") == [
        "Rock Night",
        "Studio hours",
        "Ask me anything",
    ]
    window = f"scheduledAfter={after.replace('+', '%2B')}&scheduledBefore={before.replace('+', '%2B')}"
    assert listed(clients["anon"], window) == ["Studio hours", "Ask me anything"]


@pytest.mark.parametrize(
    "query,field",
    [
        ("status=nope", "status"),
        ("type=rave", "type"),
        ("ordering=zzz", "ordering"),
        ("ordering=streamKey", "ordering"),
        ("ordering=stream_key", "ordering"),
        ("isPayPerView=maybe", "isPayPerView"),
        ("isPayPerView=", None),
        ("scheduledAfter=garbage", "scheduledAfter"),
        ("scheduledBefore=2026-13-45", "scheduledBefore"),
        ("scheduledAfter=9999-12-31T23:59:59-05:00", "scheduledAfter"),
        ("artistId=abc", "artistId"),
        ("artistId=1.5", "artistId"),
        ("artistId=99999999999999999999", "artistId"),
        ("artistId=1e400", "artistId"),
        ("search=%00", "search"),
        ("search=" + "x" * 201, "search"),
    ],
)
def test_unknown_query_values_are_a_400_naming_the_parameter(query, field, clients, catalogue):
    response = clients["anon"].get(f"/api/livestreams?{query}")
    if field is None:  # an empty value means "no filter"
        assert response.status_code == 200
        assert response.json()["count"] == 4
        return
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [field]


@pytest.mark.parametrize("query", ["pageSize=abc", "pageSize=0", "pageSize=-3", "unknownParam=1", "page=1"])
def test_harmless_query_values_fall_back_to_defaults(query, clients, catalogue):
    response = clients["anon"].get(f"/api/livestreams?{query}")
    assert response.status_code == 200
    assert response.json()["count"] == 4


@pytest.mark.parametrize("query", ["page=abc", "page=0", "page=99"])
def test_pages_that_do_not_exist_are_404(query, clients, catalogue):
    assert_error(clients["anon"].get(f"/api/livestreams?{query}"), 404, "not_found")


# --- Paths with and without a trailing slash --------------------------------------------------------


@pytest.mark.parametrize("slash", ["", "/"])
def test_every_stream_path_answers_with_and_without_a_trailing_slash(slash, clients, artist):
    client = clients["artist"]
    stream = stream_factory(artist=artist)
    assert client.get(f"/api/livestreams{slash}").status_code == 200
    created = client.post(f"/api/livestreams{slash}", new_stream_body(), format="json")
    assert created.status_code == 201, created.content
    url = f"/api/livestreams/{stream.id}"
    assert client.get(f"{url}{slash}").status_code == 200
    assert client.options(f"{url}{slash}").status_code == 200
    assert client.patch(f"{url}{slash}", {"title": "x"}, format="json").status_code == 200
    assert client.put(f"{url}{slash}", new_stream_body(), format="json").status_code == 200
    assert client.post(f"{url}/stream-key/rotate{slash}").status_code == 200
    assert client.post(f"{url}/start{slash}").json()["status"] == "live"
    assert client.post(f"{url}/end{slash}").json()["status"] == "ended"
    other = created.json()["id"]
    assert client.post(f"/api/livestreams/{other}/cancel{slash}").json()["status"] == "cancelled"
    assert client.delete(f"/api/livestreams/{other}{slash}").status_code == 204


@pytest.mark.parametrize("slash", ["", "/"])
def test_auth_and_site_paths_answer_with_and_without_a_trailing_slash(slash, anon_client, client_for, viewer):
    register = anon_client.post(
        f"/api/auth/register{slash}", {"username": f"fan{len(slash)}", "password": PASSWORD}, format="json"
    )
    assert register.status_code == 201, register.content
    token = anon_client.post(
        f"/api/auth/token{slash}", {"username": viewer.username, "password": PASSWORD}, format="json"
    )
    assert token.status_code == 200, token.content
    assert client_for(viewer).get(f"/api/auth/me{slash}").status_code == 200
    for path in ("/api/schema", "/api/docs", "/healthz"):
        assert anon_client.get(f"{path}{slash}").status_code == 200, path


def test_no_path_redirects(clients, stream):
    # APPEND_SLASH is off: a POST must never be bounced to another URL.
    from django.conf import settings

    assert settings.APPEND_SLASH is False
    for response in (
        clients["artist"].post("/api/livestreams", new_stream_body(), format="json"),
        clients["artist"].post(f"/api/livestreams/{stream.id}/start"),
        clients["anon"].get("/api/livestreams"),
    ):
        assert response.status_code not in (301, 302, 307, 308)


# --- Browser path: the session ----------------------------------------------------------------------


def test_a_browser_session_works_and_needs_a_csrf_token_to_write(artist):
    browser = APIClient(enforce_csrf_checks=True)
    assert browser.login(username=artist.username, password=PASSWORD)
    me = browser.get("/api/auth/me")
    assert me.status_code == 200 and me.json()["username"] == artist.username
    refused = browser.post("/api/livestreams", new_stream_body(), format="json")
    assert_error(refused, 403, "forbidden")
    assert "CSRF" in refused.json()["error"]["message"]
    browser.get("/admin/login/")  # any Django page sets the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    created = browser.post("/api/livestreams", new_stream_body(), format="json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    assert created.json()["artist"]["id"] == artist.id


def test_a_browser_session_of_a_viewer_cannot_create(viewer):
    browser = APIClient()
    browser.force_login(viewer)
    assert_error(browser.post("/api/livestreams", new_stream_body(), format="json"), 403, "forbidden")


def test_a_bad_token_is_a_401_even_for_reads(stream):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert_error(client.get("/api/livestreams"), 401, "authentication_failed")


def test_an_inactive_users_token_stops_working(client_for):
    user = UserFactory(role="artist")
    client = client_for(user)
    assert client.get("/api/auth/me").status_code == 200
    user.is_active = False
    user.save()
    assert_error(client.post("/api/livestreams", new_stream_body(), format="json"), 401)


# --- No 500s: every field gets every kind of wrong value --------------------------------------------

WRONG_VALUES = [None, True, 0, -1, 1.5, 10**20, "", "x" * 10_000, "\x00", [], [1], {}, {"a": 1}]
TOP_FIELDS = [
    "title",
    "description",
    "type",
    "scheduledStartTime",
    "maxViewers",
    "ticketPrice",
    "currency",
    "isPayPerView",
    "isChatEnabled",
    "isRecordingEnabled",
    "maxQuality",
    "artistId",
    "streamSettings",
]
SETTINGS_FIELDS = ["bitrate", "fps", "resolution", "audioCodec", "videoCodec"]


@pytest.mark.parametrize("field", TOP_FIELDS + [f"streamSettings.{name}" for name in SETTINGS_FIELDS])
def test_no_wrong_value_of_any_field_is_a_server_error(field, clients, stream):
    for value in WRONG_VALUES:
        if "." in field:
            body = new_stream_body(streamSettings={field.split(".")[1]: value})
        else:
            body = new_stream_body(**{field: value})
        created = clients["staff"].post("/api/livestreams", body, format="json")
        patched = clients["staff"].patch(f"/api/livestreams/{stream.id}", {k: body[k] for k in body if k != "title"})
        for response in (created, patched):
            assert response.status_code in (200, 201, 400), (field, value, response.status_code, response.content)
            if response.status_code == 400:
                error = response.json()["error"]
                assert error["code"] == "validation_error"
                # isPayPerView: true is a valid value; what it lacks is a ticketPrice.
                field_at(error["fields"], "ticketPrice" if (field, value) == ("isPayPerView", True) else field)
    # Whatever was accepted is still a readable, valid stream.
    for item in clients["anon"].get("/api/livestreams?pageSize=100").json()["results"]:
        assert set(item["streamSettings"]) == set(SETTINGS_FIELDS)
        assert all(setting is not None for setting in item["streamSettings"].values()), item["streamSettings"]
