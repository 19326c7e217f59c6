"""The per-minute rollups of a stream's audience into `LiveStreamAnalytics`, from sessions, reports and chat.

A rollup of a range of minutes writes one row per minute (every minute of the range the stream was live,
zeros included), and rewrites only the rows whose figures changed: re-running a range gives the same rows
(same `updated_at` too, so the analytics API's cache stays valid), and a late report is folded in by the
next run over its minute. The figures of a minute [m, m + 60 s):

- concurrent viewers: live sessions' seconds of overlap with the minute / 60 (the time-weighted average),
  rounded; peak: the most live sessions open at one instant of the minute (half-open [start, end) intervals);
  joins: live sessions started in the minute; unique viewers: distinct `viewer_key` overlapping the minute;
  countries: distinct viewers per country overlapping the minute. An open session lasts until its
  `last_seen_at` (its heartbeats), never until "now", so a dead process's sessions add no phantom viewers;
- watch seconds, rebuffer ms, the watch-time weighted average bitrate (a report without `bitrate_kbps` counts
  at its rendition's ladder bitrate, `HLS_LADDER`), the rebuffer ratio and the share of watch time per
  rendition: from the reports received in the minute, in ONE grouped SQL aggregate (minute x rendition), so
  a show of a million reports is one index range scan, not a loop over rows;
- chat messages and chatters: from `chat.models.LiveStreamChat` created in the minute, without deleted or
  hidden messages (as the chat history leaves them out), in one grouped aggregate.

Sessions are folded in Python (there are as many as viewings, not reports), in time linear in the sessions:
difference arrays for watch seconds and distinct viewers, a sorted sweep of start/end events for the peak.
"""

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.db.models import BigIntegerField, Count, F, FloatField, Q, Sum
from django.db.models.functions import Cast, Coalesce, Extract, TruncMinute
from django.utils import timezone

from chat.models import LiveStreamChat
from streams.models import LiveStream

from .models import LiveStreamAnalytics, QualityReport, ViewerSession
from .quality import rendition_ladder

logger = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
# The figures a rollup writes; a re-run compares these and rewrites only the rows that changed.
FIGURES = (
    "concurrent_viewers",
    "peak_viewers",
    "unique_viewers",
    "joins",
    "chat_messages",
    "chatters",
    "watch_seconds",
    "rebuffer_ms",
    "avg_bitrate_kbps",
    "buffering_ratio",
    "quality_distribution",
    "countries",
)


def minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def minute_ceil(moment: datetime) -> datetime:
    floor = minute_floor(moment)
    return floor if floor == moment else floor + MINUTE


def _minutes(start: datetime, end: datetime) -> list[datetime]:
    count = max(0, int((end - start) / MINUTE))
    return [start + i * MINUTE for i in range(count)]


def _merged_count(ranges_by_key: dict, size: int) -> list[int]:
    """How many keys cover each minute index, from each key's [first, last) minute ranges (merged per key, so a
    viewer who left and came back in the same minute counts once), through a difference array."""
    diff = [0] * (size + 1)
    for ranges in ranges_by_key.values():
        ranges.sort()
        low, high = ranges[0]
        for first, last in ranges[1:]:
            if first > high:
                diff[low] += 1
                diff[high] -= 1
                low, high = first, last
            else:
                high = max(high, last)
        diff[low] += 1
        diff[high] -= 1
    counts, running = [], 0
    for value in diff[:size]:
        running += value
        counts.append(running)
    return counts


