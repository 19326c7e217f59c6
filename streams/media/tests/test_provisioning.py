"""The interface a managed media system plugs into: a resource per stream, provisioned after the stream is
saved (retried, reconciled, idempotent), its key rotated there, its events applied once, and the start
refused when the backend is unknown or misconfigured.

LedgerBackend below is such a system kept in memory: it records every call and can be told to fail the
way providers do (a retryable 5xx, or a refusal).
"""

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from payments.tests.factories import paid_ticket_factory
from streams.media import services as media_services
from streams.media.backends import (
    MediaEvent,
    MediaEventsRefused,
    MediaProviderError,
    Rendition,
    StreamingBackend,
    backend_configuration_errors,
)
from streams.models import LiveStream, LiveStreamRecording, MediaProviderEvent

from .media_support import stream_create

LEDGER: dict = {}


class LedgerBackend(StreamingBackend):
    name = "ledger"
    provisions = True
    records_itself = True

    @classmethod
    def configuration_errors(cls) -> list[str]:
        return ["LEDGER_TOKEN is not set."] if LEDGER.get("misconfigured") else []

    def stream_errors(self, *, stream) -> dict:
        if stream.is_pay_per_view and LEDGER.get("no_private"):
            return {"is_pay_per_view": ["Set LEDGER_KEY for pay-per-view streams."]}
        return {}

    def _fail(self, call: str) -> None:
        failure = LEDGER["fail"].pop(call, None)
        if failure:
            raise MediaProviderError(f"{call}: 503 from the provider", retryable=failure == "retryable")

    def stream_provision(self, *, stream, resource: dict) -> dict:
        LEDGER["calls"].append(("provision", str(stream.id), dict(resource)))
        self._fail("provision")
        found = resource or LEDGER["resources"].get(str(stream.id))
        if not found:  # the provider's own lookup by name keeps a retry from creating a second one
            found = {"id": f"res-{stream.id}", "key": "key-1"}
        found = {**found, "private": stream.is_pay_per_view}
        LEDGER["resources"][str(stream.id)] = found
        return found

    def stream_deprovision(self, *, resource: dict) -> None:
        LEDGER["calls"].append(("deprovision", resource["id"]))

    def stream_key_rotate(self, *, stream, resource: dict) -> dict:
        self._fail("rotate")
        number = int(resource["key"].split("-")[1]) + 1
        return {**resource, "key": f"key-{number}"}

    def provider_events_read(self, *, body: bytes, headers) -> list[MediaEvent]:
        if headers.get("X-Ledger-Token") != "right":
            raise MediaEventsRefused("Not signed by the ledger.")
        import json

        return [MediaEvent(**event) for event in json.loads(body)]

    def ingest_info(self, *, stream) -> dict:
        return {"url": "rtmps://ledger.test:443/app/", "streamKey": stream.media_resource["key"]}

    def is_publishing(self, *, stream) -> bool | None:
        return None

    def publisher_drop(self, *, stream) -> None:
        LEDGER["calls"].append(("publisher_drop", str(stream.id)))

    def health(self, *, stream) -> dict:
        return {"mediaServerReachable": True, "publishing": False, "ingest": None}

    def renditions(self, *, stream) -> list[Rendition]:
        return []

    def playback_url(self, *, stream, expires_at: datetime, viewer_id=None) -> str:
        return f"https://play.ledger.test/{stream.media_resource['id']}.m3u8?viewer={viewer_id}"

    def output_remove(self, *, stream_id) -> None:
        pass

    def recording_part_stream_id(self, *, path: str) -> str | None:
        return None

    def recording_save(self, *, name: str, path: Path) -> str:
        raise AssertionError("a backend that records itself stores nothing through the platform")

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        return f"https://vod.ledger.test/{name}?until={int(expires_at.timestamp())}"


@pytest.fixture
def ledger(settings, media_tasks_inline):
    settings.STREAMING_BACKEND = f"{__name__}.LedgerBackend"
    LEDGER.clear()
    LEDGER.update(calls=[], resources={}, fail={})
    yield LEDGER
    LEDGER.clear()


