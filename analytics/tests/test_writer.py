"""The batch writer: exactly once across crashes, claims of a dead writer's entries, expiry, query counts."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from analytics import services, tasks
from analytics.buffer import LocalEventBuffer
from analytics.models import QualityReport, ViewerSession
from streams.tests.factories import stream_factory

from .conftest import drain

pytestmark = pytest.mark.django_db


@pytest.fixture
def stream(artist):
    return stream_factory(artist=artist, status="live")


@pytest.fixture
def no_inline_writes(monkeypatch):
    """Queue without the embedded default's immediate write, so the test decides when batches run."""
    monkeypatch.setattr(services, "buffer_is_local", lambda: False)


def _open(stream, session_id=None) -> str:
    return services.session_open(
        stream_id=stream.id,
        viewer_key=f"a{uuid.uuid4().hex}",
        user_id=None,
        is_replay=False,
        source="page",
        user_agent="",
        country="ZZ",
        session_id=session_id,
    )


def _report(stream, session_id, **metrics) -> str:
    return services.quality_report_submit(
        stream_id=stream.id, session_id=session_id, report={"watch_ms": 1000, **metrics}
    )


def test_a_batch_interrupted_between_the_write_and_the_ack_is_written_exactly_once(
    stream, event_buffer, no_inline_writes, monkeypatch
):
    session_id = _open(stream)
    for rendition in ("720p", "720p", "360p"):
        _report(stream, session_id, rendition=rendition, rebuffer_count=1)

    def crash(entry_ids):
        raise SystemExit("the worker died after the commit, before the acknowledgement")

    monkeypatch.setattr(event_buffer, "ack", crash)
    with pytest.raises(SystemExit):
        services.events_write_batch(consumer="worker-a")
    monkeypatch.undo()
    assert QualityReport.objects.count() == 3  # committed
    assert event_buffer.backlog() == 4  # but not acknowledged

    # The next writer (another process) takes the batch over once it has been pending long enough.
    with override_settings(ANALYTICS_CLAIM_IDLE_SECONDS=0):
        assert services.events_write_batch(consumer="worker-b") == 4
    assert event_buffer.backlog() == 0
    assert QualityReport.objects.count() == 3
    session = ViewerSession.objects.get()
    assert (session.watch_seconds, session.rebuffer_count, session.renditions) == (3.0, 3, {"720p": 2.0, "360p": 1.0})


def test_a_batch_interrupted_before_the_commit_is_written_once_by_the_next_writer(
    stream, event_buffer, no_inline_writes, monkeypatch
):
    session_id = _open(stream)
    _report(stream, session_id, dropped_frames=5)

    def crash(events, **options):
        raise SystemExit("the worker died mid-write")

    monkeypatch.setattr(services, "_events_write", crash)
    with pytest.raises(SystemExit):
        services.events_write_batch(consumer="worker-a")
    monkeypatch.undo()
    assert not ViewerSession.objects.exists()
    with override_settings(ANALYTICS_CLAIM_IDLE_SECONDS=0):
        drain()
    assert ViewerSession.objects.get().dropped_frames == 5
    assert QualityReport.objects.count() == 1


def test_a_dead_writers_pending_entries_are_claimed_only_once_idle_long_enough(stream, event_buffer, no_inline_writes):
    session_id = _open(stream)
    _report(stream, session_id)
    dead = event_buffer.read(consumer="dead-writer", count=10, claim_idle_seconds=settings.ANALYTICS_CLAIM_IDLE_SECONDS)
    assert len(dead) == 2  # read, never acknowledged: its process died
    # A live writer does not take entries another writer may still be writing...
    assert services.events_write_batch(consumer="live-writer") == 0
    assert event_buffer.backlog() == 2
    # ...but claims them once they are older than ANALYTICS_CLAIM_IDLE_SECONDS.
    with override_settings(ANALYTICS_CLAIM_IDLE_SECONDS=0):
        assert services.events_write_batch(consumer="live-writer") == 2
    assert event_buffer.backlog() == 0
    assert ViewerSession.objects.get().watch_seconds == 1.0


