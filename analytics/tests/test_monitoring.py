"""Per-stream alerts and the automatic quality cap, with fake ingest samples from a stand-in backend.

FakeBackend is configured by its dotted path (settings.STREAMING_BACKEND) and answers what each test
sets: the ingest the media system sees, the transcoder's speed and the renditions produced.
"""

import uuid
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from chat.tests.conftest import ws  # noqa: F401 (the WebSocket client fixture)
from streams.media.backends import Rendition
from streams.media.backends.rtmp import RtmpBackend
from streams.models import LiveStream
from streams.tests.factories import stream_factory

from .. import monitoring
from ..models import IngestSample, QualityReport, ViewerSession
from ..monitoring_tasks import ingest_sample_task

LADDER = [Rendition("360p", 360, 640), Rendition("720p", 720, 1280), Rendition("1080p", 1080, 1920)]


class FakeBackend(RtmpBackend):
    publishing = True
    ingest: dict = {}
    speed: float | None = 1.0
    ladder = LADDER

    def health(self, *, stream) -> dict:
        ingest = self.ingest if self.publishing else None
        return {"mediaServerReachable": True, "publishing": self.publishing, "ingest": ingest}

    def transcoder_speed(self, *, stream) -> float | None:
        return self.speed

    def renditions(self, *, stream) -> list[Rendition]:
        return list(self.ladder)


GOOD_INGEST = {"bitrateKbps": 4400, "fps": 30.0, "keyframeIntervalSeconds": 2.0}


@pytest.fixture
def fake(settings):
    settings.STREAMING_BACKEND = f"{__name__}.FakeBackend"
    settings.HLS_SEGMENT_SECONDS = 2.0
    settings.ANALYTICS_TRANSCODER_MIN_SPEED = 0.95
    settings.ANALYTICS_TRANSCODER_SLOW_SAMPLES = 3
    settings.ANALYTICS_INGEST_STARVING_RATIO = 0.5
    settings.ANALYTICS_REBUFFER_ALERT_RATIO = 0.02
    FakeBackend.publishing, FakeBackend.ingest, FakeBackend.speed = True, dict(GOOD_INGEST), 1.0
    FakeBackend.ladder = LADDER
    yield FakeBackend


@pytest.fixture
def live(artist, db):
    return stream_factory(artist=artist, status="live", stream_settings={"bitrate": 4500})


def codes(stream) -> list[str]:
    return [alert["code"] for alert in monitoring.stream_alerts_get(stream_id=stream.id)]


def test_a_healthy_stream_is_sampled_and_has_no_alerts(fake, live):
    assert ingest_sample_task.apply().get() == 1
    sample = IngestSample.objects.get(stream=live)
    assert (sample.bitrate_kbps, sample.fps, sample.keyframe_interval_seconds, sample.transcoder_speed) == (
        4400,
        30.0,
        2.0,
        1.0,
    )
    assert codes(live) == []


def test_scheduled_and_ended_streams_are_not_sampled(fake, artist):
    stream_factory(artist=artist)
    stream_factory(artist=artist, status="ended")
    assert ingest_sample_task.apply().get() == 0
    assert not IngestSample.objects.exists()


def test_ingest_far_below_the_configured_bitrate_starves(fake, live):
    fake.ingest = {**GOOD_INGEST, "bitrateKbps": 900}
    monitoring.live_streams_monitor()
    [alert] = monitoring.stream_alerts_get(stream_id=live.id)
    assert (alert["code"], alert["severity"]) == ("ingest_starving", "critical")
    assert "900 kbps" in alert["message"] and "4500 kbps" in alert["message"]


def test_no_ingest_while_live_starves_and_recovery_clears_it(fake, live):
    fake.publishing = False
    monitoring.live_streams_monitor()
    assert codes(live) == ["ingest_starving"]
    first_since = monitoring.stream_alerts_get(stream_id=live.id)[0]["since"]
    monitoring.live_streams_monitor()
    assert monitoring.stream_alerts_get(stream_id=live.id)[0]["since"] == first_since  # the same episode
    fake.publishing = True
    monitoring.live_streams_monitor()
    assert codes(live) == []