@pytest.mark.django_db
def test_a_created_stream_gets_its_resource_and_the_providers_key(
    ledger, client_for, artist, django_capture_on_commit_callbacks
):
    response = stream_create(client_for(artist), django_capture_on_commit_callbacks)
    assert response.status_code == 201, response.content
    stream = LiveStream.objects.get(pk=response.json()["id"])
    assert (stream.media_backend, stream.media_resource) == (
        "ledger",
        {"id": f"res-{stream.id}", "key": "key-1", "private": False},
    )
    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest/").json()
    assert ingest == {"url": "rtmps://ledger.test:443/app/", "streamKey": "key-1"}
    # The stream's own representation shows the key the encoder needs, not the platform's internal one.
    assert client_for(artist).get(f"/api/livestreams/{stream.id}/").json()["streamKey"] == "key-1"

    # A change reaches the provider: the same resource, brought in line.
    with django_capture_on_commit_callbacks(execute=True):
        changed = client_for(artist).patch(
            f"/api/livestreams/{stream.id}/", {"isPayPerView": True, "ticketPrice": "5.00"}, format="json"
        )
    assert changed.status_code == 200, changed.content
    stream.refresh_from_db()
    assert stream.media_resource["private"] is True
    assert ledger["calls"][-1] == (
        "provision",
        str(stream.id),
        {"id": f"res-{stream.id}", "key": "key-1", "private": False},
    )


@pytest.mark.django_db
def test_a_provider_outage_leaves_the_stream_pending_until_the_reconcile_provisions_it_once(
    ledger, client_for, artist, viewer, django_capture_on_commit_callbacks
):
    ledger["fail"]["provision"] = "retryable"
    response = stream_create(client_for(artist), django_capture_on_commit_callbacks)
    assert response.status_code == 201
    stream = LiveStream.objects.get(pk=response.json()["id"])
    assert stream.media_backend == "" and "503" in stream.media_error
    # Nothing half-made is handed out: the ingest settings and playback wait for the resource.
    for user, path in ((artist, "ingest"), (viewer, "playback")):
        refused = client_for(user).get(f"/api/livestreams/{stream.id}/{path}/")
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "media_not_ready")
    assert client_for(artist).get(f"/api/livestreams/{stream.id}/").json()["streamKey"] is None
    refused = client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "media_not_ready")
    assert LiveStream.objects.get(pk=stream.id).stream_key == stream.stream_key  # nothing rotated

    with django_capture_on_commit_callbacks(execute=True):
        assert media_services.media_reconcile() == 1
    stream.refresh_from_db()
    assert (stream.media_backend, stream.media_error, stream.media_resource["id"]) == ("ledger", "", f"res-{stream.id}")
    with django_capture_on_commit_callbacks(execute=True):
        assert media_services.media_reconcile() == 0  # provisioned streams are left alone
    assert [c[0] for c in ledger["calls"]] == ["provision", "provision"]


@pytest.mark.django_db
def test_a_stream_the_backend_cannot_carry_is_refused_with_the_field(
    ledger, client_for, artist, django_capture_on_commit_callbacks
):
    ledger["no_private"] = True
    response = stream_create(
        client_for(artist), django_capture_on_commit_callbacks, isPayPerView=True, ticketPrice="5.00"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error" and "LEDGER_KEY" in error["fields"]["isPayPerView"][0]
    assert not LiveStream.objects.exists() and ledger["calls"] == []


@pytest.mark.django_db
def test_key_rotation_goes_through_the_provider_and_its_failure_is_a_502(
    ledger, client_for, artist, django_capture_on_commit_callbacks
):
    stream = LiveStream.objects.get(
        pk=stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    )
    rotated = client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/")
    assert rotated.json() == {"streamKey": "key-2"}
    ledger["fail"]["rotate"] = "fatal"
    failed = client_for(artist).post(f"/api/livestreams/{stream.id}/stream-key/rotate/")
    assert (failed.status_code, failed.json()["error"]["code"]) == (502, "media_provider_error")
    stream.refresh_from_db()
    assert stream.media_resource["key"] == "key-2"  # the key the provider still has


@pytest.mark.django_db
def test_deleting_a_stream_deletes_its_resource_after_commit(
    ledger, client_for, artist, django_capture_on_commit_callbacks
):
    stream_id = stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(artist).delete(f"/api/livestreams/{stream_id}/").status_code == 204
    assert ledger["calls"][-1] == ("deprovision", f"res-{stream_id}")


def _events(client, events, token="right"):
    import json

    return client.post(
        "/api/media/provider-events", json.dumps(events), content_type="application/json", HTTP_X_LEDGER_TOKEN=token
    )


@pytest.mark.django_db
def test_provider_events_drive_the_stream_once_each(
    ledger, client_for, artist, viewer, anon_client, django_capture_on_commit_callbacks, settings
):
    settings.STREAM_RECONNECT_WINDOW_SECONDS = 0
    response = stream_create(
        client_for(artist),
        django_capture_on_commit_callbacks,
        isPayPerView=True,
        ticketPrice="5.00",
        isRecordingEnabled=True,
    )
    stream = LiveStream.objects.get(pk=response.json()["id"])
    resource = f"res-{stream.id}"
    start = {"id": "ev-1", "kind": "publish_started", "resource_id": resource, "session": "st-1"}

    assert _events(anon_client, [start], token="wrong").status_code == 403
    assert LiveStream.objects.get(pk=stream.id).status == "scheduled"
    with django_capture_on_commit_callbacks(execute=True):
        assert _events(anon_client, [start]).status_code == 204
        assert _events(anon_client, [start]).status_code == 204  # redelivered: applied once
    stream.refresh_from_db()
    assert stream.status == "live" and MediaProviderEvent.objects.filter(event_id="ev-1").count() == 1
    assert stream.recordings.get().status == "recording"

    # The access check decides playback on this backend too.
    refused = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/")
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "payment_required")
    paid_ticket_factory(stream=stream, user=viewer)
    playback = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/").json()
    assert (
        playback["type"] == "hls" and playback["url"] == f"https://play.ledger.test/{resource}.m3u8?viewer={viewer.id}"
    )

    with django_capture_on_commit_callbacks(execute=True):
        ended = client_for(artist).post(f"/api/livestreams/{stream.id}/end")
    assert ended.status_code == 200 and ("publisher_drop", str(stream.id)) in ledger["calls"]
    ready = {
        "id": "ev-2",
        "kind": "recording_ready",
        "resource_id": resource,
        "session": "st-1",
        "recording": {"name": "ledger/rec/master.m3u8", "thumbnail": "ledger/rec/thumb.jpg", "durationSeconds": 61.5},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            _events(
                anon_client,
                [{"id": "ev-3", "kind": "publish_ended", "resource_id": resource, "session": "st-1"}, ready],
            ).status_code
            == 204
        )
    recording = stream.recordings.get()
    assert (recording.status, recording.file.name, recording.duration_seconds) == (
        "ready",
        "ledger/rec/master.m3u8",
        61.5,
    )
    replays = client_for(viewer).get(f"/api/livestreams/{stream.id}/recordings/").json()
    assert replays[0]["url"].startswith("https://vod.ledger.test/ledger/rec/master.m3u8?until=")
    other = client_for(artist).get(f"/api/livestreams/{stream.id}/recordings/")  # the artist may watch
    assert other.json()[0]["url"]
    from accounts.tests.factories import UserFactory

    assert client_for(UserFactory()).get(f"/api/livestreams/{stream.id}/recordings/").json()[0]["url"] is None
    assert LiveStreamRecording.objects.filter(stream=stream).count() == 1


