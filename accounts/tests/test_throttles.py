"""Sign-in and sign-up throttles (audit F9): 429 with Retry-After, by account and by address, on the
token endpoint, the sign-in page and sign-up."""

import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def limits(settings):
    settings.AUTH_THROTTLE_ACCOUNT_FAILURES = 5
    settings.AUTH_THROTTLE_ADDRESS_ATTEMPTS = 8
    settings.AUTH_THROTTLE_SIGNUPS_PER_ADDRESS = 3
    settings.AUTH_THROTTLE_WINDOW_SECONDS = 600


def _address() -> str:
    """An address of this test alone (the cache is shared by tests and runs)."""
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


def _client(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def _user():
    return UserFactory(username=f"fan-{uuid.uuid4().hex[:10]}")


def test_wrong_passwords_lock_the_account_even_for_the_right_one(limits):
    user = _user()
    for n in range(5):
        response = _client(_address()).post("/api/auth/token", {"username": user.username, "password": f"no{n}"})
        assert response.status_code == 400
    # From another address, with the right password: still refused until the window ends.
    response = _client(_address()).post("/api/auth/token", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert 0 < int(response["Retry-After"]) <= 600
    # Another account is not affected.
    other = _user()
    response = _client(_address()).post("/api/auth/token", {"username": other.username, "password": PASSWORD})
    assert response.status_code == 200


def test_one_address_cannot_spray_many_accounts(limits):
    address = _address()
    codes = [
        _client(address).post("/api/auth/token", {"username": _user().username, "password": "wrong"}).status_code
        for _ in range(10)
    ]
    assert codes == [400] * 8 + [429] * 2
    other = _client(_address()).post("/api/auth/token", {"username": _user().username, "password": PASSWORD})
    assert other.status_code == 200


def test_sign_ups_per_address(limits):
    address = _address()
    codes = [
        _client(address)
        .post("/api/auth/register", {"username": f"new-{uuid.uuid4().hex[:10]}", "password": "a-Long-pass-421"})
        .status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 429]


def test_the_sign_in_page_is_throttled_too(limits, client):
    user = _user()
    for _ in range(5):
        response = client.post(
            "/accounts/login/", {"login": user.username, "password": "wrong"}, REMOTE_ADDR=_address()
        )
        assert response.status_code == 200  # the page again, with the form's error
    response = client.post("/accounts/login/", {"login": user.username, "password": PASSWORD}, REMOTE_ADDR=_address())
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many wrong passwords" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_sign_up_page_is_throttled_per_address(limits):
    address = _address()

    def sign_up():
        name = f"new-{uuid.uuid4().hex[:10]}"
        data = {"username": name, "email": f"{name}@example.com", "password1": "a-Long-pass-421"}
        return Client().post("/accounts/signup/", {**data, "password2": data["password1"]}, REMOTE_ADDR=address)

    codes = [sign_up().status_code for _ in range(3)]
    assert codes == [302, 302, 302]
    response = sign_up()
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many sign-ups" in response.content.decode()
