"""The stream admin: changelist, filters, search, actions and forms that go through the stream services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import StaffFactory
from streams.models import DEFAULT_STREAM_SETTINGS, LiveStream, LiveStreamRecording
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/streams/livestream/"


@pytest.fixture
def admin(db):
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    return client


@pytest.fixture
def catalogue(artist):
    return {
        "rock": stream_factory(artist=artist, title="Rock Night", is_pay_per_view=True),
        "studio": stream_factory(artist=artist, title="Studio hours", type="studio_session", status="live"),
        "jam": stream_factory(artist=artist, title="Last jam", description="a rock jam", status="ended"),
    }


def titles_on(response) -> set[str]:
    assert response.status_code == 200, response.content[:500]
    return {stream.title for stream in response.context["cl"].result_list}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_changelist_with_filters_and_search(admin, catalogue):
    assert titles_on(admin.get(CHANGELIST)) == {"Rock Night", "Studio hours", "Last jam"}
    assert titles_on(admin.get(CHANGELIST, {"status__exact": "live"})) == {"Studio hours"}
    assert titles_on(admin.get(CHANGELIST, {"type__exact": "studio_session"})) == {"Studio hours"}
    assert titles_on(admin.get(CHANGELIST, {"is_pay_per_view__exact": "1"})) == {"Rock Night"}
    assert titles_on(admin.get(CHANGELIST, {"q": "rock"})) == {"Rock Night", "Last jam"}
    assert titles_on(admin.get(CHANGELIST, {"q": catalogue["rock"].artist.username})) == set(
        ["Rock Night", "Studio hours", "Last jam"]
    )
    year = catalogue["rock"].scheduled_start_time.year
    assert len(titles_on(admin.get(CHANGELIST, {"scheduled_start_time__year": year}))) == 3


def test_the_admin_needs_a_staff_login(client, viewer, catalogue):
    assert client.get(CHANGELIST).status_code == 302
    client.force_login(viewer)
    assert client.get(CHANGELIST).status_code == 302


def test_change_page_shows_recordings_inline_and_the_key(admin, catalogue):
    stream = catalogue["jam"]
    LiveStreamRecording.objects.create(stream=stream, status="ready", duration_seconds=61.5)
    response = admin.get(f"{CHANGELIST}{stream.id}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "recordings-TOTAL_FORMS" in html
    assert "61.5" in html
    assert stream.stream_key in html  # staff may see it


def run_action(admin, action, streams):
    return admin.post(
        CHANGELIST, {"action": action, "_selected_action": [str(stream.id) for stream in streams]}, follow=True
    )


def test_cancel_action_goes_through_the_service(admin, catalogue):
    response = run_action(admin, "cancel_streams", [catalogue["rock"], catalogue["studio"]])
    assert response.status_code == 200
    rock = LiveStream.objects.get(pk=catalogue["rock"].id)
    assert rock.status == "cancelled" and rock.ended_at is not None
    assert LiveStream.objects.get(pk=catalogue["studio"].id).status == "live"
    messages = messages_of(response)
    assert any("Cancelled 1 stream" in message for message in messages)
    assert any("Studio hours" in message and "live" in message for message in messages)


def test_end_action_goes_through_the_service(admin, catalogue):
    response = run_action(admin, "end_streams", [catalogue["studio"], catalogue["jam"], catalogue["rock"]])
    assert response.status_code == 200
    studio = LiveStream.objects.get(pk=catalogue["studio"].id)
    assert studio.status == "ended" and studio.ended_at >= studio.started_at
    assert LiveStream.objects.get(pk=catalogue["rock"].id).status == "scheduled"
    messages = messages_of(response)
    assert any("Ended 1 stream" in message for message in messages)
    assert sum("Cannot end" in message for message in messages) == 2


def add_form(artist, **overrides) -> dict:
    start = timezone.now() + timedelta(days=3)
    data = {
        "artist": str(artist.id),
        "title": "Added by staff",
        "description": "",
        "type": "concert",
        "scheduled_start_time_0": start.strftime("%Y-%m-%d"),
        "scheduled_start_time_1": start.strftime("%H:%M:%S"),
        "max_viewers": "",
        "ticket_price": "0",
        "currency": "usd",
        "is_chat_enabled": "on",
        "max_quality": "high",
        "quality_cap": "",
        "stream_settings": "{}",
        "recordings-TOTAL_FORMS": "0",
        "recordings-INITIAL_FORMS": "0",
        "recordings-MIN_NUM_FORMS": "0",
        "recordings-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


def test_staff_adds_a_stream_through_the_admin_form(admin, artist):
    response = admin.post(f"{CHANGELIST}add/", add_form(artist, is_pay_per_view="on", ticket_price="15.00"))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    stream = LiveStream.objects.get(title="Added by staff")
    assert (stream.artist, stream.status, stream.ticket_price) == (artist, "scheduled", Decimal("15.00"))
    # stream_create filled the default stream settings; the bare form would have saved {}.
    assert stream.stream_settings == DEFAULT_STREAM_SETTINGS
    assert stream.stream_key.startswith("sk_")


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"is_pay_per_view": "on"}, "ticket_price"),
        ({"ticket_price": "-1"}, "ticket_price"),
        ({"max_viewers": "0"}, "max_viewers"),
        ({"stream_settings": '{"audio_codec": "wav"}'}, "stream_settings"),
    ],
)
def test_admin_add_form_shows_validation_errors(overrides, field, admin, artist):
    response = admin.post(f"{CHANGELIST}add/", add_form(artist, **overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not LiveStream.objects.exists()


def test_admin_refuses_a_viewer_as_the_artist(admin, viewer):
    response = admin.post(f"{CHANGELIST}add/", add_form(viewer))
    assert response.status_code == 200
    assert "artist" in response.context["adminform"].form.errors
    assert not LiveStream.objects.exists()


def change_form(stream, **overrides) -> dict:
    data = add_form(
        stream.artist,
        title=stream.title,
        scheduled_start_time_0=stream.scheduled_start_time.strftime("%Y-%m-%d"),
        scheduled_start_time_1=stream.scheduled_start_time.strftime("%H:%M:%S"),
        ticket_price=str(stream.ticket_price),
        stream_settings='{"bitrate": 4500, "fps": 30, "resolution": "1920x1080", "audio_codec": "aac", '
        '"video_codec": "h264"}',
    )
    if stream.is_pay_per_view:
        data["is_pay_per_view"] = "on"
    data.update(overrides)
    return data


def test_admin_change_goes_through_the_service(admin, catalogue):
    stream = catalogue["studio"]
    response = admin.post(f"{CHANGELIST}{stream.id}/change/", change_form(stream, title="Renamed live show"))
    assert response.status_code == 302
    stream.refresh_from_db()
    assert (stream.title, stream.status) == ("Renamed live show", "live")


def test_admin_change_of_a_frozen_field_is_an_error_not_a_500(admin, catalogue):
    stream = catalogue["studio"]  # live: its price can no longer change
    response = admin.post(f"{CHANGELIST}{stream.id}/change/", change_form(stream, ticket_price="9.00"))
    assert response.status_code == 200
    assert "ticket_price" in response.context["adminform"].form.errors
    stream.refresh_from_db()
    assert stream.ticket_price == Decimal("0")


def test_admin_cannot_delete_a_live_stream(admin, catalogue):
    stream = catalogue["studio"]
    response = admin.post(f"{CHANGELIST}{stream.id}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert LiveStream.objects.filter(pk=stream.id).exists()
    # Bulk deletion with a live stream among the selection is refused as a whole.
    selected = [str(stream.id), str(catalogue["jam"].id)]
    response = admin.post(CHANGELIST, {"action": "delete_selected", "_selected_action": selected, "post": "yes"})
    assert response.status_code == 403
    assert LiveStream.objects.filter(pk__in=selected).count() == 2


def test_admin_bulk_deletes_through_the_service(admin, catalogue, monkeypatch):
    from streams import services

    deleted = []
    real_delete = services.stream_delete

    def spy(*, stream):
        deleted.append(str(stream.id))
        real_delete(stream=stream)

    monkeypatch.setattr(services, "stream_delete", spy)
    selected = [str(catalogue["rock"].id), str(catalogue["jam"].id)]
    response = admin.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": selected, "post": "yes"}, follow=True
    )
    assert response.status_code == 200
    assert not LiveStream.objects.filter(pk__in=selected).exists()
    assert sorted(deleted) == sorted(selected)


def test_admin_deletes_an_ended_stream(admin, catalogue):
    stream = catalogue["jam"]
    response = admin.post(f"{CHANGELIST}{stream.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not LiveStream.objects.filter(pk=stream.id).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/streams/livestreamrecording/",
        "/admin/payments/livestreampayment/",
        "/admin/chat/livestreamchat/",
        "/admin/analytics/livestreamanalytics/",
        "/admin/accounts/user/",
        f"{CHANGELIST}add/",
    ],
)
def test_every_model_is_registered(path, admin):
    assert admin.get(path).status_code == 200


def test_plain_staff_without_grants_can_moderate_streams_but_not_manage_accounts(client):
    from accounts.tests.factories import StaffFactory
    from streams.tests.factories import stream_factory

    stream = stream_factory(title="Staff visible")
    client.force_login(StaffFactory(is_superuser=False))
    changelist = client.get("/admin/streams/livestream/")
    assert changelist.status_code == 200 and "Staff visible" in changelist.content.decode()
    response = client.post(
        "/admin/streams/livestream/", {"action": "cancel_streams", "_selected_action": [str(stream.pk)]}
    )
    assert response.status_code == 302
    stream.refresh_from_db()
    assert stream.status == "cancelled"
    assert client.get("/admin/accounts/user/").status_code == 403


def test_admin_cannot_hand_a_stream_to_a_user_who_may_not_host(admin, catalogue, viewer):
    stream = catalogue["rock"]
    response = admin.post(f"{CHANGELIST}{stream.id}/change/", change_form(stream, artist=str(viewer.id)))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["artist"] == ["Only artists can host streams."]
    stream.refresh_from_db()
    assert stream.artist != viewer


def test_a_refusal_at_deletion_keeps_the_stream_and_says_why(admin, catalogue, monkeypatch):
    from django.contrib.admin.models import LogEntry

    from livestream_site.errors import Conflict
    from streams import services

    def refuse(*, stream):  # as if the stream had gone live while staff confirmed the deletion
        raise Conflict("The stream is live: end it first.", code="stream_live")

    monkeypatch.setattr(services, "stream_delete", refuse)
    stream = catalogue["jam"]
    response = admin.post(f"{CHANGELIST}{stream.id}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "The stream is live: end it first." in messages_of(response)
    assert LiveStream.objects.filter(pk=stream.id).exists()
    assert not LogEntry.objects.exists()  # the deletion was not logged either
