"""The account pages through HTTP (django-allauth's flows in the site's pages): sign-up as fan or artist,
sign-in and sign-out, password reset by e-mail, change of e-mail and password, the account page's API token
and follower e-mails setting, CSRF on every form."""

import re
import uuid

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import PASSWORD, ArtistFactory, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "another-Long-pass-8812"


def _signup(client, **fields):
    name = fields.pop("username", f"fan-{uuid.uuid4().hex[:8]}")
    data = {
        "username": name,
        "email": f"{name}@example.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        **fields,
    }
    return client.post("/accounts/signup/", data, REMOTE_ADDR="10.9.8.7"), name


def _link(message, path_prefix: str) -> str:
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S+)", message.body)
    assert match, message.body
    return match[1]


def test_the_sign_up_page_offers_fan_and_artist(client):
    page = client.get("/accounts/signup/").content.decode()
    assert 'value="viewer"' in page and 'value="artist"' in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_sign_up_as_a_fan_signs_in_and_sends_a_confirmation(client):
    response, name = _signup(client, role="viewer")
    assert response.status_code == 302
    user = User.objects.get(username=name)
    assert user.role == User.Role.VIEWER and not user.can_host
    assert client.get("/api/auth/me").json()["username"] == name  # signed in by the sign-up
    assert [m.to for m in mail.outbox] == [[f"{name}@example.com"]]
    assert "/accounts/confirm-email/" in mail.outbox[0].body


def test_sign_up_as_an_artist(client, settings):
    settings.ALLOW_ARTIST_SIGNUP = True
    response, name = _signup(client, role="artist")
    assert response.status_code == 302
    assert User.objects.get(username=name).can_host
    assert client.get("/studio/").status_code == 200  # an artist reaches the studio


def test_artist_sign_up_refused_when_closed(client, settings):
    settings.ALLOW_ARTIST_SIGNUP = False
    page = client.get("/accounts/signup/").content.decode()
    assert 'value="artist"' not in page
    response, name = _signup(client, role="artist")
    assert response.status_code == 200
    assert "Artist sign-up is closed" in response.content.decode()
    assert not User.objects.filter(username=name).exists()
    response, name = _signup(client, role="viewer")  # a fan still may
    assert response.status_code == 302


def test_sign_up_errors_are_shown_and_escaped(client):
    UserFactory(username="taken")
    response, _ = _signup(client, username="taken", email="<b>x</b>@example.com", password2="different-pass-1")
    text = response.content.decode()
    assert response.status_code == 200
    assert "A user with that username already exists." in text
    assert "<b>x</b>" not in text


def test_sign_in_and_sign_out_through_the_pages(client):
    user = UserFactory()
    response = client.post("/accounts/login/?next=/accounts/", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert client.get("/accounts/").status_code == 200
    wrong = Client().post("/accounts/login/", {"login": user.username, "password": "nope"})
    assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/").status_code == 302  # to the sign-in page


def test_password_reset_by_e_mail(client):
    user = UserFactory()
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == [user.email]
    link = _link(mail.outbox[0], "/accounts/password/reset/key/")
    form = client.get(link, follow=True)
    assert form.status_code == 200 and 'name="password1"' in form.content.decode()
    done = client.post(form.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302
    fresh = Client()
    assert fresh.post("/accounts/login/", {"login": user.username, "password": NEW_PASSWORD}).status_code == 302
    # The link works once.
    again = Client().get(link, follow=True)
    assert "invalid" in again.content.decode().lower()


def test_change_password(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    wrong_old = client.post(
        "/accounts/password/change/", {"oldpassword": "nope", "password1": PASSWORD, "password2": PASSWORD}
    )
    assert wrong_old.status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_change_e_mail_after_confirming_the_new_address(client):
    response, name = _signup(client)
    assert client.post(_link(mail.outbox[0], "/accounts/confirm-email/")).status_code == 302  # the first address
    mail.outbox.clear()
    new = f"{name}-new@example.com"
    response = client.post("/accounts/email/", {"email": new, "action_add": ""})
    # The password first (the e-mail receives password resets); then the change goes on by itself.
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
    assert mail.outbox == []
    response = client.post(response["Location"], {"password": NEW_PASSWORD})
    assert response.status_code == 302
    user = User.objects.get(username=name)
    assert user.email == f"{name}@example.com"  # not before the new address is confirmed
    assert mail.outbox[-1].to == [new]
    link = _link(mail.outbox[-1], "/accounts/confirm-email/")
    assert client.post(link).status_code == 302
    user.refresh_from_db()
    assert user.email == new
    assert new in client.get("/accounts/").content.decode()


def test_the_account_page_makes_and_rotates_the_api_token(client):
    user = UserFactory()
    client.force_login(user)
    page = client.get("/accounts/").content.decode()
    assert 'data-testid="token-create"' in page and 'data-testid="api-token"' not in page
    assert client.post("/accounts/token/").status_code == 302
    first = re.search(r'data-testid="api-token">(\w+)<', client.get("/accounts/").content.decode())[1]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {first}")
    assert api.get("/api/auth/me").json()["username"] == user.username
    client.post("/accounts/token/")
    second = re.search(r'data-testid="api-token">(\w+)<', client.get("/accounts/").content.decode())[1]
    assert second != first
    assert api.get("/api/auth/me").status_code == 401  # the old token stopped working
    assert client.get("/accounts/token/").status_code == 405  # only a POST (with CSRF) rotates


def test_the_follower_e_mails_setting(client):
    user = UserFactory()
    client.force_login(user)
    assert 'data-testid="follow-emails" checked' in client.get("/accounts/").content.decode()
    client.post("/accounts/follow-emails/", {})
    user.refresh_from_db()
    assert user.follow_emails is False
    assert 'data-testid="follow-emails" checked' not in client.get("/accounts/").content.decode()
    client.post("/accounts/follow-emails/", {"follow_emails": "on"})
    user.refresh_from_db()
    assert user.follow_emails is True


@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/accounts/signup/", "/accounts/token/", "/accounts/follow-emails/", "/accounts/logout/"],
)
def test_forms_need_the_csrf_token(path):
    client = Client(enforce_csrf_checks=True)
    user = UserFactory()
    if path not in ("/accounts/login/", "/accounts/signup/"):
        client.force_login(user)
    response = client.post(path, {"login": user.username, "password": PASSWORD})
    assert response.status_code == 403


def test_the_account_page_wants_a_sign_in(client):
    response = client.get("/accounts/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_artist_role_shows_on_the_account_page(client):
    artist = ArtistFactory()
    client.force_login(artist)
    page = client.get("/accounts/").content.decode()
    assert "Artist" in page and f"/artists/{artist.username}/" in page


def test_changing_the_e_mail_needs_the_right_password(client):
    user = UserFactory()
    client.force_login(user)
    response = client.post("/accounts/email/", {"email": "elsewhere@example.com", "action_add": ""})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/reauthenticate/")
    assert client.post(response["Location"], {"password": "wrong"}).status_code == 200
    assert mail.outbox == []
    user.refresh_from_db()
    assert user.email != "elsewhere@example.com"