@pytest.mark.parametrize(("interval", "alerted"), [(2.0, False), (1.0, False), (0.5, False), (3.0, True), (1.5, True)])
def test_keyframe_interval_must_fit_the_segment_length(fake, live, interval, alerted):
    fake.ingest = {**GOOD_INGEST, "keyframeIntervalSeconds": interval}
    monitoring.live_streams_monitor()
    assert ("keyframe_interval_mismatch" in codes(live)) is alerted


def test_transcoder_behind_for_n_samples_caps_the_top_rung_and_recovery_restores_it(fake, live, client_for, artist):
    fake.speed = 0.7
    monitoring.live_streams_monitor()
    monitoring.live_streams_monitor()
    assert "transcoder_behind" not in codes(live)  # two slow samples are not yet an episode
    assert LiveStream.objects.get(pk=live.id).quality_cap == ""
    monitoring.live_streams_monitor()
    assert "transcoder_behind" in codes(live)
    capped = LiveStream.objects.get(pk=live.id)
    assert (capped.quality_cap, capped.quality_cap_automatic) == ("medium", True)  # 1080p leaves the ladder
    shown = client_for(artist).get(f"/api/livestreams/{live.id}").json()
    assert shown["qualityCap"] == "medium"

    fake.speed = 1.02
    monitoring.live_streams_monitor()
    assert "transcoder_behind" not in codes(live)
    restored = LiveStream.objects.get(pk=live.id)
    assert (restored.quality_cap, restored.quality_cap_automatic) == ("", False)


def test_a_two_rung_ladder_loses_its_top_rung_and_a_single_rung_is_kept(fake, live, artist):
    fake.ladder = LADDER[:2]
    fake.speed = 0.5
    for _ in range(3):
        monitoring.live_streams_monitor()
    assert LiveStream.objects.get(pk=live.id).quality_cap == "low"

    single = stream_factory(artist=artist, status="live")
    fake.ladder = LADDER[:1]
    LiveStream.objects.filter(pk=live.id).update(status="ended")
    for _ in range(3):
        monitoring.live_streams_monitor()
    assert "transcoder_behind" in codes(single)
    assert LiveStream.objects.get(pk=single.id).quality_cap == ""


def test_a_manual_cap_wins_over_the_automatic_one(fake, live, client_for, artist):
    manual = client_for(artist).post(f"/api/livestreams/{live.id}/adapt-quality", {"maxQuality": "low"})
    assert manual.status_code == 200
    fake.speed = 0.5
    for _ in range(3):
        monitoring.live_streams_monitor()
    stream = LiveStream.objects.get(pk=live.id)
    assert (stream.quality_cap, stream.quality_cap_automatic) == ("low", False)
    fake.speed = 1.0
    monitoring.live_streams_monitor()
    stream = LiveStream.objects.get(pk=live.id)
    assert (stream.quality_cap, stream.quality_cap_automatic) == ("low", False)  # recovery never lifts it


def test_a_manual_change_clears_the_automatic_marker_and_is_not_overruled(fake, live, client_for, artist):
    fake.speed = 0.5
    for _ in range(3):
        monitoring.live_streams_monitor()
    assert LiveStream.objects.get(pk=live.id).quality_cap_automatic is True
    lifted = client_for(artist).post(f"/api/livestreams/{live.id}/adapt-quality", {"maxQuality": "high"})
    assert lifted.status_code == 200 and lifted.json()["qualityCap"] is None
    monitoring.live_streams_monitor()  # still behind: the same episode, the artist's choice stands
    stream = LiveStream.objects.get(pk=live.id)
    assert (stream.quality_cap, stream.quality_cap_automatic) == ("", False)


