"""The per-minute rollups against hand-computed figures of one known show (analytics/tests/conftest.py)."""

import uuid

import pytest

from analytics import rollups
from analytics.models import LiveStreamAnalytics
from streams import services as stream_services

from .conftest import end_show
from .factories import report_factory, session_factory

pytestmark = pytest.mark.django_db

# minute: (concurrent, peak, unique, joins, chat messages, chatters, watch s, rebuffer ms, kbps, ratio, renditions,
#          countries). Minute 1: 105 viewer-seconds (A 60 + B 30 + C 15) -> 1.75 -> 2; bitrate
#          (30 s x 3000 + 20 s x 896 (360p on the ladder) + 30 s x 2000) / 80 s = 2099. Minute 2: C's
#          25 s have no rendition, so 360p is 10 of 35 s. Minute 3: only D, 20 s.
EXPECTED = {
    0: (1, 1, 1, 1, 0, 0, 20, 500, 3000, 0.025, {"720p": 1.0}, {"DE": 1}),
    1: (2, 2, 2, 2, 3, 2, 80, 1000, 2099, 0.0125, {"360p": 0.25, "720p": 0.75}, {"DE": 1, "US": 1}),
    2: (2, 2, 3, 1, 1, 1, 35, 2000, 1300, 0.057143, {"360p": 0.285714}, {"DE": 2, "US": 1}),
    3: (0, 1, 1, 0, 0, 0, 0, 0, None, None, {}, {"DE": 1}),
}
FIELDS = rollups.FIGURES  # the order of the EXPECTED tuples


def rows_by_minute(show) -> dict[int, tuple]:
    return {
        int((row.bucket_start - show.t0).total_seconds() // 60): tuple(getattr(row, f) for f in FIELDS)
        for row in LiveStreamAnalytics.objects.filter(stream=show.stream)
    }


def snapshot(show) -> list[dict]:
    return list(LiveStreamAnalytics.objects.filter(stream=show.stream).order_by("bucket_start").values())


def test_the_end_of_a_show_rolls_up_every_minute_of_it(show, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        stream_services.stream_end(stream_id=show.stream.id)
    rows = rows_by_minute(show)
    assert {m: rows[m] for m in EXPECTED} == EXPECTED
    # Every later minute of the live window is there, with nobody watching (D was last seen at 3:20).
    later = [rows[m] for m in sorted(rows) if m > 3]
    assert len(later) >= 6
    assert all(row[:9] == (0, 0, 0, 0, 0, 0, 0, 0, None) for row in later)


def test_a_minute_rollup_writes_that_minute_only(show):
    written = rollups.stream_minute_rollup(stream_id=show.stream.id, bucket_start=show.at(1, 42))
    assert written == 1
    assert rows_by_minute(show) == {1: EXPECTED[1]}


def test_re_running_a_rollup_changes_nothing(show):
    end_show(show)
    assert rollups.stream_final_rollup(stream_id=show.stream.id) == 4
    before = snapshot(show)
    assert rollups.stream_final_rollup(stream_id=show.stream.id) == 0
    assert rollups.stream_minute_rollup(stream_id=show.stream.id, bucket_start=show.at(2)) == 0
    assert snapshot(show) == before
    assert rows_by_minute(show) == EXPECTED


def test_a_late_report_is_folded_in_by_the_next_periodic_run(show):
    end_show(show)
    rollups.stream_final_rollup(stream_id=show.stream.id)
    before = {row["bucket_start"]: row for row in snapshot(show)}
    # D's report of minute 3 reaches the database after the final rollup ran.
    d = show.stream.viewer_sessions.get(viewer_key="a3")
    report_factory(session=d, received_at=show.at(3, 15), watch_ms=15000, rendition="720p", bitrate_kbps=2500)
    assert rollups.recent_streams_rollup(now=show.at(5, 10)) == 1
    after = {row["bucket_start"]: row for row in snapshot(show)}
    minute3 = after[show.at(3)]
    assert (minute3["watch_seconds"], minute3["avg_bitrate_kbps"], minute3["quality_distribution"]) == (
        15,
        2500,
        {"720p": 1.0},
    )
    # The other minutes are untouched, to their updated_at (the API's cache key).
    assert {k: v for k, v in after.items() if k != show.at(3)} == {k: v for k, v in before.items() if k != show.at(3)}


def test_the_periodic_run_rolls_the_late_window_of_a_live_stream(show, settings):
    settings.ANALYTICS_ROLLUP_LATE_MINUTES = 5
    rollups.recent_streams_rollup(now=show.at(6, 30))
    rows = rows_by_minute(show)
    # The current minute (6) and the five before it; minute 0 is older than the late window.
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    assert {m: rows[m] for m in (1, 2, 3)} == {m: EXPECTED[m] for m in (1, 2, 3)}


def test_a_viewer_still_watching_counts_until_last_seen(show):
    # A session still open, last seen in the middle of minute 5: it fills minutes 4 and half of 5.
    session_factory(
        stream=show.stream, viewer_key="a9", country="JP", started_at=show.at(4), last_seen_at=show.at(5, 30)
    )
    rollups.stream_rollup(stream_id=show.stream.id, start=show.at(4), end=show.at(6))
    rows = rows_by_minute(show)
    assert rows[4][:4] == (1, 1, 1, 1) and rows[4][11] == {"JP": 1}
    assert rows[5][:4] == (1, 1, 1, 0)  # 30 s: 0.5 rounds to 1


def test_a_stream_that_never_started_rolls_up_nothing(artist):
    from streams.tests.factories import stream_factory

    stream = stream_factory(artist=artist)
    assert rollups.stream_final_rollup(stream_id=stream.id) == 0
    assert not LiveStreamAnalytics.objects.filter(stream=stream).exists()


def test_the_tasks_take_ids_and_strings(show, eager_celery):
    from analytics import rollup_tasks

    rollup_tasks.stream_minute_rollup.delay(str(show.stream.id), show.at(2).isoformat())
    assert rows_by_minute(show) == {2: EXPECTED[2]}
    end_show(show)
    rollup_tasks.stream_final_rollup.delay(str(show.stream.id))
    rollup_tasks.stream_final_rollup.delay(str(uuid.uuid4()))  # a stream deleted since: nothing to do
    assert rows_by_minute(show) == EXPECTED
