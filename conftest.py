"""Fixtures shared by every app's tests: API clients for each role."""

import json

import pytest
from django.test import override_settings
from django.urls import get_resolver
from rest_framework.test import APIClient

from accounts.tests.factories import ArtistFactory, StaffFactory, UserFactory, token_for
from livestream_site.testing.settings import TEST_SETTINGS


@pytest.fixture(autouse=True, scope="session")
def shared_test_settings():
    """The settings of livestream_site/testing/settings.py, for every test."""
    with override_settings(**TEST_SETTINGS):
        # The URL conf includes the configured media backend's own routes when it is first loaded: load
        # it now, with the default backend, not inside the first test that swaps STREAMING_BACKEND.
        get_resolver().url_patterns  # noqa: B018
        yield


def _client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        client.user = user
    return client


@pytest.fixture
def client_for():
    return _client_for


@pytest.fixture
def anon_client():
    return _client_for(None)


@pytest.fixture
def viewer(db):
    return UserFactory()


@pytest.fixture
def artist(db):
    return ArtistFactory()


@pytest.fixture
def other_artist(db):
    return ArtistFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def room_frames(monkeypatch):
    """Every frame handed to the stream rooms' transport (decoded), in order; still delivered as usual."""
    from livestream_site import realtime

    frames: list[dict] = []
    deliver = realtime.room_publish

    def recording(stream_id, text):
        frames.append({"roomId": str(stream_id), **json.loads(text)})
        deliver(stream_id, text)

    monkeypatch.setattr(realtime, "room_publish", recording)
    return frames
