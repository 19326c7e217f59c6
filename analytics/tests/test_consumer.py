"""Viewer sessions and playback reports over the WebSocket: join opens, leave and disconnect close,
reportQuality lands in QualityReport and folds into the session (on Redis and in-process)."""

import asyncio
import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from analytics.models import QualityReport, ViewerSession
from livestream_site import realtime
from livestream_site.realtime import hub_get

pytestmark = pytest.mark.django_db(transaction=True)

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


@database_sync_to_async
def _session(session_id) -> ViewerSession:
    return ViewerSession.objects.get(pk=session_id)


@database_sync_to_async
def _reports(session_id) -> list[QualityReport]:
    return list(QualityReport.objects.filter(session_id=session_id).order_by("received_at", "id"))


@override_settings(ANALYTICS_COUNTRY_HEADER="CF-IPCountry")
async def test_join_opens_a_session_with_country_and_device_from_the_handshake(ws, make_stream, event_buffer, adrain):
    stream = await database_sync_to_async(make_stream)()
    anonymous_id = uuid.uuid4().hex
    client = await ws(
        headers=[
            (b"user-agent", IPHONE.encode()),
            (b"cf-ipcountry", b"de"),
            (b"cookie", f"lsv={anonymous_id}".encode()),
        ]
    )
    joined = await client.join(stream)
    await adrain()
    session = await _session(joined["sessionId"])
    assert (session.stream_id, session.source, session.is_replay, session.ended_at) == (stream.id, "page", False, None)
    assert session.viewer_key == f"a{anonymous_id}"
    assert (session.country, session.device_class, session.browser, session.os) == (
        "DE",
        "mobile",
        "Mobile Safari",
        "iOS",
    )


@override_settings(TRUSTED_PROXY_COUNT=1, ANALYTICS_COUNTRY_HEADER="CF-IPCountry")
async def test_country_from_the_forwarded_address_when_the_header_is_missing_or_bogus(
    ws, make_stream, viewer, adrain, event_buffer
):
    stream = await database_sync_to_async(make_stream)()
    # Behind one proxy: the address it appended (the last one) is the viewer's, the first one is made up.
    client = await ws(
        viewer,
        headers=[
            (b"user-agent", WINDOWS_CHROME.encode()),
            (b"x-forwarded-for", b"8.8.8.8, 1.0.16.1"),
            (b"cf-ipcountry", b"XX"),
        ],
        client=("10.0.0.2", 40000),
    )
    joined = await client.join(stream)
    await adrain()
    session = await _session(joined["sessionId"])
    assert (session.country, session.device_class, session.browser, session.os) == (
        "JP",
        "desktop",
        "Chrome",
        "Windows",
    )
    assert session.viewer_key == f"u{viewer.id}" and session.user_id == viewer.id


async def test_loopback_is_unknown_and_anonymous_without_cookie_is_the_connection(
    ws, make_stream, adrain, event_buffer
):
    stream = await database_sync_to_async(make_stream)(status="ended")
    first, second = await ws(), await ws()
    one, two = await first.join(stream), await second.join(stream)
    await adrain()
    sessions = [await _session(one["sessionId"]), await _session(two["sessionId"])]
    assert [s.country for s in sessions] == ["ZZ", "ZZ"]
    assert all(s.is_replay for s in sessions)  # the stream has ended: these are replay views
    assert sessions[0].viewer_key != sessions[1].viewer_key
    assert all(s.viewer_key.startswith("a") for s in sessions)


async def test_leave_and_disconnect_close_the_session(ws, make_stream, viewer, adrain, event_buffer):
    stream = await database_sync_to_async(make_stream)()
    leaving, closing = await ws(viewer), await ws()
    left_id = (await leaving.join(stream))["sessionId"]
    closed_id = (await closing.join(stream))["sessionId"]
    await leaving.send("leaveStream", {"streamId": str(stream.id)})
    await leaving.expect("leftStream")
    await closing.communicator.disconnect()
    await adrain()
    for session_id in (left_id, closed_id):
        session = await _session(session_id)
        assert session.ended_at is not None and session.ended_at >= session.started_at
    # Joining again is a new viewing.
    again = (await leaving.join(stream))["sessionId"]
    assert again != left_id
    await adrain()
    assert (await _session(again)).ended_at is None


async def test_artist_watching_is_not_a_viewer_session(ws, make_stream, artist, adrain, event_buffer):
    stream = await database_sync_to_async(make_stream)()
    client = await ws(artist)
    joined = await client.join(stream)
    assert joined["sessionId"] is None
    await client.send("reportQuality", {"streamId": str(stream.id), "watchMs": 1000})
    await client.expect("qualityReported")
    await adrain()
    assert await database_sync_to_async(ViewerSession.objects.count)() == 0
    assert await database_sync_to_async(QualityReport.objects.count)() == 0