def test_session_events_are_idempotent_and_out_of_order_heartbeats_do_not_go_back(
    stream, event_buffer, no_inline_writes
):
    session_id = _open(stream)
    drain()
    opened = ViewerSession.objects.get()
    services.session_seen(session_ids=[session_id])
    services.session_close(session_id=session_id)
    # The same events written again (a redelivered batch) change nothing.
    entries = event_buffer.read(consumer="x", count=10, claim_idle_seconds=60)
    events = [event for _id, entry_events, _redelivered in entries for event in entry_events]
    services._events_write(events)
    closed = ViewerSession.objects.get()
    services._events_write(events)
    services._events_write([{**events[0], "at": opened.started_at.timestamp() - 100}])  # a late, older heartbeat
    again = ViewerSession.objects.get()
    assert closed.ended_at is not None and closed.last_seen_at >= opened.last_seen_at
    assert (again.ended_at, again.last_seen_at) == (closed.ended_at, closed.last_seen_at)


def test_expiry_closes_sessions_not_seen_for_the_ttl(stream, event_buffer):
    stale, fresh = _open(stream), _open(stream)
    drain()
    long_ago = timezone.now() - timedelta(seconds=settings.ANALYTICS_SESSION_TTL_SECONDS + 5)
    ViewerSession.objects.filter(pk=stale).update(started_at=long_ago, last_seen_at=long_ago)  # a dead process's viewer

    assert tasks.analytics_sessions_expire.apply().get() == 1
    expired = ViewerSession.objects.get(pk=stale)
    assert expired.ended_at == long_ago
    assert ViewerSession.objects.get(pk=fresh).ended_at is None
    assert services.sessions_expire() == 0  # idempotent


def test_the_writer_task_drains_the_buffer(stream, event_buffer, no_inline_writes):
    session_id = _open(stream)
    for _ in range(5):
        _report(stream, session_id)
    with override_settings(ANALYTICS_BATCH_SIZE=2):
        assert tasks.analytics_events_write.apply().get() == 6
    assert event_buffer.backlog() == 0
    assert QualityReport.objects.count() == 5


def test_the_drain_reads_the_next_batch_while_writing_and_a_failed_write_loses_nothing(
    stream, event_buffer, no_inline_writes, monkeypatch
):
    session_id = _open(stream)
    for _ in range(7):
        _report(stream, session_id)
    real_write, calls = services._events_write, []

    def write_then_fail_the_second(events, **options):
        calls.append(len(events))
        if len(calls) == 2:
            raise SystemExit("the worker died writing its second batch")
        return real_write(events, **options)

    monkeypatch.setattr(services, "_events_write", write_then_fail_the_second)
    with override_settings(ANALYTICS_BATCH_SIZE=3), pytest.raises(SystemExit):
        services.events_write_drain(budget_seconds=60)
    monkeypatch.undo()
    # The first batch is written and acknowledged; the second (failed) and the third (read meanwhile, by
    # the thread) are pending for the dead writer, then claimed and written once.
    assert QualityReport.objects.count() == 2
    assert event_buffer.backlog() == 5
    # (Claimable at once, a batch being written is claimed again by the read running beside it: written
    # once all the same.)
    with override_settings(ANALYTICS_BATCH_SIZE=3, ANALYTICS_CLAIM_IDLE_SECONDS=0):
        assert services.events_write_drain(budget_seconds=60) >= 5
    assert QualityReport.objects.count() == 7
    assert ViewerSession.objects.get().watch_seconds == 7.0
    assert event_buffer.backlog() == 0


def test_the_drain_stops_reading_once_its_budget_is_spent(stream, event_buffer, no_inline_writes):
    session_id = _open(stream)
    for _ in range(5):
        _report(stream, session_id)
    with override_settings(ANALYTICS_BATCH_SIZE=2):
        assert services.events_write_drain(budget_seconds=0) == 2  # the batch read is written, no more
    assert event_buffer.backlog() == 4


def test_the_periodic_tasks_are_in_the_one_beat_schedule():
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"analytics.tasks.analytics_events_write", "analytics.tasks.analytics_sessions_expire"} <= tasks_scheduled


