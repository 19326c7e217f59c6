"""The analytics API through HTTP: the known show's figures, every role, bad parameters, the cache, the
query counts, the artist's summary, and /health's viewerQuality."""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection

from analytics import rollups
from analytics.quality import ALERTS_CACHE_KEY
from payments.selectors import stream_revenue
from payments.tests.factories import paid_ticket_factory
from streams import services as stream_services
from streams.tests.factories import stream_factory

from .conftest import end_show
from .factories import chat_message_factory, ingest_sample_factory, report_factory, session_factory

pytestmark = pytest.mark.django_db


def url(stream) -> str:
    return f"/api/livestreams/{stream.id}/analytics"


@pytest.fixture
def ended_show(show):
    end_show(show)
    rollups.stream_final_rollup(stream_id=show.stream.id)
    return show


def get_ok(client, path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content
    return response.json()


def test_the_show_in_figures(ended_show, client_for, artist):
    data = get_ok(client_for(artist), url(ended_show.stream))
    assert data["totals"] == {
        "uniqueViewers": 4,  # u1, a2 (twice), a3 live; a4 on the replay
        "peakConcurrentViewers": 2,
        "averageConcurrentViewers": 1.25,  # minutes 1, 2, 2, 0
        "totalWatchSeconds": 180.0,
        "averageWatchSeconds": 45.0,
        "chatMessages": 4,  # neither the deleted nor the hidden one
        "chatters": 3,
        "messagesPerViewer": 1.0,
        "replayViews": 1,
        "ticketsSold": 0,
        "netRevenue": "0.00",
        "currency": ended_show.stream.currency,
    }
    series = [{k: v for k, v in point.items() if k != "time"} for point in data["series"]]
    assert series == [
        {"concurrentViewers": 1.0, "peakViewers": 1, "joins": 1, "watchSeconds": 20, "chatMessages": 0,
         "avgBitrateKbps": 3000, "rebufferRatio": 0.025},
        {"concurrentViewers": 2.0, "peakViewers": 2, "joins": 2, "watchSeconds": 80, "chatMessages": 3,
         "avgBitrateKbps": 2099, "rebufferRatio": 0.0125},
        {"concurrentViewers": 2.0, "peakViewers": 2, "joins": 1, "watchSeconds": 35, "chatMessages": 1,
         "avgBitrateKbps": 1300, "rebufferRatio": 0.057143},
        {"concurrentViewers": 0.0, "peakViewers": 1, "joins": 0, "watchSeconds": 0, "chatMessages": 0,
         "avgBitrateKbps": None, "rebufferRatio": None},
    ]  # fmt: skip
    assert [p["time"][:16] for p in data["series"]] == [ended_show.at(m).isoformat()[:16] for m in range(4)]
    assert data["geography"] == [
        {"country": "DE", "viewers": 2, "watchSeconds": 90.0},
        {"country": "FR", "viewers": 1, "watchSeconds": 45.0},
        {"country": "US", "viewers": 1, "watchSeconds": 45.0},
    ]
    assert data["devices"] == {
        "deviceClass": [
            {"name": "desktop", "viewers": 2, "watchSeconds": 125.0},
            {"name": "mobile", "viewers": 1, "watchSeconds": 45.0},
            {"name": "tablet", "viewers": 1, "watchSeconds": 10.0},
        ],
        "browser": [
            {"name": "Chrome", "viewers": 3, "watchSeconds": 135.0},
            {"name": "Safari", "viewers": 1, "watchSeconds": 45.0},
        ],
        "os": [
            {"name": "Windows", "viewers": 2, "watchSeconds": 125.0},
            {"name": "Android", "viewers": 1, "watchSeconds": 10.0},
            {"name": "iOS", "viewers": 1, "watchSeconds": 45.0},
        ],
    }
    # 720p: 20 s + 60 s; 360p: 20 s + 10 s (C's 25 s in minute 2 had no rendition).
    assert data["renditions"] == [
        {"rendition": "720p", "watchSeconds": 80.0, "share": 0.7273},
        {"rendition": "360p", "watchSeconds": 30.0, "share": 0.2727},
    ]
    qoe = data["qoe"]
    assert {k: v for k, v in qoe.items() if k not in ("score", "subScores")} == {
        "startupTimeP50Ms": 2500,  # 1000, 2000, 3000, 5000
        "startupTimeP95Ms": 4700,
        "rebufferRatio": 0.019444,  # 3.5 s of 180 s
        "rebufferFrequency": 1.3333,  # 4 rebuffers in 3 minutes
        "playbackFailureRate": 0.2,  # D of five views
        "exitBeforeVideoStartRate": 0.2,  # B
        "upscaleRatio": 0.0909,  # D's 10 s at 360p in a 1080-pixel player, of 110 s with both known
    }
    # Startup: mean of 8/(8+s) = 75.8; success 100 (1 - 0.2 - 0.2/2) = 70; smoothness 100 / (1 + 20 x 0.019444
    # + 0.5 x 1.3333) = 48.6; quality: average upscaling 2 x 10/110, peak 2 -> 88.7.
    assert qoe["subScores"] == {
        "playbackSuccess": 70.0,
        "startupTime": 75.8,
        "smoothness": 48.6,
        "videoQuality": 88.7,
    }
    assert qoe["score"] == pytest.approx(70.8, abs=0.051)
    assert data["retention"]["live"] == [
        {"minute": 0, "share": 0.3333},
        {"minute": 1, "share": 0.6667},
        {"minute": 2, "share": 1.0},
        {"minute": 3, "share": 0.3333},
    ]
    # The show lasted 170 s: 30-s buckets; the one replay view watched 45 s.
    assert data["retention"]["replay"] == [
        {"second": 0, "share": 1.0},
        {"second": 30, "share": 1.0},
        {"second": 60, "share": 0.0},
        {"second": 90, "share": 0.0},
        {"second": 120, "share": 0.0},
        {"second": 150, "share": 0.0},
    ]
    assert data["live"] is None
    assert data["status"] == "ended" and data["interval"] == "minute"


def test_a_range_and_hours(ended_show, client_for, artist):
    client = client_for(artist)
    data = get_ok(
        client, url(ended_show.stream), **{"from": ended_show.at(1).isoformat(), "to": ended_show.at(2).isoformat()}
    )
    assert [p["joins"] for p in data["series"]] == [2]
    assert data["totals"]["chatMessages"] == 3
    assert data["totals"]["uniqueViewers"] == 2  # u1, a2
    hours = get_ok(client, url(ended_show.stream), interval="hour")["series"]
    assert sum(p["joins"] for p in hours) == 4 and sum(p["watchSeconds"] for p in hours) == 135
    assert max(p["peakViewers"] for p in hours) == 2
    assert len(hours) == len({ended_show.at(m).replace(minute=0) for m in range(4)})
    if len(hours) == 1:  # the four minutes in one hour: means over minutes, bitrate weighted by watch time
        assert (hours[0]["concurrentViewers"], hours[0]["avgBitrateKbps"], hours[0]["rebufferRatio"]) == (
            1.25,
            2025,  # (3000 x 20 + 2099 x 80 + 1300 x 35) / 135
            0.025926,
        )


def test_while_live(show, client_for, artist):
    rollups.stream_rollup(stream_id=show.stream.id, start=show.at(0), end=show.at(4))
    ingest_sample_factory(stream=show.stream, sampled_at=show.at(3), bitrate_kbps=4000, fps=25.0)
    ingest_sample_factory(
        stream=show.stream, sampled_at=show.at(3, 10), bitrate_kbps=4500, fps=30.0,
        keyframe_interval_seconds=2.0, transcoder_speed=0.97,
    )  # fmt: skip
    alerts = [{"code": "transcoder_behind", "severity": "warning", "message": "The transcoder runs at 0.97x."}]
    cache.set(ALERTS_CACHE_KEY.format(stream_id=show.stream.id), alerts, 60)
    live = get_ok(client_for(artist), url(show.stream))["live"]
    # D is the one open session; its latest report was on 360p.
    assert live == {
        "viewers": 1,
        "viewersPerRendition": [{"rendition": "360p", "viewers": 1}],
        "ingest": {
            "sampledAt": show.at(3, 10).isoformat().replace("+00:00", "Z"),
            "bitrateKbps": 4500,
            "fps": 30.0,
            "keyframeIntervalSeconds": 2.0,
            "transcoderSpeed": 0.97,
        },
        "alerts": alerts,
    }


@pytest.mark.parametrize(
    ("role", "status"),
    [("anonymous", 401), ("viewer", 403), ("other_artist", 403), ("artist", 200), ("staff", 200)],
)
def test_who_may_read_a_streams_analytics(ended_show, request, client_for, anon_client, role, status):
    client = anon_client if role == "anonymous" else client_for(request.getfixturevalue(role))
    response = client.get(url(ended_show.stream))
    assert response.status_code == status
    if status != 200:
        assert "error" in response.json()


@pytest.mark.parametrize("stream_id", [uuid.uuid4(), "not-a-uuid"])
def test_an_unknown_stream_is_404(client_for, staff, stream_id):
    assert client_for(staff).get(f"/api/livestreams/{stream_id}/analytics").status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"interval": "day"}, "interval"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-13-01T00:00:00Z"}, "to"),
        ({"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(ended_show, client_for, artist, params, field):
    response = client_for(artist).get(url(ended_show.stream), params)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_the_answer_is_cached_until_a_minute_is_rolled_up(show, client_for, artist, settings):
    settings.ANALYTICS_CACHE_SECONDS = 600
    client = client_for(artist)
    rollups.stream_rollup(stream_id=show.stream.id, start=show.at(0), end=show.at(4))
    first = get_ok(client, url(show.stream))
    assert first["totals"]["chatMessages"] == 4
    # A new chat message in minute 4: the cached answer stands until the rollup writes that minute.
    chat_message_factory(stream=show.stream, user=artist, created_at=show.at(4, 5))
    assert get_ok(client, url(show.stream)) == first
    rollups.stream_minute_rollup(stream_id=show.stream.id, bucket_start=show.at(4))
    second = get_ok(client, url(show.stream))
    assert second["totals"]["chatMessages"] == 5
    assert len(second["series"]) == len(first["series"]) + 1
    # Other parameters are other answers.
    assert get_ok(client, url(show.stream), interval="hour")["interval"] == "hour"


def _more_audience(show, count: int) -> None:
    for i in range(count):
        s = session_factory(
            stream=show.stream, viewer_key=f"x{i}", country=["BR", "JP", "IN"][i % 3], started_at=show.at(1),
            ended_at=show.at(3), watch_seconds=100, startup_time_ms=900 + i, device_class="tv", browser=f"B{i}",
        )  # fmt: skip
        report_factory(session=s, received_at=show.at(2), watch_ms=10000, rendition=f"{200 + i}p")
        chat_message_factory(stream=show.stream, user=show.stream.artist, created_at=show.at(2, i % 50))


@pytest.mark.parametrize("extra", [0, 12])
def test_query_counts_do_not_grow_with_the_audience(show, client_for, artist, django_assert_num_queries, extra):
    _more_audience(show, extra)
    rollups.stream_rollup(stream_id=show.stream.id, start=show.at(0), end=show.at(4))
    client = client_for(artist)
    # The token with its user, the stream, the newest rollup; then the rollups, sessions, chat, geography, three
    # device groups, upscaling, replay retention, revenue (2), open sessions per rendition, the latest ingest sample
    # (and, without PostgreSQL's percentile_cont, the startup times for the percentiles).
    with django_assert_num_queries(16 if connection.vendor == "postgresql" else 17):
        client.get(url(show.stream))
    with django_assert_num_queries(3):  # cached
        client.get(url(show.stream))


def test_the_artists_summary(ended_show, client_for, artist, staff, viewer, other_artist):
    other_stream = stream_factory(artist=artist, is_pay_per_view=True)  # 10.00 a ticket
    paid_ticket_factory(stream=other_stream, user=viewer)
    paid_ticket_factory(stream=other_stream, user=staff)
    other_stream = stream_services.stream_start(stream_id=other_stream.id)
    session_factory(stream=other_stream, viewer_key="u1", started_at=other_stream.started_at, watch_seconds=30)
    stream_factory(artist=other_artist, status="live")
    data = get_ok(client_for(artist), "/api/analytics/summary")
    by_id = {item["id"]: item for item in data["streams"]}
    assert set(by_id) == {str(ended_show.stream.id), str(other_stream.id)}
    show_totals = by_id[str(ended_show.stream.id)]
    assert {k: show_totals[k] for k in ("uniqueViewers", "peakConcurrentViewers", "totalWatchSeconds", "chatMessages",
                                         "chatters", "replayViews", "averageConcurrentViewers")} == {
        "uniqueViewers": 4, "peakConcurrentViewers": 2, "totalWatchSeconds": 180.0, "chatMessages": 4,
        "chatters": 3, "replayViews": 1, "averageConcurrentViewers": 1.25,
    }  # fmt: skip
    second = by_id[str(other_stream.id)]
    revenue = stream_revenue(stream=other_stream)
    assert (second["ticketsSold"], second["netRevenue"], second["currency"]) == (2, "20.00", other_stream.currency)
    assert (second["ticketsSold"], second["netRevenue"]) == (revenue["tickets_sold"], revenue["net"])
    assert (show_totals["ticketsSold"], show_totals["netRevenue"]) == (0, "0.00")
    # u1 watched both streams: one viewer over the range.
    assert data["totals"] == {
        "streams": 2,
        "uniqueViewers": 4,
        "peakConcurrentViewers": 2,
        "totalWatchSeconds": 210.0,
        "chatMessages": 4,
        "replayViews": 1,
        "ticketsSold": 2,
        "netRevenue": {other_stream.currency: "20.00"},
    }
    # A range that only holds the second stream.
    later = get_ok(client_for(artist), "/api/analytics/summary", **{"from": other_stream.started_at.isoformat()})
    assert [item["id"] for item in later["streams"]] == [str(other_stream.id)]
    # Staff read any artist's; nobody else does.
    assert get_ok(client_for(staff), "/api/analytics/summary", artistId=artist.id)["totals"]["streams"] == 2
    assert client_for(other_artist).get("/api/analytics/summary", {"artistId": artist.id}).status_code == 403
    assert client_for(viewer).get("/api/analytics/summary").status_code == 403
    response = client_for(staff).get("/api/analytics/summary", {"artistId": "abc"})
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["artistId"]


def test_the_summary_query_count_is_constant(ended_show, client_for, artist, django_assert_num_queries):
    for _ in range(3):
        stream_factory(artist=artist, status="ended")
    client = client_for(artist)
    # token + user, streams, rollups, sessions, chat, unique viewers overall, tickets and revenue
    with django_assert_num_queries(7):
        client.get("/api/analytics/summary")


def test_health_shows_the_latest_rolled_up_minute(show, client_for, artist):
    rollups.stream_rollup(stream_id=show.stream.id, start=show.at(0), end=show.at(3))
    health = get_ok(client_for(artist), f"/api/livestreams/{show.stream.id}/health")
    assert health["viewerQuality"] == {
        "bucketStart": show.at(2).isoformat(),
        "concurrentViewers": 2,
        "avgBitrateKbps": 1300,
        "bufferingRatio": 0.057143,
        "qualityDistribution": {"360p": 0.285714},
        "alerts": [],
    }
