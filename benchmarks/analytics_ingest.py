"""Analytics ingest benchmark: playback beacons accepted end to end, and rows written by the batch writer,
against psycopg COPY of the same rows into the same table shape, in the same run.

  accepted  POST /api/livestreams/{id}/quality-reports with {"reports": [20 reports]} through Django's
            whole HTTP stack (middleware, DRF, the access check, validation, the buffer append)
  written   analytics.services.events_write_drain (what the writer task runs) draining the buffer in
            batches of ANALYTICS_BATCH_SIZE entries: reports inserted, folded into their sessions,
            committed, acknowledged, the next batch read and sorted meanwhile
  copy      psycopg's COPY of the same report rows (already built, no validation, no session update)
            into the same report table, emptied: the fastest way PostgreSQL takes rows

The default backlog, 60,000 reports over 1,000 sessions, is ten minutes of a 1,000-viewer show that
reports every 10 s (3,000 beacons of 20: three batches). With --reports 20000 the writer has one batch
and nothing to overlap: it writes about 0.4x COPY's rows/s there.

Usage (PostgreSQL required; the database is created and migrated when missing, its analytics rows cleared):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_analytics REDIS_URL=redis://127.0.0.1:6379/9 \
      .venv/bin/python benchmarks/analytics_ingest.py --reports 60000 --sessions 1000
Without REDIS_URL the in-process buffer is measured (the embedded default: accepted includes the write).
"""

import argparse
import io
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def database_ensure(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = url.replace(parsed.path, "/postgres")
    with psycopg.connect(admin, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=60000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000, help="ANALYTICS_BATCH_SIZE")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each; the medians are compared")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL (the baseline is COPY)")
    database_ensure(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")
    os.environ["ANALYTICS_BATCH_SIZE"] = str(args.batch)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    run(args)


def run(args) -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from analytics import services
    from analytics.buffer import buffer_get, buffer_is_local
    from analytics.models import QualityReport, ViewerSession
    from streams import services as stream_services

    buffer = buffer_get()
    buffer.clear()
    # Emptied, not deleted from: every run starts from the same tables, not from the dead rows of the
    # runs before it (the session table's index held 200,000 of them after a day of runs, unvacuumed).
    tables_empty(connection, QualityReport, ViewerSession)
    artist = User.objects.create_user(username=f"bench-{uuid.uuid4().hex[:8]}", password="x" * 20, role="artist")
    stream = stream_services.stream_create(
        by_user=artist, title="Benchmark", scheduled_start_time=django_now() + _delta(days=1)
    )
    stream = stream_services.stream_start(stream_id=stream.id)
    session_ids = [str(uuid.uuid4()) for _ in range(args.sessions)]
    client = Client(SERVER_NAME="localhost")
    url = f"/api/livestreams/{stream.id}/quality-reports"
    per_beacon = 20
    beacons = []
    for start in range(0, args.reports, per_beacon):
        reports = []
        for index in range(start, min(start + per_beacon, args.reports)):
            reports.append(
                {
                    "sessionId": session_ids[index % args.sessions],
                    "watchMs": 10_000,
                    "rendition": ("360p", "720p", "1080p")[index % 3],
                    "bitrateKbps": 2800,
                    "bandwidthKbps": 9000,
                    "latencyMs": 4000,
                    "rebufferCount": index % 2,
                    "rebufferMs": 300 * (index % 2),
                    "droppedFrames": 1,
                    "playerWidth": 1280,
                    "playerHeight": 720,
                }
            )
        beacons.append(json.dumps({"reports": reports}))
    # The sessions exist first (as the WebSocket join opens them), so beacons measure reports only.
    for session_id in session_ids:
        services.session_open(
            stream_id=stream.id,
            viewer_key=f"a{session_id}",
            user_id=None,
            is_replay=False,
            source="page",
            user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36",
            country="DE",
            session_id=session_id,
        )
    services.events_write_drain(budget_seconds=3600)

    accepted_times, write_times, copy_times = [], [], []
    for _round in range(args.rounds):  # alternating, so a busy moment of the machine hits all three alike
        tables_empty(connection, QualityReport)
        started = time.perf_counter()
        for body in beacons:
            response = client.post(url, data=body, content_type="text/plain")
            assert response.status_code == 202, response.content
        accepted_times.append(time.perf_counter() - started)

        started = time.perf_counter()
        services.events_write_drain(budget_seconds=3600)  # what the writer task runs
        write_times.append(time.perf_counter() - started)
        rows = QualityReport.objects.filter(stream=stream).count()
        assert rows == args.reports, rows

        tables_empty(connection, QualityReport)
        copy_times.append(
            copy_baseline(connection, stream_id=str(stream.id), session_ids=session_ids, reports=args.reports)
        )
    tables_empty(connection, QualityReport)
    accepted_seconds, write_seconds, copy_seconds = (
        statistics.median(times) for times in (accepted_times, write_times, copy_times)
    )

    kind = "in-process" if buffer_is_local() else "redis"
    if buffer_is_local():  # the embedded default writes while it accepts: the accept time holds the write
        write_seconds = accepted_seconds
    accept_rate = args.reports / accepted_seconds
    write_rate = args.reports / write_seconds
    copy_rate = args.reports / copy_seconds
    print(
        f"buffer: {kind}; reports: {args.reports} over {args.sessions} sessions; batch {settings.ANALYTICS_BATCH_SIZE}; "
        f"medians of {args.rounds} rounds"
    )
    print(
        f"accepted (HTTP beacons of 20): {accept_rate:,.0f} reports/s ({len(beacons) / accepted_seconds:,.0f} beacons/s)"
    )
    print(f"written (events_write_drain):  {write_rate:,.0f} rows/s")
    print(f"baseline (psycopg COPY):       {copy_rate:,.0f} rows/s")
    print(f"written / COPY: {write_rate / copy_rate:.2f}x   accepted / COPY: {accept_rate / copy_rate:.2f}x")
    results_save(args, kind=kind, copy_rate=copy_rate, write_rate=write_rate, accept_rate=accept_rate)
    QualityReport.objects.filter(stream=stream).delete()
    ViewerSession.objects.filter(stream=stream).delete()
    stream.delete()
    artist.delete()


def results_save(args, *, kind: str, copy_rate: float, write_rate: float, accept_rate: float) -> None:
    """benchmarks/results/analytics_ingest.json: rows/s of each against COPY's (report.py prints them)."""
    from benchmarks.report import results_write

    results = [
        {"server": "baseline", "what": "psycopg COPY", "rows_per_s": round(copy_rate)},
        {"server": "written", "what": "events_write_drain", "rows_per_s": round(write_rate)},
        {"server": "accepted", "what": "HTTP beacons of 20", "rows_per_s": round(accept_rate)},
    ]
    ratios = {"written": round(write_rate / copy_rate, 2), "accepted": round(accept_rate / copy_rate, 2)}
    shape = {
        "buffer": kind,
        "reports": args.reports,
        "sessions": args.sessions,
        "batch": args.batch,
        "rounds": args.rounds,
    }
    results_write("analytics_ingest", "analytics_ingest", results, ratios, **shape)


def tables_empty(connection, *models) -> None:
    """Empty the models' tables (the benchmark's own database): each round's writer and COPY find the
    report table in the same state, with no dead rows of an earlier round in its indexes."""
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(connection.ops.quote_name(model._meta.db_table) for model in models)}")