def _queue(stream, reports: int) -> int:
    """Queue `reports` reports over reports/5 new sessions, a heartbeat of them all and a close; returns entries."""
    sessions = [_open(stream) for _ in range(max(1, reports // 5))]
    for index in range(reports):
        _report(stream, sessions[index % len(sessions)], rendition="720p", startup_time_ms=900)
    services.session_seen(session_ids=sessions)
    services.session_close(session_id=sessions[0])
    return reports + len(sessions) + 2


@pytest.mark.parametrize("reports", [5, 200])
def test_the_writer_runs_a_constant_number_of_queries_per_batch(
    stream, event_buffer, no_inline_writes, django_assert_num_queries, reports
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite splits bulk statements at its parameter limit")
    entries = _queue(stream, reports)
    # Savepoint, insert sessions, lock sessions, COPY the reports, fold them into their sessions (one
    # statement), release. Entries read for the first time hold no stored report: no look-up.
    with django_assert_num_queries(6):
        assert services.events_write_batch(limit=10_000) == entries
    assert QualityReport.objects.count() == reports
    assert ViewerSession.objects.filter(ended_at__isnull=False).count() == 1


def test_a_redelivered_batch_looks_up_its_stored_reports_in_one_more_query(
    stream, event_buffer, no_inline_writes, django_assert_num_queries, monkeypatch
):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite splits bulk statements at its parameter limit")
    entries = _queue(stream, 20)
    monkeypatch.setattr(event_buffer, "ack", lambda entry_ids: None)  # the writer died before acknowledging
    services.events_write_batch(limit=10_000)
    monkeypatch.undo()
    # Savepoint, insert sessions (none new), lock sessions, find the reports stored (all of them), fold
    # the heartbeat and the close, release: nothing to COPY.
    with override_settings(ANALYTICS_CLAIM_IDLE_SECONDS=0), django_assert_num_queries(6):
        assert services.events_write_batch(limit=10_000) == entries
    assert QualityReport.objects.count() == 20
    assert sum(ViewerSession.objects.values_list("watch_seconds", flat=True)) == 20.0
    assert event_buffer.backlog() == 0


def test_a_report_queued_twice_is_stored_once_even_when_each_copy_is_new_to_the_writer(
    stream, event_buffer, no_inline_writes
):
    """A first delivery is trusted to hold no stored report; if one does (the same event queued twice),
    the unique event id refuses the batch and the writer finds what is stored before writing the rest."""
    session_id = _open(stream)
    event = {
        "type": "quality_report",
        "event_id": uuid.uuid4().hex,
        "at": timezone.now().timestamp(),
        "stream_id": str(stream.id),
        "session_id": session_id,
        "report": {"watch_ms": 4000},
    }
    event_buffer.append([event])
    drain()
    event_buffer.append([event])
    _report(stream, session_id)
    drain()
    assert QualityReport.objects.count() == 2
    assert ViewerSession.objects.get().watch_seconds == 5.0
    assert event_buffer.backlog() == 0


def test_the_in_process_buffer_is_the_embedded_default(stream):
    with override_settings(REDIS_URL=""):
        from analytics.buffer import buffer_get

        assert isinstance(buffer_get(), LocalEventBuffer)
        session_id = _open(stream)
        _report(stream, session_id, rendition="480p")
        # No worker, no beat: written as soon as it was queued.
        assert ViewerSession.objects.get().renditions == {"480p": 1.0}
        assert buffer_get().backlog() == 0


# Committed for real: foreign keys are checked at the commit, which the test's own transaction would defer.
@pytest.mark.django_db(transaction=True)
def test_events_the_database_refuses_or_cannot_read_do_not_stall_the_buffer(
    stream, artist, event_buffer, no_inline_writes, caplog
):
    gone = stream_factory(artist=artist, status="live")
    kept_session = _open(stream)
    _open(gone)
    _report(stream, kept_session, rendition="720p")
    event_buffer.append([{"type": "session_open", "at": 1.0}, {"type": "teleport", "event_id": "x", "at": 2.0}, "junk"])
    for _ in range(50):  # a deleted stream's many viewers: one line says they were dropped, no traceback each
        _report(gone, str(uuid.uuid4()))
    gone.delete()  # deleted between the join and the write: its session can no longer be stored
    with caplog.at_level("WARNING", logger="analytics.services"):
        drain()
    assert [record.getMessage() for record in caplog.records if "deleted streams" in record.getMessage()] == [
        "analytics: 51 events of deleted streams dropped"  # its session and the 50 reports
    ]
    assert not any(record.exc_info for record in caplog.records)
    assert event_buffer.backlog() == 0
    assert list(ViewerSession.objects.values_list("id", flat=True)) == [uuid.UUID(kept_session)]
    assert ViewerSession.objects.get().renditions == {"720p": 1.0}


def _fold_case(stream, event_buffer) -> list[str]:
    """Sessions with reports of every kind of field, heartbeats and a close, in two batches, each written
    twice (redelivered)."""

    def write_batch():
        entries = event_buffer.read(consumer="fold-case", count=100, claim_idle_seconds=60)
        events = [event for _id, entry_events, _redelivered in entries for event in entry_events]
        services._events_write(events)
        services._events_write(events)  # redelivered: changes nothing
        event_buffer.ack([entry_id for entry_id, _events, _redelivered in entries])

    first, second = _open(stream), _open(stream)
    _report(stream, first, rendition="720p", startup_time_ms=1200, player_width=1280, player_height=720)
    _report(stream, first, rendition="720p", rebuffer_count=2, rebuffer_ms=900, dropped_frames=3)
    write_batch()
    _report(stream, first, rendition="360p", watch_ms=2500, error="", player_width=640)
    _report(stream, first, watch_ms=0, startup_time_ms=50, error="hls_fatal", exit_before_video_start=True)
    _report(stream, first, rendition="720p", error="later_error", bitrate_kbps=2800, latency_ms=4000)
    _report(stream, second, rendition="1080p", watch_ms=1234)
    services.session_seen(session_ids=[first, second])
    services.session_close(session_id=second)
    write_batch()
    return [first, second]


def test_the_sql_fold_and_the_orm_fold_give_the_same_sessions(artist, event_buffer, no_inline_writes, monkeypatch):
    """PostgreSQL folds a batch in one SQL statement, other databases through the ORM: the same totals."""
    if connection.vendor != "postgresql":
        pytest.skip("the SQL fold is PostgreSQL's")
    sql_sessions = _fold_case(stream_factory(artist=artist, status="live"), event_buffer)
    monkeypatch.setattr(services, "_fold_sql", services._fold_python)
    orm_sessions = _fold_case(stream_factory(artist=artist, status="live"), event_buffer)
    fields = ["watch_seconds", "ended_at", *services.SESSION_FOLDED_FIELDS]
    for sql_id, orm_id in zip(sql_sessions, orm_sessions, strict=True):
        sql, orm = ViewerSession.objects.get(id=sql_id), ViewerSession.objects.get(id=orm_id)
        for name in ("last_seen_at", "ended_at"):  # stamped when queued: compare relative to the start
            for session in (sql, orm):
                value = getattr(session, name)
                setattr(session, name, value and round((value - session.started_at).total_seconds()))
        assert {name: getattr(sql, name) for name in fields} == {name: getattr(orm, name) for name in fields}
    first = ViewerSession.objects.get(id=sql_sessions[0])
    assert first.watch_seconds == 5.5
    assert first.renditions == {"720p": 3.0, "360p": 2.5}
    assert (first.startup_time_ms, first.rebuffer_count, first.rebuffer_ms, first.dropped_frames) == (1200, 2, 900, 3)
    assert (first.error, first.exit_before_video_start, first.player_width, first.player_height) == (
        "hls_fatal",
        True,
        640,
        720,
    )
    assert QualityReport.objects.count() == 12


def test_written_entries_leave_the_redis_stream(stream, redis_buffer, no_inline_writes):
    """Acknowledged entries are deleted with their acknowledgement: Redis holds the backlog, not the history."""
    session_id = _open(stream)
    for _ in range(3):
        _report(stream, session_id)
    assert redis_buffer.client.xlen(redis_buffer.key) == 4
    drain()
    assert redis_buffer.client.xlen(redis_buffer.key) == 0
    assert redis_buffer.backlog() == 0
    assert QualityReport.objects.count() == 3
