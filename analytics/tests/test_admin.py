"""Staff read the raw audience data in the admin; nobody edits it there."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from analytics import services
from streams.tests.factories import stream_factory

from .conftest import drain

pytestmark = pytest.mark.django_db


def _sessions(stream, count: int) -> str:
    for _ in range(count):
        session_id = services.session_open(
            stream_id=stream.id,
            viewer_key="a1",
            user_id=None,
            is_replay=False,
            source="page",
            user_agent="",
            country="DE",
        )
        services.quality_report_submit(
            stream_id=stream.id, session_id=session_id, report={"watch_ms": 1000, "rendition": "720p"}
        )
    drain()
    return session_id


def test_staff_browse_sessions_and_reports_read_only(staff, artist, event_buffer, django_assert_num_queries):
    stream = stream_factory(artist=artist, status="live", title="Admin Night")
    _sessions(stream, 2)
    browser = Client()
    browser.force_login(staff)
    with CaptureQueriesContext(connection) as few:
        browser.get("/admin/analytics/viewersession/")
    session_id = _sessions(stream, 6)
    with django_assert_num_queries(len(few)):  # as many queries for 8 rows as for 2: none per row
        sessions = browser.get("/admin/analytics/viewersession/")
    assert sessions.status_code == 200 and "Admin Night" in sessions.content.decode()
    reports = browser.get("/admin/analytics/qualityreport/?q=" + session_id)
    assert reports.status_code == 200 and "720p" in reports.content.decode()
    assert browser.get("/admin/analytics/viewersession/add/").status_code == 403
    session_page = browser.get(f"/admin/analytics/viewersession/{session_id}/change/")
    assert session_page.status_code == 200 and 'value="Save"' not in session_page.content.decode()
    artist_browser = Client()
    artist_browser.force_login(artist)
    assert artist_browser.get("/admin/analytics/viewersession/").status_code == 302  # not staff: to the login