@pytest.mark.django_db
def test_the_rtmp_backend_sends_no_events(anon_client):
    assert _events(anon_client, []).status_code == 404


def test_an_unknown_or_misconfigured_backend_is_named_at_start(settings):
    settings.STREAMING_BACKEND = "nosuch"
    (error,) = backend_configuration_errors()
    assert "STREAMING_BACKEND='nosuch'" in error and "ivs" in error and "rtmp" in error
    settings.STREAMING_BACKEND = f"{__name__}.LedgerBackend"
    LEDGER["misconfigured"] = True
    try:
        assert backend_configuration_errors() == ["LEDGER_TOKEN is not set."]
    finally:
        LEDGER.clear()
    settings.STREAMING_BACKEND = "rtmp"
    assert backend_configuration_errors() == []


def test_the_platform_does_not_start_with_an_unknown_backend():
    root = Path(__file__).resolve().parents[3]
    env = {**os.environ, "STREAMING_BACKEND": "nosuch"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "STREAMING_BACKEND='nosuch'" in result.stderr


@pytest.mark.django_db
def test_a_new_provider_session_replaces_the_running_one_and_an_ended_stream_is_stopped(
    ledger, client_for, artist, anon_client, django_capture_on_commit_callbacks
):
    stream = LiveStream.objects.get(
        pk=stream_create(client_for(artist), django_capture_on_commit_callbacks).json()["id"]
    )
    resource = f"res-{stream.id}"

    def start(event_id, session):
        return {"id": event_id, "kind": "publish_started", "resource_id": resource, "session": session}

    with django_capture_on_commit_callbacks(execute=True):
        for event in (start("a", "st-1"), start("b", "st-1"), start("c", "st-2")):
            assert _events(anon_client, [event]).status_code == 204
    stream.refresh_from_db()
    # The same session announced twice stays one publish; a second session (its End not arrived yet)
    # takes over without the encoder being dropped.
    assert stream.status == "live" and (stream.ingest.generation, stream.ingest.client_id) == (2, "st-2")
    assert ("publisher_drop", str(stream.id)) not in ledger["calls"]

    with django_capture_on_commit_callbacks(execute=True):
        client_for(artist).post(f"/api/livestreams/{stream.id}/end")
    ledger["calls"].clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert _events(anon_client, [start("d", "st-3")]).status_code == 204
    assert ledger["calls"] == [("publisher_drop", str(stream.id))]
