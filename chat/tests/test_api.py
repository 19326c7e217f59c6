"""Chat over REST: history with cursor pagination and access rules, moderation endpoints, the admin."""

import pytest

from accounts.tests.factories import StaffFactory, UserFactory
from chat import services
from chat.models import ChatBan, LiveStreamChat
from streams.tests.factories import stream_factory


@pytest.fixture
def stream(db, artist):
    return stream_factory(artist=artist, status="live")


def _send(stream, user, text):
    return services.chat_message_send(stream_id=stream.id, user=user, message=text)


def _url(stream, rest=""):
    return f"/api/livestreams/{stream.id}/chat{rest}"


def test_history_newest_first_with_cursor_and_deleted_left_out(
    stream, viewer, artist, anon_client, client_for, settings
):
    settings.CHAT_RATE_LIMIT_MESSAGES = 100
    messages = [_send(stream, viewer, f"m{number}") for number in range(5)]
    services.chat_message_delete(stream_id=stream.id, message_id=messages[3].id, by_user=artist)

    page = anon_client.get(_url(stream), {"limit": 2}).json()
    assert [item["message"] for item in page["results"]] == ["m4", "m2"]
    assert page["results"][0]["user"] == {"id": viewer.id, "username": viewer.username}
    assert page["nextBefore"] == messages[2].id
    rest = client_for(viewer).get(_url(stream), {"before": page["nextBefore"], "limit": 100}).json()
    assert [item["message"] for item in rest["results"]] == ["m1", "m0"]
    assert rest["nextBefore"] is None


def test_history_validates_and_checks_access(stream, viewer, anon_client, client_for, django_assert_num_queries):
    response = anon_client.get(_url(stream), {"limit": 101})
    assert response.status_code == 400 and "limit" in response.json()["error"]["fields"]
    assert anon_client.get(_url(stream), {"before": "x"}).status_code == 400
    assert anon_client.get("/api/livestreams/00000000-0000-0000-0000-000000000000/chat").status_code == 404
    paid = stream_factory(status="live", is_pay_per_view=True)
    response = client_for(viewer).get(_url(paid))
    assert response.status_code == 402 and response.json()["error"]["code"] == "payment_required"
    assert anon_client.get(_url(paid)).status_code == 402
    for number in range(3):
        _send(stream, UserFactory(), f"hello {number}")
    client = client_for(viewer)
    with django_assert_num_queries(4):  # token with its user, stream, messages with their users, moderators (badges)
        assert len(client.get(_url(stream)).json()["results"]) == 3


def test_delete_message_over_rest(stream, viewer, artist, client_for):
    message = _send(stream, viewer, "oops")
    assert client_for(viewer).delete(_url(stream, f"/{message.id}")).status_code == 403
    assert client_for(artist).delete(_url(stream, f"/{message.id}")).status_code == 204
    message.refresh_from_db()
    assert message.is_deleted and message.deleted_by == artist
    assert client_for(artist).delete(_url(stream, "/999999")).status_code == 404
    staff = StaffFactory()
    assert client_for(staff).delete(_url(stream, f"/{message.id}/")).status_code == 204


def test_bans_and_timeouts_over_rest(stream, viewer, artist, client_for):
    client = client_for(artist)
    response = client.post(_url(stream, "/bans"), {"userId": viewer.id, "durationSeconds": 300, "reason": "spam"})
    assert response.status_code == 201, response.json()
    assert response.json()["user"]["id"] == viewer.id and response.json()["expiresAt"]
    for bad in (0, 14 * 24 * 3600 + 1):
        response = client.post(_url(stream, "/bans"), {"userId": viewer.id, "durationSeconds": bad})
        assert response.status_code == 400 and "durationSeconds" in response.json()["error"]["fields"]
    assert client.post(_url(stream, "/bans"), {"userId": artist.id}).status_code == 403
    assert client.post(_url(stream, "/bans"), {"userId": 999999}).status_code == 404
    assert client_for(viewer).post(_url(stream, "/bans"), {"userId": artist.id}).status_code == 403
    with pytest.raises(Exception) as refused:
        _send(stream, viewer, "hi")
    assert refused.value.code == "banned"
    assert [ban["user"]["id"] for ban in client.get(_url(stream, "/bans")).json()["results"]] == [viewer.id]
    # Without a duration: a permanent ban replaces the timeout.
    assert client.post(_url(stream, "/bans"), {"userId": viewer.id}).json()["expiresAt"] is None
    assert client.delete(_url(stream, f"/bans/{viewer.id}")).status_code == 204
    assert client.delete(_url(stream, f"/bans/{viewer.id}")).status_code == 404
    assert _send(stream, viewer, "back").id


