"""Rollup benchmark: the per-minute rollup of whole shows against a plain SQL GROUP BY over the same reports.

In a scratch PostgreSQL database (created, migrated and dropped here), it loads `--reports` quality reports
(default 1,000,000, with PostgreSQL COPY) spread over `--streams` shows of `--minutes` minutes, each with
`--sessions` viewer sessions and some chat, then measures in the same run, `--repeat` times each:

  baseline  per show, one plain SQL statement: SELECT minute, SUM(watch), SUM(rebuffer), weighted bitrate ...
            FROM reports WHERE stream = show GROUP BY minute (what any per-minute rollup must at least read)
  one-scan  for reference, the same GROUP BY over every show's reports at once (one scan of the table)
  ours      analytics.rollups.stream_final_rollup of every show, from an empty table: sessions swept,
            reports aggregated (minute x rendition), chat aggregated, every minute row written
  ours-rerun  the same rollup again over the rows it wrote (idempotent: compares, writes nothing)

and checks that ours wrote the baseline's per-minute watch seconds. Reports ratios to the baseline.

Usage:
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python benchmarks/analytics_rollup.py \
      [--reports 1000000] [--streams 4] [--minutes 120] [--sessions 3000] [--repeat 3]
DATABASE_URL names the server (and a database to connect to for CREATE DATABASE); the benchmark's data lives
in its own database, dropped at the end.
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUMS = """SUM(watch_ms) AS watch_ms, SUM(rebuffer_ms) AS rebuffer_ms,
       SUM(bitrate_kbps::bigint * watch_ms) FILTER (WHERE bitrate_kbps IS NOT NULL) AS kbps_ms,
       SUM(watch_ms) FILTER (WHERE bitrate_kbps IS NOT NULL) AS rated_ms"""
# The baseline: per show, what any per-minute rollup must at least read (the show's reports, summed per minute).
BASELINE_SQL = f"""SELECT stream_id, date_trunc('minute', received_at) AS minute, {SUMS}
FROM analytics_qualityreport WHERE stream_id = %s GROUP BY 1, 2"""
# For reference: every show at once, one scan of the table (PostgreSQL may run it in parallel).
ONE_SCAN_SQL = f"""SELECT stream_id, date_trunc('minute', received_at) AS minute, {SUMS}
FROM analytics_qualityreport GROUP BY 1, 2"""
RENDITIONS = [("360p", 896), ("720p", 2928), ("1080p", 5160)]


def scratch_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{name}"))


def load(args, rng: random.Random) -> list:
    """Users, streams, sessions, reports (COPY) and chat in the scratch database; returns the stream ids."""
    from django.db import connection

    from accounts.models import User
    from chat.models import LiveStreamChat
    from streams.models import LiveStream

    artist = User.objects.create(username="bench-artist", role=User.Role.ARTIST)
    chatters = User.objects.bulk_create([User(username=f"bench-chatter-{i}") for i in range(50)])
    start = datetime(2026, 1, 10, 20, 0, 30, tzinfo=UTC)
    length = timedelta(minutes=args.minutes)
    streams = []
    for index in range(args.streams):
        stream = LiveStream.objects.create(
            artist=artist,
            title=f"bench show {index}",
            status=LiveStream.Status.ENDED,
            scheduled_start_time=start,
            started_at=start,
            ended_at=start + length,
        )
        streams.append(stream.id)
    per_stream = args.reports // args.streams
    with connection.cursor() as cursor:
        raw = cursor.connection
        with raw.cursor() as pg:
            for stream_id in streams:
                sessions = []
                with pg.copy(
                    "COPY analytics_viewersession (id, stream_id, viewer_key, source, is_replay, started_at, "
                    "last_seen_at, ended_at, watch_seconds, country, device_class, browser, os, renditions, "
                    "rebuffer_count, rebuffer_ms, dropped_frames, error, exit_before_video_start) FROM STDIN"
                ) as copy:
                    for i in range(args.sessions):
                        begin = start + timedelta(seconds=rng.uniform(0, length.total_seconds() * 0.8))
                        end = min(begin + timedelta(seconds=rng.uniform(60, length.total_seconds())), start + length)
                        session_id = uuid.uuid4()
                        sessions.append((session_id, begin, end))
                        copy.write_row(
                            (
                                session_id, stream_id, f"a{i % (args.sessions * 3 // 4)}", "page", False, begin, end,
                                end, (end - begin).total_seconds(), rng.choice(["DE", "US", "FR", "BR", "JP"]),
                                "desktop", "Chrome", "Linux", "{}", 0, 0, 0, "", False,
                            )
                        )  # fmt: skip
                with pg.copy(
                    "COPY analytics_qualityreport (event_id, session_id, stream_id, received_at, watch_ms, "
                    "rebuffer_count, rebuffer_ms, rendition, bitrate_kbps, dropped_frames, error, "
                    "exit_before_video_start) FROM STDIN"
                ) as copy:
                    for n in range(per_stream):
                        session_id, begin, end = sessions[n % len(sessions)]
                        moment = begin + (end - begin) * rng.random()
                        rendition, kbps = RENDITIONS[n % 3]
                        rebuffer = 500 if n % 40 == 0 else 0
                        copy.write_row(
                            (
                                f"{stream_id.hex[:8]}-{n}", session_id, stream_id, moment, 10000, 1 if rebuffer else 0,
                                rebuffer, rendition, kbps if n % 4 else None, 0, "", False,
                            )
                        )  # fmt: skip
        cursor.execute("VACUUM ANALYZE")
    for stream_id in streams:
        LiveStreamChat.objects.bulk_create(
            [LiveStreamChat(stream_id=stream_id, user=rng.choice(chatters), message="hi") for _ in range(2000)]
        )
        # Spread the messages over the show (created_at is set on insert).
        LiveStreamChat.objects.filter(stream_id=stream_id).update(created_at=start + length / 2)
    return streams


def timed(fn) -> float:
    began = time.perf_counter()
    fn()
    return time.perf_counter() - began


def results_save(args, times: dict[str, list[float]], *, same: bool, rows: int) -> None:
    """benchmarks/results/analytics_rollup.json: each run's median time and its ratio to the baseline's
    (a time: lower is better; report.py prints them)."""
    from benchmarks.report import results_write

    base = statistics.median(times["baseline"])
    results = [
        {
            "server": run,
            "median_s": round(statistics.median(t), 3),
            "min_s": round(min(t), 3),
            "runs_s": [round(x, 3) for x in t],
        }
        for run, t in times.items()
    ]
    ratios = {run: round(statistics.median(t) / base, 2) for run, t in times.items() if run != "baseline"}
    shape = {"reports": args.reports, "streams": args.streams, "minutes": args.minutes, "sessions": args.sessions}
    results_write("analytics_rollup", "analytics_rollup", results, ratios, **shape, same_as_baseline=same, rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=1_000_000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--minutes", type=int, default=120)
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (printed) for a look")
    args = parser.parse_args()

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if not base.startswith("postgres"):
        sys.exit("DATABASE_URL must name a PostgreSQL server (the benchmark loads with COPY).")
    name = f"bench_rollup_{os.getpid()}"
    import psycopg

    admin_url = base
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = scratch_url(base, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from analytics import rollups
        from analytics.models import LiveStreamAnalytics

        call_command("migrate", verbosity=0)
        rng = random.Random(42)
        began = time.perf_counter()
        streams = load(args, rng)
        print(f"loaded {args.reports:,} reports, {args.streams * args.sessions:,} sessions over {args.streams} "
              f"shows of {args.minutes} min in {time.perf_counter() - began:.1f} s")  # fmt: skip

        def baseline():
            baseline.rows = []
            with connection.cursor() as cursor:
                for stream_id in streams:
                    cursor.execute(BASELINE_SQL, [stream_id])
                    baseline.rows += cursor.fetchall()

        def one_scan():
            with connection.cursor() as cursor:
                cursor.execute(ONE_SCAN_SQL)
                cursor.fetchall()

        def ours():
            LiveStreamAnalytics.objects.all().delete()
            for stream_id in streams:
                rollups.stream_final_rollup(stream_id=stream_id)

        def rerun():
            for stream_id in streams:
                rollups.stream_final_rollup(stream_id=stream_id)

        results = {"baseline": [], "ours": [], "ours-rerun": [], "one-scan GROUP BY (all shows)": []}
        for _ in range(args.repeat):
            results["baseline"].append(timed(baseline))
            results["one-scan GROUP BY (all shows)"].append(timed(one_scan))
            results["ours"].append(timed(ours))
            results["ours-rerun"].append(timed(rerun))

        expected = {(row[0], row[1]): int(row[2] / 1000 + 0.5) for row in baseline.rows}
        written = {
            (row.stream_id, row.bucket_start): row.watch_seconds
            for row in LiveStreamAnalytics.objects.filter(watch_seconds__gt=0).only(
                "stream_id", "bucket_start", "watch_seconds"
            )
        }
        same = expected == written
        rows = LiveStreamAnalytics.objects.count()
        base_median = statistics.median(results["baseline"])
        print("run | median s | min s | ratio to baseline (median)")
        for run, times in results.items():
            median = statistics.median(times)
            print(f"{run} | {median:.3f} | {min(times):.3f} | x{median / base_median:.2f}")
        print(f"rows written: {rows:,} minute rows; per-minute watch seconds equal to the baseline's: {same}")
        load_average = os.getloadavg()
        print(f"load average: {load_average[0]:.1f} {load_average[1]:.1f} {load_average[2]:.1f}")
        results_save(args, results, same=same, rows=rows)
        connection.close()
    finally:
        if args.keep:
            print(f"kept the scratch database: {scratch_url(base, name)}")
        else:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
