"""Reads of the audience of a stream: the analytics API's figures, the artist's summary, and /health's
`viewerQuality`. Each figure is one SQL aggregate (over the rollups, the sessions or the reports of the range),
so the number of queries is the same for ten viewers or a hundred thousand.

The QoE score follows Mux Data's Viewer Experience scores (Playback Success, Startup Time, Smoothness, Video
Quality; docs.mux.com/guides/data/overall-viewer-experience-metric):
- Startup Time score, Mux's published formula (mux.com/docs/guides/data-startup-time-metric):
  100 x 8 / (8 + startup seconds), per view, averaged over the views that started (95 at 0.4 s, 80 at 2 s,
  50 at 8 s).
- Video Quality score: Mux publishes that it is 85 % from the view's average upscaling and 15 % from its
  peak upscaling, with the examples "no upscaling: 100", "50 % upscaling throughout: 85", "200 % upscaling for
  30 s then none for 20 min: 92", but not the function itself. Ours: 100 x (0.85 g(average) + 0.15 g(peak)),
  g(u) = 1 / (1 + 0.353 u), u = player height / rendition height - 1 (0 when not upscaled), which gives
  exactly those three examples (100, 85, 92). Computed over the whole audience's watch time.
- Playback Success score: 100 for a view without a fatal error, 0 with one, averaged. Mux's exact treatment of
  exits before video start was not in the material we found; ours counts such a view as 50.
- Smoothness score: Mux's formula (from rebuffer percentage and frequency) was not in the material we found.
  Ours: 100 / (1 + 20 x rebuffer ratio + 0.5 x rebuffers per minute watched): 100 with no rebuffering,
  about 80 at 1 % rebuffering with one rebuffer every 10 minutes, 50 at 5 %.
- The overall score is the mean of the four (Mux averages per-view scores; how a view's four scores combine
  was not in the material we found).
"""

import hashlib
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from math import ceil

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    F,
    FloatField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Floor, Greatest, Least
from django.utils import timezone

from chat.models import LiveStreamChat
from payments.selectors import stream_revenue, streams_revenue_totals
from streams.models import LiveStream

from .models import IngestSample, LiveStreamAnalytics, QualityReport, ViewerSession
from .quality import live_alerts, rendition_ladder

INTERVALS = ("minute", "hour")
REPLAY_BUCKETS_MAX = 120
REPLAY_BUCKET_SECONDS_MIN = 30


class Percentile(Aggregate):
    """PostgreSQL's continuous percentile of a column (percentile_cont ... WITHIN GROUP)."""

    function = "percentile_cont"
    template = "%(function)s(%(percentile)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