def copy_baseline(connection, *, stream_id: str, session_ids: list[str], reports: int) -> float:
    """COPY the same rows into the same report table, emptied (its indexes and unique constraint), in
    autocommit: one statement, committed."""
    from django.utils import timezone

    from analytics.models import QualityReport

    now = timezone.now().isoformat()
    lines = io.StringIO()
    for index in range(reports):
        session_id = session_ids[index % len(session_ids)]
        rendition = ("360p", "720p", "1080p")[index % 3]
        rebuffers = index % 2
        lines.write(
            f"{uuid.uuid4().hex}\t{session_id}\t{stream_id}\t{now}\t10000\t\\N\t{rebuffers}\t{300 * rebuffers}\t"
            f"{rendition}\t2800\t9000\t4000\t1\t1280\t720\t\tf\n"
        )
    data = lines.getvalue()
    columns = (
        "event_id, session_id, stream_id, received_at, watch_ms, startup_time_ms, rebuffer_count, rebuffer_ms, "
        "rendition, bitrate_kbps, bandwidth_kbps, latency_ms, dropped_frames, player_width, player_height, error, "
        "exit_before_video_start"
    )
    table = connection.ops.quote_name(QualityReport._meta.db_table)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # psycopg's own cursor
            copy.write(data)
        return time.perf_counter() - started


def django_now():
    from django.utils import timezone

    return timezone.now()


def _delta(**kwargs):
    from datetime import timedelta

    return timedelta(**kwargs)


if __name__ == "__main__":
    main()