def test_chat_settings_over_rest(stream, viewer, artist, client_for):
    client = client_for(artist)
    response = client.patch(_url(stream, "/settings"), {"slowModeSeconds": 10, "blockedTerms": ["boo"]})
    assert response.status_code == 200
    assert response.json() == {"streamId": str(stream.id), "slowModeSeconds": 10, "blockedTerms": ["boo"]}
    response = client.patch(_url(stream, "/settings"), {"slowModeSeconds": -1})
    assert response.status_code == 400 and "slowModeSeconds" in response.json()["error"]["fields"]
    assert client.patch(_url(stream, "/settings"), {"blockedTerms": "boo"}).status_code == 400
    assert client.patch(_url(stream, "/settings"), {}).status_code == 400
    assert client_for(viewer).patch(_url(stream, "/settings"), {"slowModeSeconds": 0}).status_code == 403
    assert client.get(_url(stream, "/settings")).json()["slowModeSeconds"] == 10


def test_moderators_over_rest(stream, viewer, artist, client_for):
    target = UserFactory()
    assert client_for(viewer).post(_url(stream, "/moderators"), {"userId": target.id}).status_code == 403
    assert client_for(artist).post(_url(stream, "/moderators"), {"userId": viewer.id}).status_code == 201
    # A moderator may moderate (ban a viewer) but not appoint moderators.
    assert client_for(viewer).post(_url(stream, "/bans"), {"userId": target.id}).status_code == 201
    assert client_for(viewer).post(_url(stream, "/moderators"), {"userId": target.id}).status_code == 403
    listed = client_for(artist).get(_url(stream, "/moderators")).json()["results"]
    assert listed == [{"id": viewer.id, "username": viewer.username}]
    assert client_for(artist).delete(_url(stream, "/moderators"), {"userId": viewer.id}).status_code == 204
    assert client_for(viewer).post(_url(stream, "/bans"), {"userId": target.id}).status_code == 403
    assert client_for(artist).delete(_url(stream, f"/moderators/{viewer.id}")).status_code == 404


def test_admin_hide_and_delete_actions_and_escaping(stream, viewer, client):
    staff = StaffFactory(is_superuser=True)
    hidden = _send(stream, viewer, "<script>alert(1)</script>")
    deleted = _send(stream, viewer, "delete me")
    client.force_login(staff)
    changelist = client.get("/admin/chat/livestreamchat/")
    assert changelist.status_code == 200
    assert b"<script>alert(1)</script>" not in changelist.content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in changelist.content
    client.post("/admin/chat/livestreamchat/", {"action": "hide", "_selected_action": [hidden.id]})
    client.post("/admin/chat/livestreamchat/", {"action": "delete_for_everyone", "_selected_action": [deleted.id]})
    assert list(LiveStreamChat.objects.filter(is_hidden=True)) == [hidden]
    assert list(LiveStreamChat.objects.filter(is_deleted=True)) == [deleted]
    assert services.chat_message_send  # history leaves both out:
    from chat.selectors import chat_history

    assert chat_history(stream=stream) == []
    client.post("/admin/chat/livestreamchat/", {"action": "show", "_selected_action": [hidden.id]})
    assert chat_history(stream=stream) == [hidden]
    response = client.post(
        "/admin/chat/chatban/add/", {"stream": str(stream.id), "user": viewer.id, "reason": "admin ban"}
    )
    assert response.status_code == 302, response.content[:500]
    assert ChatBan.objects.get().created_by == staff


def test_rest_forms_may_send_numbers_as_text(stream, viewer, artist, client_for):
    client = client_for(artist)
    response = client.post(
        _url(stream, "/bans"), {"userId": str(viewer.id), "durationSeconds": "60"}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    response = client.patch(_url(stream, "/settings"), {"slowModeSeconds": "99"}, format="json")
    assert response.json()["slowModeSeconds"] == 99
    response = client.patch(_url(stream, "/settings"), {"blockedTerms": ["ok", "x" * 51]}, format="json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "validation_error"
    assert "blockedTerms" in response.json()["error"]["fields"]


def test_messages_wear_the_badge_of_their_sender(stream, viewer, artist, staff, client_for):
    moderator = UserFactory()
    services.chat_moderator_add(stream_id=stream.id, user_id=moderator.id, by_user=artist)
    for user in (artist, staff, moderator, viewer):
        _send(stream, user, f"from {user.username}")
    history = client_for(viewer).get(_url(stream)).json()["results"]
    badges = {message["user"]["id"]: message["badge"] for message in history}
    assert badges == {artist.id: "artist", staff.id: "staff", moderator.id: "moderator", viewer.id: None}