def _report(stream, *, watch_ms: int, rebuffer_ms: int, minutes_ago: float = 0):
    session = ViewerSession.objects.create(
        stream=stream,
        viewer_key=uuid.uuid4().hex,
        started_at=timezone.now() - timedelta(minutes=10),
        last_seen_at=timezone.now(),
    )
    QualityReport.objects.create(
        event_id=uuid.uuid4().hex,
        session=session,
        stream=stream,
        received_at=timezone.now() - timedelta(minutes=minutes_ago),
        watch_ms=watch_ms,
        rebuffer_ms=rebuffer_ms,
    )


def test_audience_rebuffering_over_the_threshold_alerts(fake, live):
    _report(live, watch_ms=120_000, rebuffer_ms=1_000)  # 0.8 %
    monitoring.live_streams_monitor()
    assert "audience_rebuffering" not in codes(live)
    _report(live, watch_ms=60_000, rebuffer_ms=9_000)
    monitoring.live_streams_monitor()
    assert "audience_rebuffering" in codes(live)


def test_old_reports_and_too_little_watching_do_not_alert(fake, live):
    _report(live, watch_ms=600_000, rebuffer_ms=300_000, minutes_ago=20)
    _report(live, watch_ms=20_000, rebuffer_ms=10_000)
    monitoring.live_streams_monitor()
    assert "audience_rebuffering" not in codes(live)


def test_health_lists_the_active_alerts_to_the_artist(fake, live, client_for, artist):
    fake.ingest = {**GOOD_INGEST, "keyframeIntervalSeconds": 5.0}
    monitoring.live_streams_monitor()
    health = client_for(artist).get(f"/api/livestreams/{live.id}/health")
    assert health.status_code == 200
    [alert] = health.json()["alerts"]
    assert alert["code"] == "keyframe_interval_mismatch" and alert["severity"] == "warning"
    assert set(alert) == {"code", "severity", "message", "since"}


def test_metrics_show_live_streams_ingest_speed_and_alerts(fake, live):
    from django.test import Client

    from .test_metrics import value

    fake.speed = 0.5
    fake.ingest = {**GOOD_INGEST, "bitrateKbps": 1000}
    monitoring.live_streams_monitor()
    text = Client().get("/metrics").content.decode()
    assert value(text, "livestage_live_streams") == 1
    assert value(text, "livestage_ingest_bitrate_kbps", stream=str(live.id)) == 1000
    assert value(text, "livestage_transcoder_speed", stream=str(live.id)) == 0.5
    assert value(text, "livestage_stream_alerts", stream=str(live.id), code="ingest_starving") == 1


@pytest.mark.django_db(transaction=True)
async def test_stream_alert_reaches_the_artist_and_staff_never_a_viewer(fake, ws, artist, staff, viewer):  # noqa: F811
    stream = await database_sync_to_async(stream_factory)(artist=artist, status="live")
    artist_ws, staff_ws, viewer_ws = await ws(artist), await ws(staff), await ws(viewer)
    for client in (artist_ws, staff_ws, viewer_ws):
        await client.join(stream)
    fake.publishing = False
    await database_sync_to_async(monitoring.live_streams_monitor)()
    for client in (artist_ws, staff_ws):
        alert = await client.expect("streamAlert")
        assert alert["streamId"] == str(stream.id)
        assert (alert["code"], alert["severity"]) == ("ingest_starving", "critical")
        assert alert["message"]
    # The room still reaches the viewer (a chat message), but the alert never did.
    await artist_ws.send("sendChatMessage", {"streamId": str(stream.id), "message": "soundcheck"})
    assert (await viewer_ws.expect("newChatMessage"))["message"] == "soundcheck"
    assert all(frame["event"] != "streamAlert" for frame in viewer_ws.frames)
    # The same episode is announced once.
    await database_sync_to_async(monitoring.live_streams_monitor)()
    await artist_ws.expect("newChatMessage")
    assert await artist_ws.nothing()


def test_a_scrape_reads_the_database_once_however_many_streams_are_live(fake, live, artist, django_assert_num_queries):
    from django.test import Client

    for _ in range(3):
        stream_factory(artist=artist, status="live")
    monitoring.live_streams_monitor()
    with django_assert_num_queries(1):
        assert Client().get("/metrics").status_code == 200
