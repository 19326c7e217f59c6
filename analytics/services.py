"""Writes of the audience: session events and playback reports go to the durable buffer; a batch writer
puts them in the database, and expiry closes the sessions of viewers who went away without a word.

The request path only validates ids and appends to the buffer (`session_open`, `session_seen`,
`session_close`, `quality_report_submit`). `events_write_batch` reads a batch, inserts the new
sessions and reports in bulk, folds each new report into its session's totals, commits, and only then
acknowledges the batch. Written twice (a crash between the commit and the acknowledgement), a batch
counts once: a report is unique by `event_id` and only reports not stored yet are folded in; opening
a session that exists, seeing it earlier than already seen, or closing it again changes nothing.
"""

import contextlib
import functools
import gc
import logging
import operator
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import orjson
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from livestream_site.errors import ApplicationError
from streams.models import LiveStream

from .buffer import Entry, buffer_get, buffer_is_local, consumer_name
from .clients import device_describe
from .models import UNKNOWN_COUNTRY, QualityReport, ViewerSession

logger = logging.getLogger(__name__)

# Report fields the player sends under older names (the first watch page's reportQuality).
REPORT_ALIASES = {"buffering_events": "rebuffer_count", "buffering_ms": "rebuffer_ms", "quality": "rendition"}
REPORT_INT_FIELDS = (
    "watch_ms",
    "startup_time_ms",
    "rebuffer_count",
    "rebuffer_ms",
    "bitrate_kbps",
    "bandwidth_kbps",
    "latency_ms",
    "dropped_frames",
    "player_width",
    "player_height",
)
REPORT_TEXT_FIELDS = {"rendition": 16, "error": 64}
EVENT_KEYS = {
    "session_open": ("event_id", "at", "session_id", "stream_id", "viewer_key", "is_replay", "source", "country"),
    "session_seen": ("event_id", "at", "session_ids"),
    "session_close": ("event_id", "at", "session_id"),
    "quality_report": ("event_id", "at", "session_id", "stream_id", "report"),
}
_EVENT_KEYSETS = {kind: frozenset(keys) for kind, keys in EVENT_KEYS.items()}
_NO_KEYS: frozenset = frozenset()
# Every field a report carries, at the value a report that leaves it out has.
REPORT_DEFAULTS = {
    "watch_ms": 0,
    "startup_time_ms": None,
    "rebuffer_count": 0,
    "rebuffer_ms": 0,
    "rendition": "",
    "bitrate_kbps": None,
    "bandwidth_kbps": None,
    "latency_ms": None,
    "dropped_frames": 0,
    "player_width": None,
    "player_height": None,
    "error": "",
    "exit_before_video_start": False,
}
_REPORT_VALUES = operator.itemgetter(*REPORT_DEFAULTS)  # a report's values, in REPORT_DEFAULTS order
SESSION_FOLDED_FIELDS = [
    "last_seen_at",
    "ended_at",
    "watch_seconds",
    "renditions",
    "startup_time_ms",
    "rebuffer_count",
    "rebuffer_ms",
    "dropped_frames",
    "error",
    "exit_before_video_start",
    "player_width",
    "player_height",
]