def _session_figures(*, stream_id, start: datetime, end: datetime) -> dict[datetime, dict]:
    """Concurrent average and peak, joins, unique viewers and countries per minute, from the live sessions.

    Linear in the sessions (plus the minutes): each session adds its partial first and last minutes' seconds,
    and its full minutes through a difference array; distinct viewers (and viewers per country) per minute come
    from each viewer's merged minute ranges, also through difference arrays."""
    sessions = (
        ViewerSession.objects.filter(stream_id=stream_id, is_replay=False, started_at__lt=end)
        .annotate(until=Coalesce("ended_at", "last_seen_at"))
        .filter(until__gte=start)
    )
    if connection.vendor == "postgresql":
        # Seconds since the epoch straight from the database: parsing timestamps costs more than the fold.
        rows = sessions.annotate(
            begin=Cast(Extract("started_at", "epoch"), FloatField()),
            finish=Cast(Extract("until", "epoch"), FloatField()),
        ).values_list("begin", "finish", "viewer_key", "country")
    else:
        rows = (
            (began.timestamp(), until.timestamp(), viewer, country)
            for began, until, viewer, country in sessions.values_list("started_at", "until", "viewer_key", "country")
        )
    minutes = _minutes(start, end)
    size = len(minutes)
    origin, limit = start.timestamp(), end.timestamp()
    seconds = [0.0] * (size + 1)
    full = [0] * (size + 1)
    joins = [0] * size
    viewers: dict[str, list] = defaultdict(list)
    countries: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    events = []
    for began, until, viewer, country in rows:
        until = max(until, began)
        events.append((began, 1))
        events.append((until, -1))
        if origin <= began < limit:
            joins[int((began - origin) // 60)] += 1
        low = max(began, origin) - origin
        high = min(until, limit) - origin
        if high <= low:
            continue
        first, last = int(low // 60), int(high // 60)  # the minutes holding the start and the end
        if first == last:
            seconds[first] += high - low
        else:
            seconds[first] += (first + 1) * 60 - low
            full[first + 1] += 1
            full[last] -= 1
            seconds[last] += high - last * 60
        covered = (first, int(-(-high // 60)))
        viewers[viewer].append(covered)
        countries[country][viewer].append(covered)
    unique = _merged_count(viewers, size) if viewers else [0] * size
    by_country = {code: _merged_count(keys, size) for code, keys in countries.items()}
    figures, running = {}, 0
    for index, minute in enumerate(minutes):
        running += full[index]
        figures[minute] = {
            "seconds": seconds[index] + 60 * running,
            "joins": joins[index],
            "viewers": unique[index],
            "countries": {code: counts[index] for code, counts in by_country.items() if counts[index]},
        }
    # Peak: sweep the start (+1) and end (-1) events in time order, ends first at the same instant.
    events.sort()
    current, index = 0, 0
    for number, minute in enumerate(minutes):
        moment = origin + number * 60
        while index < len(events) and events[index][0] <= moment:
            current += events[index][1]
            index += 1
        peak = current
        while index < len(events) and events[index][0] < moment + 60:
            current += events[index][1]
            peak = max(peak, current)
            index += 1
        figures[minute]["peak"] = peak
    return figures


def _report_figures(*, stream_id, start: datetime, end: datetime) -> dict[datetime, dict]:
    """Watch time, rebuffering, bitrate and renditions per minute: one aggregate grouped by minute and rendition."""
    rated = Q(bitrate_kbps__isnull=False)
    rows = (
        QualityReport.objects.filter(stream_id=stream_id, received_at__gte=start, received_at__lt=end)
        .annotate(minute=TruncMinute("received_at"))
        .values("minute", "rendition")
        .annotate(
            watched=Sum("watch_ms"),
            rebuffered=Sum("rebuffer_ms"),
            rated=Sum("watch_ms", filter=rated),
            kbps_ms=Sum(Cast("bitrate_kbps", BigIntegerField()) * F("watch_ms"), filter=rated),
        )
        .order_by()
    )
    ladder = rendition_ladder()
    figures: dict[datetime, dict] = defaultdict(
        lambda: {"watch_ms": 0, "rebuffer_ms": 0, "rated_ms": 0, "kbps_ms": 0, "renditions": defaultdict(int)}
    )
    for row in rows:
        entry = figures[row["minute"]]
        watch_ms = row["watched"] or 0
        entry["watch_ms"] += watch_ms
        entry["rebuffer_ms"] += row["rebuffered"] or 0
        entry["rated_ms"] += row["rated"] or 0
        entry["kbps_ms"] += row["kbps_ms"] or 0
        unrated_ms = watch_ms - (row["rated"] or 0)
        if unrated_ms and row["rendition"] in ladder:
            entry["rated_ms"] += unrated_ms
            entry["kbps_ms"] += unrated_ms * ladder[row["rendition"]][1]
        if row["rendition"]:
            entry["renditions"][row["rendition"]] += watch_ms
    return figures


def _chat_figures(*, stream_id, start: datetime, end: datetime) -> dict[datetime, dict]:
    rows = (
        LiveStreamChat.objects.filter(
            stream_id=stream_id, created_at__gte=start, created_at__lt=end, is_deleted=False, is_hidden=False
        )
        .annotate(minute=TruncMinute("created_at"))
        .values("minute")
        .annotate(messages=Count("id"), chatters=Count("user_id", distinct=True))
        .order_by()
    )
    return {row["minute"]: row for row in rows}


def _row_figures(*, sessions: dict, reports: dict | None, chat: dict | None) -> dict:
    reports = reports or {"watch_ms": 0, "rebuffer_ms": 0, "rated_ms": 0, "kbps_ms": 0, "renditions": {}}
    watch_ms = reports["watch_ms"]
    return {
        "concurrent_viewers": int(sessions["seconds"] / 60 + 0.5),
        "peak_viewers": sessions["peak"],
        "unique_viewers": sessions["viewers"],
        "joins": sessions["joins"],
        "chat_messages": chat["messages"] if chat else 0,
        "chatters": chat["chatters"] if chat else 0,
        "watch_seconds": int(watch_ms / 1000 + 0.5),
        "rebuffer_ms": reports["rebuffer_ms"],
        "avg_bitrate_kbps": int(reports["kbps_ms"] / reports["rated_ms"] + 0.5) if reports["rated_ms"] else None,
        "buffering_ratio": round(reports["rebuffer_ms"] / watch_ms, 6) if watch_ms else None,
        # Shares of the minute's whole watch time: what reports without a rendition watched is the remainder.
        "quality_distribution": {name: round(ms / watch_ms, 6) for name, ms in sorted(reports["renditions"].items())},
        "countries": dict(sorted(sessions["countries"].items())),
    }


def stream_rollup(*, stream_id, start: datetime, end: datetime) -> int:
    """Roll up the minutes of [start, end) of a stream (rounded out to whole minutes, and kept inside the
    stream's live window); returns how many rows were written (new or changed)."""
    stream = LiveStream.objects.filter(pk=stream_id).only("id", "started_at", "ended_at").first()
    if stream is None or stream.started_at is None:
        return 0
    live_end = stream.ended_at or timezone.now()
    start = max(minute_floor(start), minute_floor(stream.started_at))
    end = min(minute_ceil(end), minute_ceil(live_end))
    if end <= start:
        return 0
    sessions = _session_figures(stream_id=stream.id, start=start, end=end)
    reports = _report_figures(stream_id=stream.id, start=start, end=end)
    chat = _chat_figures(stream_id=stream.id, start=start, end=end)
    existing = {
        row["bucket_start"]: row
        for row in LiveStreamAnalytics.objects.filter(
            stream_id=stream.id, bucket_seconds=60, bucket_start__gte=start, bucket_start__lt=end
        ).values("bucket_start", *FIGURES)
    }
    changed = []
    for minute in _minutes(start, end):
        figures = _row_figures(sessions=sessions[minute], reports=reports.get(minute), chat=chat.get(minute))
        old = existing.get(minute)
        if old is not None and all(old[name] == figures[name] for name in FIGURES):
            continue
        changed.append(LiveStreamAnalytics(stream_id=stream.id, bucket_start=minute, bucket_seconds=60, **figures))
    if changed:
        LiveStreamAnalytics.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["stream", "bucket_start", "bucket_seconds"],
            update_fields=[*FIGURES, "updated_at"],
        )
    logger.debug("stream %s: rolled up %s..%s, %d rows written", stream.id, start, end, len(changed))
    return len(changed)


def stream_minute_rollup(*, stream_id, bucket_start: datetime) -> int:
    """Roll up the one minute that starts at (or contains) `bucket_start`."""
    start = minute_floor(bucket_start)
    return stream_rollup(stream_id=stream_id, start=start, end=start + MINUTE)


def stream_final_rollup(*, stream_id) -> int:
    """Roll up a stream's whole live window (when it ends)."""
    stream = LiveStream.objects.filter(pk=stream_id).only("id", "started_at", "ended_at").first()
    if stream is None or stream.started_at is None:
        return 0
    return stream_rollup(stream_id=stream.id, start=stream.started_at, end=stream.ended_at or timezone.now())


def recent_streams_rollup(*, now: datetime | None = None) -> int:
    """Every minute: re-roll the last ANALYTICS_ROLLUP_LATE_MINUTES minutes (and the current one) of each live
    stream, and of each stream that ended within that window, so late reports are folded in."""
    now = now or timezone.now()
    late = timedelta(minutes=settings.ANALYTICS_ROLLUP_LATE_MINUTES)
    start = minute_floor(now) - late
    streams = LiveStream.objects.filter(
        Q(status=LiveStream.Status.LIVE) | Q(status=LiveStream.Status.ENDED, ended_at__gte=start - MINUTE),
        started_at__isnull=False,
    ).values_list("id", flat=True)
    written = 0
    for stream_id in streams:
        written += stream_rollup(stream_id=stream_id, start=start, end=minute_floor(now) + MINUTE)
    return written
