"""Monitoring of live streams: ingest and transcoder samples, per-stream alerts, the automatic quality cap,
and the figures /metrics reads from the database and Redis at scrape time.

Every ANALYTICS_INGEST_SAMPLE_SECONDS (analytics.monitoring_tasks.ingest_sample_task) each live stream
gets an IngestSample from the streaming backend (its health and its transcoder's speed), and its alerts
are evaluated:

- `ingest_starving` (critical): no ingest data while the stream is live, or a bitrate under
  ANALYTICS_INGEST_STARVING_RATIO of the stream's configured bitrate (stream_settings.bitrate);
- `keyframe_interval_mismatch` (warning): the encoder's keyframe interval does not divide the HLS
  segment length (HLS_SEGMENT_SECONDS), so segments cannot start on a keyframe;
- `transcoder_behind` (critical): the transcoder ran below ANALYTICS_TRANSCODER_MIN_SPEED for
  ANALYTICS_TRANSCODER_SLOW_SAMPLES samples in a row; the top rung leaves new master playlists
  (an automatic quality cap) until it keeps up again;
- `audience_rebuffering` (warning): over the last REBUFFER_WINDOW, viewers' reports show more than
  ANALYTICS_REBUFFER_ALERT_RATIO of their watch time rebuffering (at least a minute watched).

The active alerts of a stream live in the cache under `analytics:alerts:<stream id>` as a list of
{code, severity, message, since}; a new one is logged and sent as `streamAlert` to the stream's
artist and staff only (their room, livestream_site.events.stream_staff_event_send_on_commit).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from livestream_site.events import stream_staff_event_send_on_commit
from streams import services as stream_services
from streams.media.backends import QUALITY_MAX_HEIGHT, get_backend, quality_max_height
from streams.models import DEFAULT_STREAM_SETTINGS, LiveStream

from .buffer import buffer_get
from .models import IngestSample, QualityReport

logger = logging.getLogger(__name__)

ALERTS_KEY = "analytics:alerts:{}"
REBUFFER_WINDOW = timedelta(minutes=5)
REBUFFER_MIN_WATCH_MS = 60_000
KEYFRAME_TOLERANCE = 0.1


@dataclass(frozen=True)
class Alert:
    code: str
    severity: str  # "warning" or "critical"
    message: str


def alerts_key(stream_id) -> str:
    return ALERTS_KEY.format(stream_id)


def stream_alerts_get(*, stream_id) -> list[dict]:
    """The stream's active alerts: [{code, severity, message, since}], oldest first."""
    return cache.get(alerts_key(stream_id)) or []


# --- Samples -------------------------------------------------------------------------------------
def ingest_sample_take(*, stream: LiveStream) -> tuple[IngestSample, bool]:
    """Ask the backend how the stream's ingest and transcoder are doing; store it. Returns (sample, publishing)."""
    backend = get_backend()
    try:
        health = backend.health(stream=stream)
    except Exception:  # a backend that cannot answer is a sample without data, not a failed task
        logger.exception("stream %s: backend health failed", stream.id)
        health = {"publishing": False, "ingest": None}
    try:
        speed = backend.transcoder_speed(stream=stream)
    except Exception:
        logger.exception("stream %s: transcoder speed unreadable", stream.id)
        speed = None
    ingest = health.get("ingest") or {}
    sample = IngestSample.objects.create(
        stream=stream,
        sampled_at=timezone.now(),
        bitrate_kbps=ingest.get("bitrateKbps"),
        fps=ingest.get("fps"),
        keyframe_interval_seconds=ingest.get("keyframeIntervalSeconds"),
        transcoder_speed=speed,
    )
    return sample, bool(health.get("publishing"))


# --- Alerts --------------------------------------------------------------------------------------
def _ingest_alert(*, stream: LiveStream, sample: IngestSample, publishing: bool) -> Alert | None:
    if not publishing or not sample.bitrate_kbps:
        return Alert("ingest_starving", "critical", "No ingest data from the encoder while the stream is live.")
    configured = (stream.stream_settings or {}).get("bitrate") or DEFAULT_STREAM_SETTINGS["bitrate"]
    if sample.bitrate_kbps < configured * settings.ANALYTICS_INGEST_STARVING_RATIO:
        return Alert(
            "ingest_starving",
            "critical",
            f"The encoder sends {sample.bitrate_kbps} kbps, far below the configured {configured} kbps.",
        )
    return None