def _uuid(value, field: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        raise ApplicationError(f"{field} is not a valid id.", fields={field: ["Not a valid id."]}) from None


def _enqueue(events: list[dict]) -> None:
    buffer_get().append(events)
    if buffer_is_local():
        # The embedded default has no worker and no beat: the same writer drains the buffer at once.
        while events_write_batch() >= settings.ANALYTICS_BATCH_SIZE:
            pass
        _sessions_expire_now_and_then()


_last_local_expiry = 0.0


def _sessions_expire_now_and_then() -> None:
    global _last_local_expiry
    now = time.monotonic()
    if now - _last_local_expiry >= settings.ANALYTICS_SESSION_TTL_SECONDS:
        _last_local_expiry = now
        sessions_expire()


# The request path ---------------------------------------------------------------------------------
def session_open(
    *,
    stream_id,
    viewer_key: str,
    user_id: int | None,
    is_replay: bool,
    source: str,
    user_agent: str,
    country: str,
    session_id=None,
) -> str:
    """Start a viewing of a stream; returns its session id (the given one, or a new one)."""
    return sessions_open(
        sessions=[
            {
                "stream_id": stream_id,
                "viewer_key": viewer_key,
                "user_id": user_id,
                "is_replay": is_replay,
                "source": source,
                "user_agent": user_agent,
                "country": country,
                "session_id": session_id,
            }
        ]
    )[0]


def sessions_open(*, sessions: list[dict]) -> list[str]:
    """Start several viewings at once (a join storm's, in one buffer write); their ids, in order.

    Each dict holds `session_open`'s arguments. A session that is invalid refuses the whole batch.
    """
    events = [_session_open_event(**session) for session in sessions]
    _enqueue(events)
    return [event["session_id"] for event in events]


def _session_open_event(
    *,
    stream_id,
    viewer_key: str,
    user_id: int | None,
    is_replay: bool,
    source: str,
    user_agent: str,
    country: str,
    session_id=None,
) -> dict:
    if source not in ViewerSession.Source.values:
        raise ApplicationError("Unknown session source.", fields={"source": ["Unknown source."]})
    session_id = _uuid(session_id, "sessionId") if session_id is not None else str(uuid.uuid4())
    return {
        "type": "session_open",
        "event_id": uuid.uuid4().hex,
        "at": time.time(),
        "session_id": session_id,
        "stream_id": _uuid(stream_id, "streamId"),
        "viewer_key": str(viewer_key)[:64],
        "user_id": user_id,
        "is_replay": bool(is_replay),
        "source": source,
        "user_agent": (user_agent or "")[:512],
        "country": (country or UNKNOWN_COUNTRY)[:2],
    }


def session_seen(*, session_ids: Iterable) -> None:
    """Keep sessions alive (a heartbeat of their viewers' connections); one event for all of them."""
    ids = [_uuid(session_id, "sessionId") for session_id in session_ids]
    if ids:
        _enqueue([{"type": "session_seen", "event_id": uuid.uuid4().hex, "at": time.time(), "session_ids": ids}])


def session_close(*, session_id) -> None:
    """The viewer left (leaveStream, the connection closed)."""
    event = {"type": "session_close", "event_id": uuid.uuid4().hex, "at": time.time()}
    _enqueue([{**event, "session_id": _uuid(session_id, "sessionId")}])


def report_fields(metrics: dict) -> dict:
    """A validated report (chat.inputs.QualityReportInput, snake_case) as QualityReport's fields."""
    values = dict(metrics)
    for old, new in REPORT_ALIASES.items():
        if old in values:
            value = values.pop(old)
            values.setdefault(new, value)
    report = {}
    for name in REPORT_INT_FIELDS:
        if values.get(name) is not None:
            report[name] = max(0, round(values[name]))
    for name, size in REPORT_TEXT_FIELDS.items():
        if values.get(name):
            report[name] = str(values[name])[:size]
    if values.get("exit_before_video_start"):
        report["exit_before_video_start"] = True
    return report


def quality_reports_submit(*, stream_id, reports: list[tuple]) -> list[str]:
    """Queue playback reports [(session id, validated metrics)] of one stream; returns their event ids."""
    stream_id = _uuid(stream_id, "streamId")
    now = time.time()
    events = [
        {
            "type": "quality_report",
            "event_id": uuid.uuid4().hex,
            "at": now,
            "stream_id": stream_id,
            "session_id": _uuid(session_id, "sessionId"),
            "report": report_fields(metrics),
        }
        for session_id, metrics in reports
    ]
    _enqueue(events)
    return [event["event_id"] for event in events]


def quality_report_submit(*, stream_id, session_id, report: dict) -> str:
    """Queue one playback report of a session; returns its event id."""
    return quality_reports_submit(stream_id=stream_id, reports=[(session_id, report)])[0]


# The batch writer ---------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _at(timestamp: float) -> datetime:
    """A queued time as a datetime (cached: the reports of one beacon share theirs)."""
    return datetime.fromtimestamp(timestamp, tz=UTC)


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Python's cyclic garbage collector paused for a batch. A batch allocates a few hundred thousand
    dicts, tuples and strings, none in a reference cycle (reference counting frees them all); meanwhile
    the collector would walk the whole process's heap several times, about a third of the batch's time.
    Collection resumes as soon as the batch is done."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def events_write_batch(*, limit: int | None = None, consumer: str | None = None) -> int:
    """Write one batch of buffered entries to the database, then acknowledge it. Returns entries handled."""
    with _cyclic_gc_paused():
        return _batch_write(_batch_read(limit or settings.ANALYTICS_BATCH_SIZE, consumer or consumer_name()))


def events_write_drain(*, budget_seconds: float, limit: int | None = None, consumer: str | None = None) -> int:
    """Write batches until the buffer is drained or `budget_seconds` have passed; returns entries handled.

    While a batch is written, the next is read and sorted in a thread (no database work there): the
    database takes one batch's rows on one core while the next batch is decoded on the other. A batch
    read is always written, even past the budget (its entries are pending for this writer)."""
    limit = limit or settings.ANALYTICS_BATCH_SIZE
    consumer = consumer or consumer_name()
    deadline = time.monotonic() + budget_seconds
    written = 0
    with _cyclic_gc_paused():
        batch = _batch_read(limit, consumer)
        while batch.entries:
            reading = None
            if len(batch.entries) >= limit and time.monotonic() < deadline:
                reading = _Background(_batch_read, limit, consumer)
            try:
                written += _batch_write(batch)
            finally:
                if reading is not None:
                    reading.join()  # never left running, whatever the write did
            if reading is None:
                break
            batch = reading.result()
    return written


class _Batch(NamedTuple):
    entries: list[Entry]
    events: list
    sorted: "_Sorted"


class _Sorted(NamedTuple):
    """A batch's events by what they do: {session id: open event}, {session id: latest time seen},
    {session id: first close time}, {event id: report row}."""

    opens: dict[str, dict]
    seen: dict[str, float]
    closes: dict[str, float]
    reports: dict[str, tuple]


def _batch_read(limit: int, consumer: str) -> _Batch:
    entries = buffer_get().read(
        consumer=consumer, count=limit, claim_idle_seconds=settings.ANALYTICS_CLAIM_IDLE_SECONDS
    )
    events = [event for _entry_id, entry_events, _redelivered in entries for event in entry_events]
    return _Batch(entries, events, _events_sort(events))


def _batch_write(batch: _Batch) -> int:
    entries, events = batch.entries, batch.events
    if not entries:
        return 0
    # Reports of entries delivered for the first time cannot be stored yet (their ids are made when they
    # are queued); only a batch holding a redelivered entry looks for its reports in the table.
    redelivered = any(redelivered for _entry_id, _events, redelivered in entries)
    try:
        retry = _events_write(events, redelivered=redelivered, sorted_events=batch.sorted)
    except (IntegrityError, DataError):
        retry = _events_write_refused(events)
    # Acknowledged only now that the rows are committed; a crash before this line redelivers the batch.
    # An entry holding an event to retry stays pending whole (its written events are not written twice).
    buffer_get().ack(
        [
            entry_id
            for entry_id, entry_events, _redelivered in entries
            if not retry
            or not any(isinstance(event, dict) and event.get("event_id") in retry for event in entry_events)
        ]
    )
    return len(entries)


def _events_write_refused(events: list) -> set[str]:
    """A batch the database refused must not stall the buffer. The usual cause is a stream deleted since
    its viewers' events were queued: those events are dropped (one query finds them, one line says how
    many) and the rest written as a batch; whatever is still refused is written event by event."""
    stream_ids = {event.get("stream_id") for event in events if isinstance(event, dict) and event.get("stream_id")}
    valid = []
    for stream_id in stream_ids:
        try:
            valid.append(uuid.UUID(str(stream_id)))
        except ValueError:
            pass
    existing = {str(pk) for pk in LiveStream.objects.filter(id__in=valid).values_list("id", flat=True)}
    kept = [
        event
        for event in events
        if not (isinstance(event, dict) and event.get("stream_id")) or event["stream_id"] in existing
    ]
    if len(kept) < len(events):
        logger.warning("analytics: %d events of deleted streams dropped", len(events) - len(kept))
    try:
        return _events_write(kept)
    except (IntegrityError, DataError):
        pass
    retry: set[str] = set()
    refused = 0
    for event in kept:
        try:
            retry |= _events_write([event])
        except (IntegrityError, DataError) as error:
            refused += 1
            logger.debug("analytics: event %.200r refused: %s", event, error)
    if refused:
        logger.warning("analytics: %d events the database refused were dropped", refused)
    return retry


def _events_write(events: list[dict], *, redelivered: bool = True, sorted_events: _Sorted | None = None) -> set[str]:
    """Write events (sorted already, or sorted here) in one transaction; returns the event ids to leave
    unacknowledged (retried later).

    `redelivered=False` promises that none of the events was ever handed to a writer before, so none of
    their reports is stored: the look-up of stored reports is skipped (the unique event id stays the
    backstop: a broken promise fails the batch, and `_events_write_refused` writes it with the look-up).
    """
    opens, seen, closes, reports = sorted_events or _events_sort(events)
    session_ids = set(opens) | set(seen) | set(closes) | {row[1] for row in reports.values()}
    if not session_ids:
        return set()
    fold = _fold_sql if connection.vendor == "postgresql" else _fold_python
    with transaction.atomic():
        if opens:
            # In id order, like the lock below: two writers inserting the same sessions never deadlock.
            ViewerSession.objects.bulk_create(
                [_session_new(event) for _session_id, event in sorted(opens.items())], ignore_conflicts=True
            )
        # Every writer locks the sessions of its batch, in one order, before it touches their reports.
        session_streams = _sessions_lock(session_ids)
        rows, retry = [], set()
        orphan_cutoff = time.time() - settings.ANALYTICS_ORPHAN_SECONDS
        for row in sorted(reports.values(), key=_REPORT_AT):
            event_id, session_id, stream_id, received_at = row[:4]
            session_stream_id = session_streams.get(session_id)
            if session_stream_id == stream_id:
                rows.append(row)
            elif session_stream_id is None and received_at.timestamp() > orphan_cutoff:
                retry.add(event_id)  # its session_open may still be in a batch being redone
            else:
                logger.warning("analytics: report %s of unknown session %s dropped", event_id, session_id)
        seen = {session_id: _at(at) for session_id, at in seen.items() if session_id in session_streams}
        closes = {session_id: _at(at) for session_id, at in closes.items() if session_id in session_streams}
        if redelivered:
            rows = _reports_unstored(rows)
        if rows or seen or closes:
            fold(rows, seen, closes)
    return retry


def _sessions_lock(session_ids: set[str]) -> dict[str, str]:
    """Lock the existing sessions among `session_ids` (in id order); {session id: stream id}."""
    table = connection.ops.quote_name(ViewerSession._meta.db_table)
    ids = sorted(session_ids)
    if connection.vendor != "postgresql":
        sessions = ViewerSession.objects.select_for_update().filter(id__in=ids).values_list("id", "stream_id")
        return {str(session_id): str(stream_id) for session_id, stream_id in sessions}
    # Raw: the ORM prepares each of thousands of ids through UUIDField, which costs more than the query.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, stream_id FROM {table} WHERE id = ANY(%s::uuid[]) ORDER BY id FOR UPDATE", [ids])
        return {str(session_id): str(stream_id) for session_id, stream_id in cursor.fetchall()}


def _reports_unstored(rows: list[tuple]) -> list[tuple]:
    """The report rows whose event is not stored yet (a redelivered batch finds its own rows stored)."""
    if not rows:
        return rows
    event_ids = [row[0] for row in rows]
    if connection.vendor != "postgresql":
        stored = set(QualityReport.objects.filter(event_id__in=event_ids).values_list("event_id", flat=True))
    else:
        table = connection.ops.quote_name(QualityReport._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT event_id FROM {table} WHERE event_id = ANY(%s::varchar[])", [event_ids])
            stored = {event_id for (event_id,) in cursor.fetchall()}
    return [row for row in rows if row[0] not in stored] if stored else rows


# Reports not stored yet are inserted and added to their sessions' totals; heartbeats move last_seen_at
# forward; a close ends an open session. What new reports add to a session is added up once, here
# (_session_totals); PostgreSQL applies it in one statement (no session row crosses into Python), the
# ORM elsewhere; the tests check the two against each other.
REPORT_COLUMNS = ("event_id", "session_id", "stream_id", "received_at", *REPORT_DEFAULTS)
_COLUMN = {name: index for index, name in enumerate(REPORT_COLUMNS)}
SUMMED = ("rebuffer_count", "rebuffer_ms", "dropped_frames")


def _session_totals(rows: list[tuple]) -> dict[str, dict]:
    """What new reports (REPORT_COLUMNS rows, sorted by the time they were received) add to their
    sessions: watch time and the counters summed, seconds per rendition, the first startup time and error,
    whether playback ever exited before video started, the last player size, the latest report's time."""
    (session_at, received_at, watch_at, rendition_at, startup_at, error_at, width_at, height_at, exited_at) = (
        _COLUMN[name]
        for name in (
            "session_id",
            "received_at",
            "watch_ms",
            "rendition",
            "startup_time_ms",
            "error",
            "player_width",
            "player_height",
            "exit_before_video_start",
        )
    )
    summed = [(name, _COLUMN[name]) for name in SUMMED]
    totals: dict[str, dict] = {}
    for row in rows:
        total = totals.get(row[session_at])
        if total is None:
            total = totals[row[session_at]] = {
                **dict.fromkeys(SUMMED, 0),
                "watch_ms": 0,
                "renditions": {},
                "startup_time_ms": row[startup_at],
                "error": row[error_at],
                "exit_before_video_start": False,
                "player_width": None,
                "player_height": None,
            }
        else:
            if total["startup_time_ms"] is None:
                total["startup_time_ms"] = row[startup_at]
            if not total["error"]:
                total["error"] = row[error_at]
        watch_ms = row[watch_at]
        total["watch_ms"] += watch_ms
        if watch_ms and row[rendition_at]:
            renditions = total["renditions"]
            renditions[row[rendition_at]] = renditions.get(row[rendition_at], 0) + watch_ms
        for name, index in summed:
            total[name] += row[index]
        if row[width_at] is not None:
            total["player_width"] = row[width_at]
        if row[height_at] is not None:
            total["player_height"] = row[height_at]
        if row[exited_at]:
            total["exit_before_video_start"] = True
        total["reported_at"] = row[received_at]  # the rows are in time order: the last is the latest
    for total in totals.values():
        total["renditions"] = {name: watch_ms / 1000 for name, watch_ms in total["renditions"].items()}
    return totals


def _fold_sql(rows: list[tuple], seen: dict[str, datetime], closes: dict[str, datetime]) -> None:
    """The new reports go straight into their table with COPY (their sessions are locked, so no other
    writer stores them meanwhile: the unique event id is the backstop); then one statement adds their
    totals, the heartbeats and the closes to the sessions.

    The COPY is fed from a thread while this one adds up the totals: the database takes the rows on the
    other core meanwhile (the feeding thread waits on the socket most of the time, without the GIL)."""
    report_table = connection.ops.quote_name(QualityReport._meta.db_table)
    session_table = connection.ops.quote_name(ViewerSession._meta.db_table)
    with connection.cursor() as cursor:
        copying = None
        if rows:
            columns = ", ".join(connection.ops.quote_name(column) for column in _report_columns())
            copying = _Background(_copy, cursor, report_table, columns, rows)
        try:
            totals = _session_totals(rows)
        finally:
            if copying is not None:  # the connection is the COPY's until it ends, whatever happened here
                copying.result()
        ids = sorted(set(totals) | set(seen) | set(closes))
        if not ids:
            return
        # One JSON document of what changes per session (psycopg adapts one text parameter far faster
        # than a dozen arrays of a thousand values).
        changes = [
            {
                **totals.get(session_id, {}),
                "session_id": session_id,
                "seen_at": seen.get(session_id),
                "closed_at": closes.get(session_id),
            }
            for session_id in ids
        ]
        cursor.execute(
            f"""
            UPDATE {session_table} AS s SET
                watch_seconds = s.watch_seconds + coalesce(c.watch_ms, 0) / 1000.0,
                renditions = CASE WHEN c.renditions IS NULL OR c.renditions = '{{}}' THEN s.renditions
                    ELSE coalesce(s.renditions, '{{}}') || (
                        SELECT jsonb_object_agg(
                            name, round(coalesce((s.renditions ->> name)::numeric, 0) + seconds::numeric, 3)
                        )
                        FROM jsonb_each_text(c.renditions) AS added (name, seconds)
                    ) END,
                startup_time_ms = coalesce(s.startup_time_ms, c.startup_time_ms),
                rebuffer_count = s.rebuffer_count + coalesce(c.rebuffer_count, 0),
                rebuffer_ms = s.rebuffer_ms + coalesce(c.rebuffer_ms, 0),
                dropped_frames = s.dropped_frames + coalesce(c.dropped_frames, 0),
                error = CASE WHEN s.error = '' THEN coalesce(c.error, '') ELSE s.error END,
                exit_before_video_start = s.exit_before_video_start OR coalesce(c.exit_before_video_start, false),
                player_width = coalesce(c.player_width, s.player_width),
                player_height = coalesce(c.player_height, s.player_height),
                ended_at = CASE WHEN s.ended_at IS NULL AND c.closed_at IS NOT NULL
                                THEN greatest(c.closed_at, s.started_at) ELSE s.ended_at END,
                last_seen_at = greatest(
                    s.last_seen_at, c.reported_at, c.seen_at,
                    CASE WHEN s.ended_at IS NULL THEN greatest(c.closed_at, s.started_at) END
                )
            FROM jsonb_to_recordset(%s::jsonb) AS c (
                session_id uuid, watch_ms bigint, renditions jsonb, startup_time_ms integer, rebuffer_count bigint,
                rebuffer_ms bigint, dropped_frames bigint, error varchar, exit_before_video_start boolean,
                player_width integer, player_height integer, reported_at timestamptz, seen_at timestamptz,
                closed_at timestamptz
            )
            WHERE s.id = c.session_id
            """,
            [orjson.dumps(changes).decode()],
        )


def _report_columns() -> tuple[str, ...]:
    return tuple(QualityReport._meta.get_field(name).column for name in REPORT_COLUMNS)


def _copy(cursor, table: str, columns: str, rows: list[tuple]) -> None:
    """COPY rows (tuples in REPORT_COLUMNS order) into a table; counted like any statement (query-count
    tests, the debug toolbar). Runs in the writer's thread or another (the cursor's connection, never
    this thread's own)."""
    database = cursor.db
    sql = f"COPY {table} ({columns}) FROM STDIN"
    started = time.monotonic()
    # Raw psycopg: its errors are Django's (IntegrityError, DataError) only through the wrapper.
    with database.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    if database.queries_logged:
        database.queries_log.append({"sql": f"{sql} -- {len(rows)} rows", "time": f"{time.monotonic() - started:.3f}"})


class _Background(threading.Thread):
    """A call run in a thread; `result()` waits for it and returns its value or raises its exception."""

    def __init__(self, function, *args):
        super().__init__(name=f"analytics{function.__name__}", daemon=True)
        self.function, self.args = function, args
        self.value = self.error = None
        self.start()

    def run(self):
        try:
            self.value = self.function(*self.args)
        except BaseException as error:  # re-raised in the caller's thread
            self.error = error

    def result(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def _fold_python(rows: list[tuple], seen: dict[str, datetime], closes: dict[str, datetime]) -> None:
    """The same rules through the ORM (SQLite, the embedded default)."""
    totals = _session_totals(rows)
    session_ids = set(seen) | set(closes) | set(totals)
    sessions = {str(session.id): session for session in ViewerSession.objects.filter(id__in=session_ids)}
    for session_id, total in totals.items():
        _totals_add(sessions[session_id], total)
    for session_id, at in seen.items():
        session = sessions[session_id]
        session.last_seen_at = max(session.last_seen_at, at)
    for session_id, at in closes.items():
        session = sessions[session_id]
        if session.ended_at is None:
            session.ended_at = max(at, session.started_at)
            session.last_seen_at = max(session.last_seen_at, session.ended_at)
    QualityReport.objects.bulk_create(
        [QualityReport(**dict(zip(REPORT_COLUMNS, row, strict=True))) for row in rows], ignore_conflicts=True
    )
    ViewerSession.objects.bulk_update(list(sessions.values()), SESSION_FOLDED_FIELDS)


def _events_sort(events: list) -> _Sorted:
    """File each event (_event_sort); a malformed one is dropped with a line in the log."""
    batch = _Sorted({}, {}, {}, {})
    for event in events:
        try:
            _event_sort(event, *batch)
        except (KeyError, TypeError, ValueError):
            logger.warning(
                "analytics: malformed %r event dropped", event.get("type") if isinstance(event, dict) else event
            )
    return batch


def _event_sort(event: dict, opens: dict, seen: dict, closes: dict, reports: dict) -> None:
    """File an event under what it does to sessions and reports (the first open or close wins; latest seen)."""
    if not isinstance(event, dict):
        raise TypeError("an event is an object")
    kind = event.get("type")
    keys = _EVENT_KEYSETS.get(kind, _NO_KEYS)
    if not keys <= event.keys() or not isinstance(event.get("at"), (int, float)):
        raise ValueError(f"{kind} event without {sorted(keys - event.keys()) or 'at'}")
    if kind == "session_open":
        opens.setdefault(event["session_id"], event)
        seen[event["session_id"]] = max(seen.get(event["session_id"], 0), event["at"])
    elif kind == "session_seen":
        for session_id in event["session_ids"]:
            seen[session_id] = max(seen.get(session_id, 0), event["at"])
    elif kind == "session_close":
        closes.setdefault(event["session_id"], event["at"])
    elif kind == "quality_report":
        if event["event_id"] not in reports:
            reports[event["event_id"]] = _report_row(event)
    else:
        logger.warning("analytics: unknown event %r dropped", kind)


def _session_new(event: dict) -> ViewerSession:
    at = _at(event["at"])
    return ViewerSession(
        id=event["session_id"],
        stream_id=event["stream_id"],
        user_id=event.get("user_id"),
        viewer_key=event["viewer_key"],
        source=event["source"],
        is_replay=event["is_replay"],
        started_at=at,
        last_seen_at=at,
        country=event["country"],
        **device_describe(event.get("user_agent") or ""),
    )


def _report_row(event: dict) -> tuple:
    """The QualityReport columns of a report event, in REPORT_COLUMNS order (fields the player left out at
    their defaults)."""
    return (
        event["event_id"],
        event["session_id"],
        event["stream_id"],
        _at(event["at"]),
        *_REPORT_VALUES({**REPORT_DEFAULTS, **event["report"]}),
    )


_REPORT_AT = operator.itemgetter(REPORT_COLUMNS.index("received_at"))


def _totals_add(session: ViewerSession, total: dict) -> None:
    """Add what new reports bring (_session_totals) to a session, by the rules of _fold_sql's statement."""
    session.watch_seconds += total["watch_ms"] / 1000
    if total["renditions"]:
        renditions = dict(session.renditions or {})
        for name, seconds in total["renditions"].items():
            renditions[name] = round(renditions.get(name, 0) + seconds, 3)
        session.renditions = renditions
    if session.startup_time_ms is None:
        session.startup_time_ms = total["startup_time_ms"]
    for name in SUMMED:
        setattr(session, name, getattr(session, name) + total[name])
    if not session.error:
        session.error = total["error"]
    session.exit_before_video_start = session.exit_before_video_start or total["exit_before_video_start"]
    if total["player_width"] is not None:
        session.player_width = total["player_width"]
    if total["player_height"] is not None:
        session.player_height = total["player_height"]
    session.last_seen_at = max(session.last_seen_at, total["reported_at"])


def sessions_expire() -> int:
    """Close the sessions not seen for ANALYTICS_SESSION_TTL_SECONDS (their viewer's process died, or the
    viewer vanished); each ends when it was last seen. Returns how many were closed."""
    cutoff = timezone.now() - timedelta(seconds=settings.ANALYTICS_SESSION_TTL_SECONDS)
    # One statement: a session a batch writer is updating meanwhile is re-checked once its row is free.
    return ViewerSession.objects.filter(ended_at__isnull=True, last_seen_at__lt=cutoff).update(
        ended_at=F("last_seen_at")
    )
