"""POST /api/livestreams/{id}/quality-reports: the playback beacon (navigator.sendBeacon included)."""

import json
import uuid

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from analytics.models import QualityReport, ViewerSession
from payments.tests.factories import paid_ticket_factory
from streams.tests.factories import stream_factory

from .conftest import drain

pytestmark = pytest.mark.django_db

ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36"


def _page(stream) -> str:
    return reverse("stream-page", args=[stream.id])


def _url(stream_id) -> str:
    return f"/api/livestreams/{stream_id}/quality-reports"


def _beacon(client: Client, stream_id, body, content_type="text/plain;charset=UTF-8", **extra):
    """As navigator.sendBeacon(url, JSON.stringify(body)) sends it: a text/plain JSON string, no CSRF header."""
    return client.post(_url(stream_id), data=json.dumps(body), content_type=content_type, **extra)


@pytest.fixture
def free_stream(artist):
    return stream_factory(artist=artist, status="live")


@override_settings(ANALYTICS_COUNTRY_HEADER="CloudFront-Viewer-Country")
def test_anonymous_beacon_on_a_free_stream_opens_a_beacon_session(free_stream, event_buffer):
    client = Client()
    anonymous_id = uuid.uuid4().hex
    client.cookies["lsv"] = anonymous_id
    session_id = str(uuid.uuid4())
    response = _beacon(
        client,
        free_stream.id,
        {"sessionId": session_id, "watchMs": 10_000, "rendition": "1080p", "startupTimeMs": 1200},
        HTTP_USER_AGENT=ANDROID,
        HTTP_CLOUDFRONT_VIEWER_COUNTRY="FR",
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1}
    drain()
    session = ViewerSession.objects.get(pk=session_id)
    assert (session.source, session.viewer_key, session.user_id, session.country) == (
        "beacon",
        f"a{anonymous_id}",
        None,
        "FR",
    )
    assert (session.device_class, session.browser, session.os) == ("mobile", "Chrome Mobile", "Android")
    assert (session.watch_seconds, session.renditions, session.startup_time_ms) == (10.0, {"1080p": 10.0}, 1200)
    report = QualityReport.objects.get()
    assert (report.session_id, report.stream_id, report.watch_ms) == (session.id, free_stream.id, 10_000)


def test_many_reports_as_application_json_from_a_signed_in_viewer_without_csrf(free_stream, viewer, event_buffer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    page_session = str(uuid.uuid4())
    body = {
        "reports": [
            {"sessionId": page_session, "watchMs": 4000, "rendition": "720p"},
            {"sessionId": page_session, "watchMs": 6000, "rendition": "360p", "rebufferCount": 1, "rebufferMs": 700},
        ]
    }
    response = _beacon(client, free_stream.id, body, content_type="application/json", REMOTE_ADDR="81.2.69.142")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 2}
    drain()
    session = ViewerSession.objects.get(pk=page_session)
    assert (session.viewer_key, session.user_id, session.country) == (f"u{viewer.id}", viewer.id, "GB")
    assert session.watch_seconds == 10.0 and session.renditions == {"720p": 4.0, "360p": 6.0}
    assert (session.rebuffer_count, session.rebuffer_ms) == (1, 700)
    # The same session later: no second session, the report folds into it.
    response = _beacon(client, free_stream.id, {"sessionId": page_session, "watchMs": 1000, "rendition": "720p"})
    assert response.status_code == 202
    drain()
    assert ViewerSession.objects.count() == 1
    assert ViewerSession.objects.get().renditions == {"720p": 5.0, "360p": 6.0}


def test_pay_per_view_needs_a_ticket_and_unknown_streams_are_404(artist, viewer, event_buffer):
    stream = stream_factory(artist=artist, status="live", is_pay_per_view=True)
    report = {"sessionId": str(uuid.uuid4()), "watchMs": 1000}
    anonymous = _beacon(Client(), stream.id, report)
    assert anonymous.status_code == 402 and anonymous.json()["error"]["code"] == "payment_required"
    client = Client()
    client.force_login(viewer)
    assert _beacon(client, stream.id, report).status_code == 402
    paid_ticket_factory(stream=stream, user=viewer)
    assert _beacon(client, stream.id, report).status_code == 202
    assert _beacon(client, uuid.uuid4(), report).status_code == 404
    assert _beacon(client, "not-a-stream", report).status_code == 404
    drain()
    assert QualityReport.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"watchMs": 1000}, "sessionId"),
        ({"sessionId": "nope", "watchMs": 1000}, "sessionId"),
        ({"sessionId": "{session}", "latencyMs": "slow"}, "latencyMs"),
        ({"sessionId": "{session}", "watchMs": None}, "watchMs"),
        ({"sessionId": "{session}", "cpu": 3}, "cpu"),
        ({"sessionId": "{session}"}, "nonFieldErrors"),
        (
            {"reports": [{"sessionId": "{session}", "watchMs": 1}, {"sessionId": "{session}", "bandwidthKbps": -5}]},
            "reports[1].bandwidthKbps",
        ),
        ({"reports": [{"sessionId": "{session}", "watchMs": 1}] * 21}, "reports"),
        ({"reports": []}, "reports"),
        ({"reports": ["x"]}, "reports[0]"),
    ],
)
def test_a_bad_beacon_is_a_400_naming_the_field_and_nothing_is_queued(free_stream, event_buffer, body, field):
    session = str(uuid.uuid4())
    text = json.dumps(body).replace("{session}", session)
    response = Client().post(_url(free_stream.id), data=text, content_type="text/plain")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert field in error["fields"], error
    assert event_buffer.backlog() == 0
    drain()
    assert not QualityReport.objects.exists() and not ViewerSession.objects.exists()


def test_a_session_of_another_stream_and_a_body_that_is_not_json_are_refused(free_stream, artist, event_buffer):
    other = stream_factory(artist=artist, status="live")
    session_id = str(uuid.uuid4())
    assert _beacon(Client(), other.id, {"sessionId": session_id, "watchMs": 1}).status_code == 202
    drain()
    response = _beacon(Client(), free_stream.id, {"sessionId": session_id, "watchMs": 1})
    assert response.status_code == 400 and "sessionId" in response.json()["error"]["fields"]
    broken = Client().post(_url(free_stream.id), data="{not json", content_type="text/plain")
    assert broken.status_code == 400
    drain()
    assert QualityReport.objects.filter(stream=free_stream).count() == 0


def test_the_watch_page_gives_an_anonymous_viewer_id_once(free_stream):
    client = Client()
    response = client.get(_page(free_stream))
    assert response.status_code == 200
    cookie = response.cookies["lsv"]
    assert len(cookie.value) == 32 and uuid.UUID(hex=cookie.value)
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and int(cookie["max-age"]) >= 365 * 24 * 3600
    again = client.get(_page(free_stream))
    assert "lsv" not in again.cookies  # kept across reloads
    assert client.cookies["lsv"].value == cookie.value