def _keyframe_alert(*, sample: IngestSample) -> Alert | None:
    interval, segment = sample.keyframe_interval_seconds, settings.HLS_SEGMENT_SECONDS
    if not interval or interval <= 0:
        return None
    per_segment = segment / interval
    if round(per_segment) >= 1 and abs(per_segment - round(per_segment)) <= KEYFRAME_TOLERANCE:
        return None
    return Alert(
        "keyframe_interval_mismatch",
        "warning",
        f"Keyframes every {interval:g} s do not fit {segment:g} s segments: "
        f"set the encoder's keyframe interval to {segment:g} s.",
    )


def _transcoder_alert(*, stream: LiveStream) -> Alert | None:
    count = settings.ANALYTICS_TRANSCODER_SLOW_SAMPLES
    speeds = list(
        IngestSample.objects.filter(stream=stream)
        .order_by("-sampled_at", "-id")
        .values_list("transcoder_speed", flat=True)[:count]
    )
    minimum = settings.ANALYTICS_TRANSCODER_MIN_SPEED
    if len(speeds) < count or any(speed is None or speed >= minimum for speed in speeds):
        return None
    return Alert(
        "transcoder_behind",
        "critical",
        f"The transcoder runs at {speeds[0]:.2f}x real time (under {minimum:g}x for {count} samples): "
        "the top rendition is paused until it keeps up.",
    )


def _rebuffer_alert(*, stream: LiveStream) -> Alert | None:
    since = timezone.now() - REBUFFER_WINDOW
    totals = QualityReport.objects.filter(stream=stream, received_at__gte=since).aggregate(
        rebuffer=Sum("rebuffer_ms"), watch=Sum("watch_ms")
    )
    watch, rebuffer = totals["watch"] or 0, totals["rebuffer"] or 0
    if watch < REBUFFER_MIN_WATCH_MS:
        return None
    ratio = rebuffer / (watch + rebuffer)
    if ratio <= settings.ANALYTICS_REBUFFER_ALERT_RATIO:
        return None
    return Alert(
        "audience_rebuffering",
        "warning",
        f"Viewers spent {ratio:.1%} of the last {REBUFFER_WINDOW.seconds // 60} minutes rebuffering.",
    )


def stream_alerts_evaluate(*, stream: LiveStream, sample: IngestSample, publishing: bool) -> list[Alert]:
    """The alerts a live stream has now, given its latest sample."""
    candidates = [
        _ingest_alert(stream=stream, sample=sample, publishing=publishing),
        _keyframe_alert(sample=sample),
        _transcoder_alert(stream=stream),
        _rebuffer_alert(stream=stream),
    ]
    return [alert for alert in candidates if alert is not None]


def stream_alerts_update(*, stream: LiveStream, alerts: list[Alert]) -> list[dict]:
    """Keep the stream's active alerts in the cache; log and announce new ones to its artist and staff."""
    previous = {alert["code"]: alert for alert in stream_alerts_get(stream_id=stream.id)}
    now = timezone.now().isoformat()
    active = []
    for alert in alerts:
        since = previous[alert.code]["since"] if alert.code in previous else now
        active.append({"code": alert.code, "severity": alert.severity, "message": alert.message, "since": since})
        if alert.code not in previous:
            logger.warning("stream %s: alert %s (%s): %s", stream.id, alert.code, alert.severity, alert.message)
            stream_staff_event_send_on_commit(
                stream_id=stream.id,
                event="streamAlert",
                data={
                    "streamId": str(stream.id),
                    "code": alert.code,
                    "severity": alert.severity,
                    "message": alert.message,
                },
            )
    for code in previous.keys() - {alert.code for alert in alerts}:
        logger.info("stream %s: alert %s cleared", stream.id, code)
    if active:
        # Kept a few samples long: alerts of a stream that is no longer sampled fade out by themselves.
        cache.set(alerts_key(stream.id), active, timeout=max(60, 3 * settings.ANALYTICS_INGEST_SAMPLE_SECONDS))
    else:
        cache.delete(alerts_key(stream.id))
    return active


# --- The automatic quality cap -------------------------------------------------------------------
def _quality_without_top_rung(*, stream: LiveStream) -> str | None:
    """The highest quality below the top rendition viewers get now; None when only one rung is left."""
    limit = quality_max_height(stream.max_quality, stream.quality_cap)
    heights = [r.height for r in get_backend().renditions(stream=stream) if r.height <= limit]
    if len(heights) < 2:
        return None
    below = [quality for quality, height in QUALITY_MAX_HEIGHT.items() if height < max(heights)]
    return max(below, key=QUALITY_MAX_HEIGHT.get) if below else None