async def test_reports_land_and_fold_into_the_session(ws, make_stream, viewer, adrain, event_buffer):
    stream = await database_sync_to_async(make_stream)()
    client = await ws(viewer)
    session_id = (await client.join(stream))["sessionId"]
    stream_id = str(stream.id)
    first = {
        "streamId": stream_id,
        "sessionId": session_id,
        "startupTimeMs": 850,
        "watchMs": 10_000,
        "rendition": "720p",
        "bitrateKbps": 2800,
        "bandwidthKbps": 9000,
        "latencyMs": 4200,
        "rebufferCount": 1,
        "rebufferMs": 400,
        "droppedFrames": 3,
        "playerWidth": 1280,
        "playerHeight": 720,
    }
    await client.send("reportQuality", first)
    reported = await client.expect("qualityReported")
    assert reported["streamId"] == stream_id
    assert "sessionId" not in reported["metrics"] and "startupTimeMs" in reported["metrics"]
    # The first watch page's names still work: bufferingEvents, bufferingMs, quality; no sessionId: the connection's.
    await client.send(
        "reportQuality",
        {
            "streamId": stream_id,
            "watchMs": 5000.4,
            "quality": "360p",
            "bufferingEvents": 2,
            "bufferingMs": 1500,
            "fps": 30,
        },
    )
    await client.expect("qualityReported")
    await client.send(
        "reportQuality",
        {"streamId": stream_id, "watchMs": 2000, "rendition": "720p", "startupTimeMs": 99, "error": "mediaError"},
    )
    await client.expect("qualityReported")
    await adrain()

    reports = await _reports(session_id)
    assert [(r.watch_ms, r.rendition, r.rebuffer_count, r.rebuffer_ms) for r in reports] == [
        (10_000, "720p", 1, 400),
        (5000, "360p", 2, 1500),
        (2000, "720p", 0, 0),
    ]
    assert (reports[0].startup_time_ms, reports[0].bitrate_kbps, reports[0].bandwidth_kbps, reports[0].latency_ms) == (
        850,
        2800,
        9000,
        4200,
    )
    assert all(r.stream_id == stream.id for r in reports)
    session = await _session(session_id)
    assert session.watch_seconds == pytest.approx(17.0)
    assert session.renditions == {"720p": 12.0, "360p": 5.0}
    assert (session.startup_time_ms, session.rebuffer_count, session.rebuffer_ms, session.dropped_frames) == (
        850,
        3,
        1900,
        3,
    )
    assert (session.player_width, session.player_height, session.error) == (1280, 720, "mediaError")
    assert session.last_seen_at >= reports[-1].received_at


async def test_a_bad_report_names_the_field_and_the_connection_stays_usable(
    ws, make_stream, viewer, adrain, event_buffer
):
    stream, other = await database_sync_to_async(make_stream)(), await database_sync_to_async(make_stream)()
    client = await ws(viewer)
    await client.join(stream)
    other_session = (await client.join(other))["sessionId"]
    stream_id = str(stream.id)
    for bad, field in [
        ({"watchMs": -1}, "watchMs"),
        ({"startupTimeMs": "fast"}, "startupTimeMs"),
        ({"exitBeforeVideoStart": "yes"}, "exitBeforeVideoStart"),
        ({"rendition": "x" * 17}, "rendition"),
        ({"sessionId": "not-a-uuid", "watchMs": 1}, "sessionId"),
        ({"sessionId": other_session, "watchMs": 1}, "sessionId"),  # a session of another stream
        ({"sessionId": str(uuid.uuid4()), "watchMs": 1}, "sessionId"),  # nobody's
        ({"playerWidth": 100_000}, "playerWidth"),
    ]:
        await client.send("reportQuality", {"streamId": stream_id, **bad})
        error = await client.expect_error("bad_request")
        assert list(error["fields"]) == [field], (bad, error)
        assert error["event"] == "reportQuality"
    await client.send("reportQuality", {"streamId": stream_id, "watchMs": 1000, "exitBeforeVideoStart": True})
    await client.expect("qualityReported")
    await adrain()
    assert await database_sync_to_async(QualityReport.objects.count)() == 1
    report = await database_sync_to_async(QualityReport.objects.get)()
    assert report.exit_before_video_start and report.watch_ms == 1000


async def test_the_rooms_heartbeat_keeps_sessions_seen(ws, make_stream, viewer, adrain, event_buffer):
    stream = await database_sync_to_async(make_stream)()
    client = await ws(viewer)
    session_id = (await client.join(stream))["sessionId"]
    await adrain()
    opened = await _session(session_id)
    hub = hub_get()
    connections = {connection for room in hub.rooms.values() for connection in room}
    assert realtime.hub._heartbeat_hook is not None
    await realtime.hub._heartbeat_hook(connections)  # what the hub's heartbeat awaits every VIEWER_HEARTBEAT_SECONDS
    await adrain()
    seen = await _session(session_id)
    assert seen.last_seen_at > opened.last_seen_at and seen.ended_at is None


async def test_the_hubs_own_heartbeat_runs_the_hook(ws, make_stream, viewer, adrain, event_buffer, monkeypatch):
    stream = await database_sync_to_async(make_stream)()
    registered = realtime.hub._heartbeat_hook
    beats: list[set] = []
    beaten = asyncio.Event()

    async def recording(connections):
        beats.append(set(connections))
        await registered(connections)
        beaten.set()

    monkeypatch.setattr(realtime.hub, "_heartbeat_hook", recording)
    with override_settings(VIEWER_HEARTBEAT_SECONDS=0.05):
        client = await ws(viewer)
        session_id = (await client.join(stream))["sessionId"]
        await asyncio.wait_for(beaten.wait(), timeout=10)
    assert any(getattr(connection, "sessions", {}).get(str(stream.id)) == session_id for connection in beats[0])
