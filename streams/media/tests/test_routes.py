"""The media API answers where the stream's actions always did: the same paths (with and without a
trailing slash, with a format suffix), URL names, methods and OpenAPI operations."""

import uuid

import pytest
from django.urls import resolve, reverse

from streams.tests.factories import stream_factory

STREAM_ID = str(uuid.uuid4())

# URL name -> (path tail, method, OpenAPI operationId), as when these were LiveStreamViewSet actions.
ROUTES = {
    "livestream-ingest": ("ingest", "get", "livestreamsIngestRetrieve"),
    "livestream-playback": ("playback", "get", "livestreamsPlaybackRetrieve"),
    "livestream-adapt-quality": ("adapt-quality", "post", "livestreamsAdaptQualityCreate"),
    "livestream-health": ("health", "get", "livestreamsHealthRetrieve"),
    "livestream-recordings": ("recordings", "get", "livestreamsRecordingsList"),
}


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_paths_and_url_names_are_unchanged(name):
    tail = ROUTES[name][0]
    path = f"/api/livestreams/{STREAM_ID}/{tail}"
    assert reverse(name, kwargs={"pk": STREAM_ID}).rstrip("/") == path
    for variant in (path, f"{path}/", f"{path}.json"):
        match = resolve(variant)
        assert (match.url_name, match.kwargs["pk"]) == (name, STREAM_ID), variant


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(ROUTES))
def test_each_route_answers_only_its_method(name, client_for, artist):
    tail, method, _ = ROUTES[name]
    other = "post" if method == "get" else "get"
    response = getattr(client_for(artist), other)(f"/api/livestreams/{STREAM_ID}/{tail}")
    assert response.status_code == 405


def test_openapi_operations_are_unchanged(anon_client, db):
    paths = anon_client.get("/api/schema/?format=json").json()["paths"]
    for tail, method, operation_id in ROUTES.values():
        operation = paths[f"/api/livestreams/{{id}}/{tail}/"][method]
        assert (operation["operationId"], operation["tags"]) == (operation_id, ["livestreams"])
    ingest = paths["/api/livestreams/{id}/ingest/"]["get"]
    assert ingest["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/IngestOutput")
    recordings = paths["/api/livestreams/{id}/recordings/"]["get"]["responses"]["200"]
    assert recordings["content"]["application/json"]["schema"]["items"]["$ref"].endswith("/RecordingOutput")


@pytest.mark.parametrize("tail", ["ingest", "health"])
def test_the_artists_media_endpoints_want_a_token(tail, anon_client, client_for, viewer, artist):
    """Audit F10: without a token these are 401 (as documented), not 403; with the wrong user, 403."""
    stream = stream_factory(artist=artist)
    response = anon_client.get(f"/api/livestreams/{stream.id}/{tail}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert client_for(viewer).get(f"/api/livestreams/{stream.id}/{tail}").status_code == 403