def stream_quality_automatic_apply(*, stream: LiveStream, behind: bool, newly_behind: bool) -> LiveStream:
    """Drop the top rung when the transcoder has just fallen behind; lift the automatic cap once it keeps up.

    Only when it has *just* fallen behind: an artist who lifts the cap during an episode is not overruled.
    """
    if newly_behind:
        quality = _quality_without_top_rung(stream=stream)
        if quality is not None:
            return stream_services.stream_quality_cap_automatic_set(stream_id=stream.id, max_quality=quality)
    elif not behind and stream.quality_cap_automatic:
        return stream_services.stream_quality_cap_automatic_lift(stream_id=stream.id)
    return stream


# --- The periodic pass ---------------------------------------------------------------------------
def stream_monitor(*, stream: LiveStream) -> list[dict]:
    """Sample one live stream, update its alerts and its automatic cap; returns the active alerts."""
    was_behind = any(alert["code"] == "transcoder_behind" for alert in stream_alerts_get(stream_id=stream.id))
    sample, publishing = ingest_sample_take(stream=stream)
    alerts = stream_alerts_evaluate(stream=stream, sample=sample, publishing=publishing)
    active = stream_alerts_update(stream=stream, alerts=alerts)
    behind = any(alert.code == "transcoder_behind" for alert in alerts)
    stream_quality_automatic_apply(stream=stream, behind=behind, newly_behind=behind and not was_behind)
    return active


def live_streams_monitor() -> int:
    """One pass over every live stream (the beat task); returns how many were sampled."""
    count = 0
    for stream in LiveStream.objects.filter(status=LiveStream.Status.LIVE):
        try:
            stream_monitor(stream=stream)
            count += 1
        except Exception:  # one stream's failure must not leave the others unsampled
            logger.exception("stream %s: monitoring failed", stream.id)
    return count


# --- /metrics: figures read at scrape time -------------------------------------------------------
def beacon_backlog() -> int:
    """Beacons waiting in the analytics buffer (its Redis stream's length); 0 without Redis."""
    if not settings.REDIS_URL:
        return 0
    try:
        return buffer_get().backlog()
    except Exception:
        logger.warning("beacon backlog unreadable", exc_info=True)
        return 0


class MonitoringCollector(Collector):
    """Live streams, their latest ingest bitrate and transcoder speed, their active alerts, the beacon backlog.

    The stream label is a stream id, only ever for streams that are live now (a handful at a time).
    """

    def collect(self):
        latest = IngestSample.objects.filter(stream=OuterRef("pk")).order_by("-sampled_at", "-id")
        live = list(
            LiveStream.objects.filter(status=LiveStream.Status.LIVE)
            .annotate(
                ingest_bitrate=Subquery(latest.values("bitrate_kbps")[:1]),
                speed=Subquery(latest.values("transcoder_speed")[:1]),
            )
            .values_list("id", "ingest_bitrate", "speed")
        )
        yield GaugeMetricFamily("livestage_live_streams", "Streams live now.", value=len(live))
        bitrate = GaugeMetricFamily(
            "livestage_ingest_bitrate_kbps", "Latest ingest bitrate of each live stream.", labels=["stream"]
        )
        speed = GaugeMetricFamily(
            "livestage_transcoder_speed",
            "Latest transcoder speed of each live stream (1.0 = real time).",
            labels=["stream"],
        )
        alerts = GaugeMetricFamily(
            "livestage_stream_alerts", "Active alerts of each live stream (1 per alert).", labels=["stream", "code"]
        )
        stored = cache.get_many([alerts_key(stream_id) for stream_id, _, _ in live])
        for stream_id, stream_bitrate, stream_speed in live:
            if stream_bitrate is not None:
                bitrate.add_metric([str(stream_id)], stream_bitrate)
            if stream_speed is not None:
                speed.add_metric([str(stream_id)], stream_speed)
            for alert in stored.get(alerts_key(stream_id)) or []:
                alerts.add_metric([str(stream_id), alert["code"]], 1)
        yield bitrate
        yield speed
        yield alerts
        yield GaugeMetricFamily(
            "livestage_beacon_backlog", "Beacons waiting in the analytics buffer.", beacon_backlog()
        )
