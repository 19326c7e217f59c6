"""Accounts through HTTP: register, token, me; and staff made with createsuperuser."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, UserFactory
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db
User = get_user_model()
STRONG = "violet-harbour-lantern-91"


def register(client, **body):
    return client.post("/api/auth/register", body, format="json")


def stream_body() -> dict:
    return {"title": "First show", "scheduledStartTime": (timezone.now() + timedelta(days=2)).isoformat()}


def assert_error(response, status_code, code=None):
    assert response.status_code == status_code, response.content
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code, error
    return error


# --- Register --------------------------------------------------------------------------------------


def test_register_a_viewer_returns_a_working_token(anon_client):
    response = register(anon_client, username="fan_1", password=STRONG, email="fan@example.com", role="viewer")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "username", "role", "token"}
    assert (body["username"], body["role"]) == ("fan_1", "viewer")
    user = User.objects.get(pk=body["id"])
    assert user.email == "fan@example.com"
    assert user.check_password(STRONG) and user.password != STRONG
    assert not user.is_staff and not user.is_superuser
    assert Token.objects.get(user=user).key == body["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    me = client.get("/api/auth/me").json()
    assert me == {"id": user.id, "username": "fan_1", "email": "fan@example.com", "role": "viewer", "isStaff": False}
    # A viewer cannot host.
    assert client.post("/api/livestreams", stream_body(), format="json").status_code == 403


def test_register_an_artist_who_can_then_create_a_stream(anon_client):
    body = register(anon_client, username="band", password=STRONG, role="artist").json()
    assert body["role"] == "artist"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    response = client.post("/api/livestreams", stream_body(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["artist"] == {"id": body["id"], "username": "band"}


def test_register_defaults_to_viewer_and_ignores_privilege_fields(anon_client):
    response = register(anon_client, username="sneaky", password=STRONG, isStaff=True, isSuperuser=True, id=1)
    assert response.status_code == 201, response.content
    user = User.objects.get(username="sneaky")
    assert (user.role, user.is_staff, user.is_superuser) == ("viewer", False, False)


def test_artist_sign_up_can_be_turned_off(anon_client, settings):
    settings.ALLOW_ARTIST_SIGNUP = False
    assert_error(register(anon_client, username="band", password=STRONG, role="artist"), 403, "artist_signup_closed")
    assert not User.objects.filter(username="band").exists()
    assert register(anon_client, username="fan", password=STRONG, role="viewer").status_code == 201


def test_artist_sign_up_is_open_by_default(anon_client):
    assert register(anon_client, username="band", password=STRONG, role="artist").status_code == 201


@pytest.mark.parametrize(
    "body,field",
    [
        ({"password": STRONG}, "username"),
        ({"username": "someone"}, "password"),
        ({"username": "someone", "password": "short"}, "password"),
        ({"username": "someone", "password": "password123"}, "password"),
        ({"username": "someone", "password": "48291037465"}, "password"),
        ({"username": "someone12345", "password": "someone12345"}, "password"),
        ({"username": "has space", "password": STRONG}, "username"),
        ({"username": "x" * 151, "password": STRONG}, "username"),
        ({"username": ["a"], "password": STRONG}, "username"),
        ({"username": "nul\x00", "password": STRONG}, "username"),
        ({"username": "someone", "password": STRONG, "email": "not-an-email"}, "email"),
        ({"username": "someone", "password": STRONG, "role": "admin"}, "role"),
        ({"username": "someone", "password": STRONG, "role": "staff"}, "role"),
        ({"username": "someone", "password": {"a": 1}}, "password"),
    ],
)
def test_register_validation(body, field, anon_client):
    error = assert_error(anon_client.post("/api/auth/register", body, format="json"), 400, "validation_error")
    assert error["fields"][field]
    assert not User.objects.filter(username="someone").exists()


def test_register_refuses_a_taken_username_in_any_case(anon_client, viewer):
    error = assert_error(register(anon_client, username=viewer.username.upper(), password=STRONG), 400)
    assert "username" in error["fields"]
    assert User.objects.filter(username__iexact=viewer.username).count() == 1


@pytest.mark.parametrize("raw", ["{oops", "[]", "null"])
def test_register_with_a_body_that_is_not_a_json_object(raw, anon_client):
    response = anon_client.post("/api/auth/register", raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_json", "validation_error")


# --- Token -----------------------------------------------------------------------------------------


def test_token_for_the_right_password(anon_client, viewer):
    response = anon_client.post("/api/auth/token", {"username": viewer.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"token": Token.objects.get(user=viewer).key}
    again = anon_client.post("/api/auth/token", {"username": viewer.username, "password": PASSWORD}, format="json")
    assert again.json() == response.json()


@pytest.mark.parametrize(
    "body",
    [
        {"username": "nobody", "password": PASSWORD},
        {"password": "wrong-password"},
    ],
)
def test_token_refuses_wrong_credentials(body, anon_client, viewer):
    body = {"username": viewer.username, **body}
    assert_error(anon_client.post("/api/auth/token", body, format="json"), 400, "invalid_credentials")
    assert not Token.objects.filter(user=viewer).exists()


def test_token_refuses_an_inactive_user(anon_client):
    user = UserFactory(is_active=False)
    body = {"username": user.username, "password": PASSWORD}
    assert_error(anon_client.post("/api/auth/token", body, format="json"), 400, "invalid_credentials")


@pytest.mark.parametrize("body,field", [({"username": "x"}, "password"), ({"password": "x"}, "username")])
def test_token_validation(body, field, anon_client):
    error = assert_error(anon_client.post("/api/auth/token", body, format="json"), 400, "validation_error")
    assert field in error["fields"]


# --- Me --------------------------------------------------------------------------------------------


def test_me_needs_authentication(anon_client):
    assert_error(anon_client.get("/api/auth/me"), 401, "not_authenticated")


@pytest.mark.parametrize("role", ["viewer", "artist", "staff"])
def test_me_shows_the_signed_in_user(role, request, client_for):
    user = request.getfixturevalue(role)
    body = client_for(user).get("/api/auth/me").json()
    assert body == {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": user.role,
        "isStaff": role == "staff",
    }


def test_me_with_a_browser_session(artist):
    browser = APIClient()
    assert browser.login(username=artist.username, password=PASSWORD)
    assert browser.get("/api/auth/me").json()["username"] == artist.username


def test_me_is_read_only(client_for, viewer):
    assert_error(client_for(viewer).post("/api/auth/me", {"role": "artist"}, format="json"), 405)
    viewer.refresh_from_db()
    assert viewer.role == "viewer"


# --- Staff -------------------------------------------------------------------------------------------


def test_createsuperuser_noinput_makes_a_staff_user_who_manages_any_stream(monkeypatch, artist):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "boss")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", STRONG)
    monkeypatch.setenv("DJANGO_SUPERUSER_EMAIL", "boss@example.com")
    call_command("createsuperuser", interactive=False, verbosity=0)
    boss = User.objects.get(username="boss")
    assert (boss.is_staff, boss.is_superuser, boss.email) == (True, True, "boss@example.com")
    token = APIClient().post("/api/auth/token", {"username": "boss", "password": STRONG}, format="json").json()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token['token']}")
    assert client.get("/api/auth/me").json()["isStaff"] is True
    stream = stream_factory(artist=artist)
    response = client.post(f"/api/livestreams/{stream.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    admin = APIClient()
    assert admin.login(username="boss", password=STRONG)
    assert admin.get("/admin/").status_code == 200


WRONG_VALUES = [None, True, -1, 1.5, "", "x" * 10_000, "\x00", [], {"a": 1}]


@pytest.mark.parametrize("field", ["username", "password", "email", "role"])
def test_no_wrong_value_on_register_or_token_is_a_server_error(field, anon_client):
    for n, value in enumerate(WRONG_VALUES):
        body = {"username": f"sweep{n}", "password": STRONG, "email": "", "role": "viewer", field: value}
        for path in ("/api/auth/register", "/api/auth/token"):
            response = anon_client.post(path, body, format="json")
            assert response.status_code in (200, 201, 400), (path, value, response.content)
            if response.status_code == 400:
                assert response.json()["error"]["code"] in ("validation_error", "invalid_credentials")


def test_a_username_taken_between_check_and_save_is_a_400_not_a_500(anon_client, monkeypatch):
    from accounts.models import User
    from accounts.tests.factories import UserFactory

    UserFactory(username="racer")
    # Simulate the race: the existence check sees nothing, the database's unique constraint fires.
    real_filter = User.objects.filter
    monkeypatch.setattr(User.objects, "filter", lambda *a, **k: real_filter(pk=-1))
    response = anon_client.post(
        "/api/auth/register", {"username": "racer", "password": "a-long-test-password-42"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()["error"]["fields"]
