"""Reads about the playback quality of a stream that the media plane's /health also shows: the rendition
ladder's heights and bitrates, the live alerts, and the latest rolled-up minute (`viewerQuality`). Kept apart
from analytics.selectors, which reads chat too (the media plane and chat know nothing of each other)."""

from functools import lru_cache

from django.conf import settings
from django.core.cache import cache

from streams.models import LiveStream

from .models import LiveStreamAnalytics

# Written by the alerting task (a list of {code, severity, message}); read here.
ALERTS_CACHE_KEY = "analytics:alerts:{stream_id}"


@lru_cache(maxsize=8)
def _ladder(spec: str) -> dict[str, tuple[int, int]]:
    rungs = {}
    for item in spec.split(","):
        parts = item.strip().split(":")
        if len(parts) >= 3 and parts[1].isdigit() and parts[2].isdigit():
            rungs[parts[0]] = (
                int(parts[1]),
                int(parts[2]) + (int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else 0),
            )
    return rungs


def rendition_ladder() -> dict[str, tuple[int, int]]:
    """Each rendition of the configured ladder: name -> (height, total kbps)."""
    return _ladder(settings.HLS_LADDER)


def live_alerts(stream: LiveStream) -> list[dict]:
    """The stream's active alerts ({code, severity, message}), as the alerting task last wrote them to the cache
    (`analytics:alerts:<stream id>`); empty when there are none or nobody writes them."""
    alerts = cache.get(ALERTS_CACHE_KEY.format(stream_id=stream.id))
    return list(alerts) if isinstance(alerts, list) else []


def stream_viewer_quality_summary(*, stream: LiveStream) -> dict | None:
    """/health's `viewerQuality`: the latest rolled-up minute of the stream; None until there is one."""
    latest = LiveStreamAnalytics.objects.filter(stream=stream, bucket_seconds=60).order_by("-bucket_start").first()
    if latest is None:
        return None
    return {
        "bucket_start": latest.bucket_start.isoformat(),
        "concurrent_viewers": latest.concurrent_viewers,
        "avg_bitrate_kbps": latest.avg_bitrate_kbps,
        "buffering_ratio": latest.buffering_ratio,
        "quality_distribution": latest.quality_distribution,
        "alerts": live_alerts(stream),
    }
