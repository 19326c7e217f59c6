"""Hostile JSON bodies get the JSON error shape, never a 500 (audit F4, and F13's NaN)."""

import pytest

from streams.models import LiveStream


@pytest.mark.parametrize("depth", [33, 500, 100_000])
def test_deeply_nested_json_is_a_400_invalid_json(depth, anon_client, db):
    body = "[" * depth + "]" * depth
    response = anon_client.post("/api/auth/token", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"


def test_nesting_an_api_body_needs_still_parses(client_for, artist):
    body = '{"title": "Deep", "scheduledStartTime": "2099-01-01T20:00:00Z", "streamSettings": {"fps": 30}}'
    response = client_for(artist).post("/api/livestreams", body, content_type="application/json")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant, client_for, artist):
    body = f'{{"title": {constant}, "scheduledStartTime": "2099-01-01T20:00:00Z"}}'
    response = client_for(artist).post("/api/livestreams", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert not LiveStream.objects.exists()


@pytest.mark.parametrize("path", ["/api/auth/token", "/api/auth/register"])
def test_a_body_over_the_upload_limit_is_a_json_400(path, db):
    """Audit F13: a 10 MB body got Django's HTML 400 page."""
    from django.test import Client

    client = Client(raise_request_exception=False)
    response = client.post(path, "x" * (10 * 1024 * 1024), content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "bad_request"
