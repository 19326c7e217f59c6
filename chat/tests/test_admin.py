"""Chat in the admin: every write goes through the chat services, so the room hears of it, and refusals are shown."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.tests.factories import StaffFactory
from chat import services
from chat.models import ChatBan, ChatModerator, LiveStreamChatSettings
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db
SETTINGS = "/admin/chat/livestreamchatsettings/"


@pytest.fixture
def stream(artist):
    return stream_factory(artist=artist, status="live")


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())  # plain staff, no per-model grants
    return client


def _form_errors(response) -> dict:
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return {name: list(errors) for name, errors in form.errors.items()}


def test_an_admin_change_of_chat_settings_tells_the_room(
    stream, artist, staff_client, room_frames, django_capture_on_commit_callbacks
):
    services.chat_settings_update(stream_id=stream.id, by_user=artist, blocked_terms=["boo"])
    chat_settings = LiveStreamChatSettings.objects.get(stream=stream)
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"{SETTINGS}{chat_settings.pk}/change/", {"slow_mode_seconds": "30", "blocked_terms": '["boo", "BOO"]'}
        )
    assert response.status_code == 302
    updates = [frame for frame in room_frames if frame["event"] == "chatSettingsUpdate"]
    assert updates == [
        {
            "roomId": str(stream.id),
            "event": "chatSettingsUpdate",
            "data": {"streamId": str(stream.id), "slowModeSeconds": 30, "isChatEnabled": True},
        }
    ]
    assert any(frame["event"] == "systemMessage" for frame in room_frames)
    chat_settings.refresh_from_db()
    # The service's rule applied: terms match ignoring case, so one spelling is kept.
    assert (chat_settings.slow_mode_seconds, chat_settings.blocked_terms) == (30, ["boo"])


def test_chat_settings_added_in_the_admin_tell_the_room(
    stream, staff_client, room_frames, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"{SETTINGS}add/", {"stream": str(stream.id), "slow_mode_seconds": "5", "blocked_terms": "[]"}
        )
    assert response.status_code == 302
    assert [frame["data"]["slowModeSeconds"] for frame in room_frames if frame["event"] == "chatSettingsUpdate"] == [5]


@pytest.mark.parametrize(
    "body,field",
    [
        ({"slow_mode_seconds": "3601", "blocked_terms": "[]"}, "__all__"),  # the model's check constraint
        ({"slow_mode_seconds": "0", "blocked_terms": '"boo"'}, "blocked_terms"),
        ({"slow_mode_seconds": "0", "blocked_terms": json.dumps(["x" * 51])}, "blocked_terms"),
        ({"slow_mode_seconds": "0", "blocked_terms": json.dumps(["   "])}, "blocked_terms"),
    ],
)
def test_bad_chat_settings_in_the_admin_are_form_errors(body, field, stream, staff_client, room_frames):
    response = staff_client.post(f"{SETTINGS}add/", {"stream": str(stream.id), **body})
    assert field in _form_errors(response)
    assert not LiveStreamChatSettings.objects.exists()
    assert room_frames == []


def test_chat_settings_are_not_deleted_behind_the_rooms_back(stream, artist, staff_client):
    chat_settings = services.chat_settings_update(stream_id=stream.id, by_user=artist, slow_mode_seconds=10)
    assert staff_client.post(f"{SETTINGS}{chat_settings.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LiveStreamChatSettings.objects.filter(pk=chat_settings.pk).exists()


def test_the_services_refusals_of_a_ban_come_back_as_form_errors(stream, artist, viewer, staff_client):
    response = staff_client.post("/admin/chat/chatban/add/", {"stream": str(stream.id), "user": artist.id})
    assert _form_errors(response) == {"__all__": ["The stream's artist and staff cannot be banned."]}
    too_long = timezone.now() + timedelta(days=15)
    response = staff_client.post(
        "/admin/chat/chatban/add/",
        {
            "stream": str(stream.id),
            "user": viewer.id,
            "expires_at_0": too_long.strftime("%Y-%m-%d"),
            "expires_at_1": too_long.strftime("%H:%M:%S"),
        },
    )
    assert "expires_at" in _form_errors(response)
    assert not ChatBan.objects.exists()


def test_bans_and_moderators_are_removed_through_the_services(stream, artist, viewer, staff_client, monkeypatch):
    ban = services.chat_ban_create(stream_id=stream.id, user_id=viewer.id, by_user=artist)
    moderator = services.chat_moderator_add(stream_id=stream.id, user_id=StaffFactory().id, by_user=artist)
    removed = []
    for name in ("chat_ban_remove", "chat_moderator_remove"):
        real = getattr(services, name)

        def spy(*, real=real, name=name, **kwargs):
            removed.append(name)
            return real(**kwargs)

        monkeypatch.setattr(services, name, spy)
    assert staff_client.post(f"/admin/chat/chatban/{ban.pk}/delete/", {"post": "yes"}).status_code == 302
    assert staff_client.post(f"/admin/chat/chatmoderator/{moderator.pk}/delete/", {"post": "yes"}).status_code == 302
    assert removed == ["chat_ban_remove", "chat_moderator_remove"]
    assert not ChatBan.objects.exists() and not ChatModerator.objects.exists()


def test_a_message_is_shown_but_never_edited_in_the_admin(stream, viewer, staff_client):
    message = services.chat_message_send(stream_id=stream.id, user=viewer, message="as typed")
    page = f"/admin/chat/livestreamchat/{message.pk}/change/"
    assert staff_client.get(page).status_code == 200
    assert staff_client.post(page, {}).status_code == 403