def _ratio(part, whole, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def _sessions_in(*, stream: LiveStream, start: datetime, end: datetime):
    """Sessions of the stream overlapping [start, end): an open one lasts until it was last seen."""
    return (
        ViewerSession.objects.filter(stream=stream, started_at__lt=end)
        .annotate(until=Coalesce("ended_at", "last_seen_at"))
        .filter(until__gte=start)
    )


def _series(rows: list[LiveStreamAnalytics], interval: str) -> list[dict]:
    """One point per minute, or per hour (minutes aggregated: averages over the minutes rolled up, peaks
    as maxima, counts as sums, bitrate weighted by watch time)."""
    groups: dict[datetime, list[LiveStreamAnalytics]] = {}
    for row in rows:
        key = row.bucket_start if interval == "minute" else row.bucket_start.replace(minute=0)
        groups.setdefault(key, []).append(row)
    points = []
    for time, group in groups.items():
        watch = sum(r.watch_seconds for r in group)
        rated = [r for r in group if r.avg_bitrate_kbps is not None and r.watch_seconds]
        rated_watch = sum(r.watch_seconds for r in rated)
        points.append(
            {
                "time": time,
                "concurrent_viewers": round(sum(r.concurrent_viewers for r in group) / len(group), 2),
                "peak_viewers": max(r.peak_viewers for r in group),
                "joins": sum(r.joins for r in group),
                "watch_seconds": watch,
                "chat_messages": sum(r.chat_messages for r in group),
                "avg_bitrate_kbps": (
                    round(sum(r.avg_bitrate_kbps * r.watch_seconds for r in rated) / rated_watch)
                    if rated_watch
                    else None
                ),
                "rebuffer_ratio": _ratio(sum(r.rebuffer_ms for r in group), watch * 1000, 6),
            }
        )
    return points


def _renditions(rows: list[LiveStreamAnalytics]) -> list[dict]:
    seconds: dict[str, float] = {}
    for row in rows:
        for name, share in (row.quality_distribution or {}).items():
            seconds[name] = seconds.get(name, 0.0) + share * row.watch_seconds
    total = sum(seconds.values())
    return [
        {"rendition": name, "watch_seconds": round(value, 1), "share": _ratio(value, total)}
        for name, value in sorted(seconds.items(), key=lambda item: -item[1])
    ]


def _grouped(sessions, field: str) -> list[dict]:
    rows = (
        sessions.values(field)
        .annotate(viewers=Count("viewer_key", distinct=True), watch=Sum("watch_seconds"))
        .order_by("-viewers", field)
    )
    return [
        {"name": row[field] or "unknown", "viewers": row["viewers"], "watch_seconds": round(row["watch"] or 0, 1)}
        for row in rows
    ]


def _rendition_height_case():
    return Case(
        *(When(rendition=name, then=Value(height)) for name, (height, _) in rendition_ladder().items()),
        default=None,
        output_field=IntegerField(),
    )


def _quality_figures(*, stream: LiveStream, start: datetime, end: datetime) -> dict:
    """Upscaling from the reports of the range: share of watch time, watch-weighted average and peak."""
    upscale = Greatest(
        Cast("player_height", FloatField()) / Cast(F("rendition_height"), FloatField()) - 1.0,
        Value(0.0),
        output_field=FloatField(),
    )
    figures = (
        QualityReport.objects.filter(stream=stream, received_at__gte=start, received_at__lt=end)
        .annotate(rendition_height=_rendition_height_case())
        .filter(player_height__isnull=False, rendition_height__isnull=False, rendition_height__gt=0)
        .aggregate(
            measured_ms=Sum("watch_ms"),
            upscaled_ms=Sum("watch_ms", filter=Q(player_height__gt=F("rendition_height"))),
            weighted=Sum(upscale * F("watch_ms"), output_field=FloatField()),
            peak=Max(upscale),
        )
    )
    measured = figures["measured_ms"] or 0
    return {
        "upscale_ratio": _ratio(figures["upscaled_ms"] or 0, measured),
        "average_upscale": (figures["weighted"] or 0) / measured if measured else 0.0,
        "peak_upscale": figures["peak"] or 0.0,
    }


def _session_figures(sessions) -> dict:
    started = Q(startup_time_ms__isnull=False)
    aggregates = {
        "views": Count("id"),
        "unique_viewers": Count("viewer_key", distinct=True),
        "live_viewers": Count("viewer_key", distinct=True, filter=Q(is_replay=False)),
        "watch_seconds": Sum("watch_seconds"),
        "replay_views": Count("id", filter=Q(is_replay=True)),
        "rebuffer_ms": Sum("rebuffer_ms"),
        "rebuffer_count": Sum("rebuffer_count"),
        "failures": Count("id", filter=~Q(error="")),
        "exits": Count("id", filter=Q(exit_before_video_start=True)),
        "startup_score": Avg(8.0 / (8.0 + Cast("startup_time_ms", FloatField()) / 1000.0), filter=started),
    }
    if connection.vendor == "postgresql":
        aggregates["startup_p50"] = Percentile("startup_time_ms", percentile=0.5, filter=started)
        aggregates["startup_p95"] = Percentile("startup_time_ms", percentile=0.95, filter=started)
        return sessions.aggregate(**aggregates)
    # Other databases (SQLite, the embedded default) have no percentile: the startup times of the range.
    figures = sessions.aggregate(**aggregates)
    times = sorted(sessions.filter(started).values_list("startup_time_ms", flat=True))
    figures["startup_p50"], figures["startup_p95"] = _percentile(times, 0.5), _percentile(times, 0.95)
    return figures


def _percentile(values: list, fraction: float) -> float | None:
    if not values:
        return None
    position = (len(values) - 1) * fraction
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def qoe_scores(
    *, failure_rate, exit_rate, startup_score, rebuffer_ratio, rebuffer_frequency, average_upscale, peak_upscale
) -> dict:
    """The Viewer Experience scores (0-100) from the audience's figures; see the module docstring."""

    def quality(upscale: float) -> float:
        return 1 / (1 + 0.353 * upscale)

    scores = {
        "playback_success": 100 * (1 - (failure_rate or 0) - 0.5 * (exit_rate or 0)),
        "startup_time": 100 * startup_score if startup_score is not None else 100.0,
        "smoothness": 100 / (1 + 20 * (rebuffer_ratio or 0) + 0.5 * (rebuffer_frequency or 0)),
        "video_quality": 100 * (0.85 * quality(average_upscale) + 0.15 * quality(peak_upscale)),
    }
    scores = {name: round(max(0.0, min(100.0, value)), 1) for name, value in scores.items()}
    return {"score": round(sum(scores.values()) / len(scores), 1), "sub_scores": scores}


def _retention_replay(*, stream: LiveStream, sessions) -> list[dict]:
    """Share of replay views still watching at each bucket of seconds. A replay session has no playhead
    position, so a view of W seconds counts as watching from the start to W (replays start at the beginning)."""
    duration = (stream.ended_at - stream.started_at).total_seconds() if stream.ended_at and stream.started_at else None
    bucket = max(REPLAY_BUCKET_SECONDS_MIN, ceil((duration or 0) / REPLAY_BUCKETS_MAX))
    watched = Least(F("watch_seconds"), Value(float(duration))) if duration else F("watch_seconds")
    rows = (
        sessions.filter(is_replay=True)
        .annotate(bucket=Floor(watched / bucket))
        .values("bucket")
        .annotate(views=Count("id"))
        .order_by("bucket")
    )
    counts = {int(row["bucket"]): row["views"] for row in rows}
    total = sum(counts.values())
    if not total:
        return []
    last = max(counts) if duration is None else max(ceil(duration / bucket) - 1, 0)
    points, remaining = [], total
    for index in range(last + 1):
        points.append({"second": index * bucket, "share": round(remaining / total, 4)})
        remaining -= counts.get(index, 0)
    return points


def _live_figures(stream: LiveStream) -> dict:
    """Now: open live sessions (per the rendition of their latest report), the latest ingest sample, alerts."""
    latest_rendition = Subquery(
        QualityReport.objects.filter(session=OuterRef("pk")).order_by("-received_at", "-id").values("rendition")[:1]
    )
    rows = (
        ViewerSession.objects.filter(stream=stream, is_replay=False, ended_at__isnull=True)
        .annotate(current=latest_rendition)
        .values("current")
        .annotate(viewers=Count("id"))
        .order_by()
    )
    per_rendition: dict[str, int] = {}
    for row in rows:
        name = row["current"] or "unknown"
        per_rendition[name] = per_rendition.get(name, 0) + row["viewers"]
    sample = IngestSample.objects.filter(stream=stream).order_by("-sampled_at").first()
    return {
        "viewers": sum(per_rendition.values()),
        "viewers_per_rendition": [
            {"rendition": name, "viewers": count} for name, count in sorted(per_rendition.items(), key=lambda i: -i[1])
        ],
        "ingest": (
            {
                "sampled_at": sample.sampled_at,
                "bitrate_kbps": sample.bitrate_kbps,
                "fps": sample.fps,
                "keyframe_interval_seconds": sample.keyframe_interval_seconds,
                "transcoder_speed": sample.transcoder_speed,
            }
            if sample
            else None
        ),
        "alerts": live_alerts(stream),
    }


def stream_analytics_range(*, stream: LiveStream, start: datetime | None, end: datetime | None) -> tuple:
    """The range asked, or the stream's whole life: from its start (or creation) until now."""
    return start or stream.started_at or stream.created_at, end or timezone.now()


def stream_analytics(*, stream: LiveStream, start: datetime, end: datetime, interval: str = "minute") -> dict:
    """Everything the analytics API shows about one stream over [start, end); see the module docstring."""
    rows = list(
        LiveStreamAnalytics.objects.filter(
            stream=stream, bucket_seconds=60, bucket_start__gte=start - timedelta(seconds=59), bucket_start__lt=end
        ).order_by("bucket_start")
    )
    sessions = _sessions_in(stream=stream, start=start, end=end)
    people = _session_figures(sessions)
    chat = LiveStreamChat.objects.filter(
        stream=stream, created_at__gte=start, created_at__lt=end, is_deleted=False, is_hidden=False
    ).aggregate(messages=Count("id"), chatters=Count("user_id", distinct=True))
    quality = _quality_figures(stream=stream, start=start, end=end)
    revenue = stream_revenue(stream=stream)

    watch = people["watch_seconds"] or 0
    views = people["views"]
    rebuffer_ratio = _ratio(people["rebuffer_ms"] or 0, watch * 1000, 6)
    rebuffer_frequency = _ratio(people["rebuffer_count"] or 0, watch / 60) if watch else None
    failure_rate = _ratio(people["failures"], views)
    exit_rate = _ratio(people["exits"], views)
    live_started = stream.started_at.replace(second=0, microsecond=0) if stream.started_at else None
    data = {
        "stream_id": stream.id,
        "status": stream.status,
        "from": start,
        "to": end,
        "interval": interval,
        "totals": {
            "unique_viewers": people["unique_viewers"],
            "peak_concurrent_viewers": max((r.peak_viewers for r in rows), default=0),
            "average_concurrent_viewers": round(sum(r.concurrent_viewers for r in rows) / len(rows), 2) if rows else 0,
            "total_watch_seconds": round(watch, 1),
            "average_watch_seconds": round(watch / people["unique_viewers"], 1) if people["unique_viewers"] else 0,
            "chat_messages": chat["messages"],
            "chatters": chat["chatters"],
            "messages_per_viewer": _ratio(chat["messages"], people["unique_viewers"], 2) or 0,
            "replay_views": people["replay_views"],
            "tickets_sold": revenue["tickets_sold"],
            "net_revenue": revenue["net"],
            "currency": revenue["currency"],
        },
        "series": _series(rows, interval),
        "geography": [
            {"country": item["name"], "viewers": item["viewers"], "watch_seconds": item["watch_seconds"]}
            for item in _grouped(sessions, "country")
        ],
        "devices": {
            "device_class": _grouped(sessions, "device_class"),
            "browser": _grouped(sessions, "browser"),
            "os": _grouped(sessions, "os"),
        },
        "renditions": _renditions(rows),
        "qoe": {
            "startup_time_p50_ms": _round(people["startup_p50"]),
            "startup_time_p95_ms": _round(people["startup_p95"]),
            "rebuffer_ratio": rebuffer_ratio,
            "rebuffer_frequency": rebuffer_frequency,
            "playback_failure_rate": failure_rate,
            "exit_before_video_start_rate": exit_rate,
            "upscale_ratio": quality["upscale_ratio"],
            **qoe_scores(
                failure_rate=failure_rate,
                exit_rate=exit_rate,
                startup_score=people["startup_score"],
                rebuffer_ratio=rebuffer_ratio,
                rebuffer_frequency=rebuffer_frequency,
                average_upscale=quality["average_upscale"],
                peak_upscale=quality["peak_upscale"],
            ),
        },
        "retention": {
            "live": [
                {
                    "minute": int((r.bucket_start - live_started).total_seconds() // 60),
                    "share": _ratio(r.unique_viewers, people["live_viewers"]) or 0,
                }
                for r in rows
                if live_started is not None
            ],
            "replay": _retention_replay(stream=stream, sessions=sessions),
        },
        "live": _live_figures(stream) if stream.status == LiveStream.Status.LIVE else None,
    }
    return data


def _round(value) -> int | None:
    return None if value is None else round(value)


def _net_by_currency(items: list[dict]) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    for item in items:
        if item["tickets_sold"]:
            totals[item["currency"]] = totals.get(item["currency"], Decimal(0)) + Decimal(item["net_revenue"])
    return {currency: str(amount) for currency, amount in sorted(totals.items())}


def stream_analytics_cached(
    *, stream: LiveStream, start: datetime | None, end: datetime | None, interval: str, cache_key_params: str
) -> dict:
    """stream_analytics, kept ANALYTICS_CACHE_SECONDS in the cache under a key made of the request's parameters,
    the stream's status and the newest rollup's `updated_at` (so a new or re-rolled minute invalidates it)."""
    newest = LiveStreamAnalytics.objects.filter(stream=stream).aggregate(newest=Max("updated_at"))["newest"]
    version = f"{stream.status}:{newest.isoformat() if newest else '-'}:{cache_key_params}"
    key = f"analytics:stream:{stream.id}:{hashlib.sha256(version.encode()).hexdigest()[:32]}"
    data = cache.get(key)
    if data is None:
        start, end = stream_analytics_range(stream=stream, start=start, end=end)
        data = stream_analytics(stream=stream, start=start, end=end, interval=interval)
        cache.set(key, data, settings.ANALYTICS_CACHE_SECONDS)
    return data


def artist_analytics_summary(*, artist_id, start: datetime | None, end: datetime | None) -> dict:
    """Per stream totals of an artist's streams that went live in [start, end), and totals over them."""
    streams = list(
        LiveStream.objects.filter(artist_id=artist_id, started_at__isnull=False)
        .filter(Q(started_at__gte=start) if start else Q(), Q(started_at__lt=end) if end else Q())
        .order_by("-started_at")
        .values("id", "title", "status", "started_at", "ended_at", "currency")
    )
    ids = [s["id"] for s in streams]
    rollups = {
        row["stream_id"]: row
        for row in LiveStreamAnalytics.objects.filter(stream_id__in=ids, bucket_seconds=60)
        .values("stream_id")
        .annotate(peak=Max("peak_viewers"), average=Avg("concurrent_viewers"))
        .order_by()
    }
    sessions = {
        row["stream_id"]: row
        for row in ViewerSession.objects.filter(stream_id__in=ids)
        .values("stream_id")
        .annotate(
            viewers=Count("viewer_key", distinct=True),
            watch=Sum("watch_seconds"),
            replays=Count("id", filter=Q(is_replay=True)),
        )
        .order_by()
    }
    chats = {
        row["stream_id"]: row
        for row in LiveStreamChat.objects.filter(stream_id__in=ids, is_deleted=False, is_hidden=False)
        .values("stream_id")
        .annotate(messages=Count("id"), chatters=Count("user_id", distinct=True))
        .order_by()
    }
    everyone = ViewerSession.objects.filter(stream_id__in=ids).aggregate(viewers=Count("viewer_key", distinct=True))
    revenue = streams_revenue_totals(stream_ids=ids)
    items = []
    for stream in streams:
        rollup, audience, chat = (
            rollups.get(stream["id"], {}),
            sessions.get(stream["id"], {}),
            chats.get(stream["id"], {}),
        )
        viewers = audience.get("viewers", 0)
        watch = audience.get("watch") or 0
        items.append(
            {
                **stream,
                "unique_viewers": viewers,
                "peak_concurrent_viewers": rollup.get("peak") or 0,
                "average_concurrent_viewers": round(rollup.get("average") or 0, 2),
                "total_watch_seconds": round(watch, 1),
                "average_watch_seconds": round(watch / viewers, 1) if viewers else 0,
                "chat_messages": chat.get("messages", 0),
                "chatters": chat.get("chatters", 0),
                "replay_views": audience.get("replays", 0),
                "tickets_sold": revenue.get(stream["id"], {}).get("tickets_sold", 0),
                "net_revenue": revenue.get(stream["id"], {}).get("net", "0.00"),
            }
        )
    watch = sum(item["total_watch_seconds"] for item in items)
    return {
        "artist_id": artist_id,
        "from": start,
        "to": end,
        "streams": items,
        "totals": {
            "streams": len(items),
            "unique_viewers": everyone["viewers"],
            "peak_concurrent_viewers": max((item["peak_concurrent_viewers"] for item in items), default=0),
            "total_watch_seconds": round(watch, 1),
            "chat_messages": sum(item["chat_messages"] for item in items),
            "replay_views": sum(item["replay_views"] for item in items),
            "tickets_sold": sum(item["tickets_sold"] for item in items),
            # Net revenue per currency: streams priced in different currencies are never added together.
            "net_revenue": _net_by_currency(items),
        },
    }


def session_streams(*, session_ids) -> dict[str, str]:
    """{session id: its stream id} for the sessions among `session_ids` that are stored (bad ids skipped)."""
    ids = []
    for session_id in session_ids:
        try:
            ids.append(uuid.UUID(str(session_id)))
        except ValueError:
            continue
    if not ids:
        return {}
    rows = ViewerSession.objects.filter(id__in=ids).values_list("id", "stream_id")
    return {str(session_id): str(stream_id) for session_id, stream_id in rows}
