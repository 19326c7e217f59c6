"""Viewers on other players (VLC, a TV, an embed): the media server's log of live HLS requests folded
into viewer sessions.

A request that carries CMCD (CTA-5004) with the `sid` of a watch page's session belongs to that
session: it only keeps it alive (`last_seen_at`). Any other viewer is keyed by its CMCD `sid` when it
sends one, else by a hash of its address and user agent, and gets a `ViewerSession(source="hls")`,
opened on its first request and extended while requests keep coming: watch time is one segment
(HLS_SEGMENT_SECONDS) per distinct segment fetched, counted on the rendition it came from. A viewer
silent for ANALYTICS_HLS_IDLE_SECONDS has left: its session is closed at its last request.

Where the log is and how it reads is the media backend's business (`hls_requests_read`); where the
last read stopped (the cursor) is kept in a file under RUN_DIR, written after the sessions commit.
"""

import hashlib
import json
import logging
import os
import uuid
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import unquote

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from streams.media.backends import HlsRequest, get_backend
from streams.models import LiveStream

from .clients import address_country, device_describe
from .models import ViewerSession

logger = logging.getLogger(__name__)

# Responses that delivered what was asked for (a 304 still means the player is there).
COUNTED_STATUSES = {200, 206, 304}


def cursor_path() -> Path:
    return Path(settings.RUN_DIR) / "analytics" / "hls-log-cursor.json"


def cursor_read() -> dict | None:
    try:
        return json.loads(cursor_path().read_text())
    except (FileNotFoundError, ValueError):
        return None


def cursor_write(cursor: dict | None) -> None:
    path = cursor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(cursor))
    os.replace(temporary, path)  # atomic: a crash leaves the old cursor or the new one


def cmcd_parse(value: str) -> dict:
    """CMCD data as a query argument ('bl=2100,br=3200,sid="6e2f..."', percent-encoded) as a dict.
    Keys without a value are true; strings lose their quotes."""
    text = unquote(value or "")
    result: dict = {}
    item, quoted = "", False
    for char in text + ",":
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            key, has_value, raw = item.partition("=")
            if key.strip():
                raw = raw.strip()
                result[key.strip()] = (
                    raw[1:-1] if raw.startswith('"') and raw.endswith('"') else raw if has_value else True
                )
            item = ""
        else:
            item += char
    return result


def _viewer_key(request: HlsRequest, sid: str | None) -> str:
    source = f"cmcd:{sid}" if sid else f"addr:{request.client}|{request.user_agent}"
    return "a" + hashlib.sha256(source.encode()).hexdigest()[:32]


def _uuid(sid: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(sid) if sid else None
    except ValueError:
        return None


def _visits(requests: list[HlsRequest], idle: timedelta) -> list[list[HlsRequest]]:
    """One viewer's requests (in time order) cut where they stop for longer than `idle`."""
    visits: list[list[HlsRequest]] = []
    for request in requests:
        if visits and request.time - visits[-1][-1].time <= idle:
            visits[-1].append(request)
        else:
            visits.append([request])
    return visits


def _visit_fold(*, stream_id: str, viewer_key: str, visit: list[HlsRequest], idle: timedelta) -> None:
    segment_seconds = settings.HLS_SEGMENT_SECONDS
    seen: set[tuple[str, str]] = set()
    renditions: dict[str, float] = defaultdict(float)
    for request in visit:
        if request.is_segment and (request.rendition, request.file) not in seen:
            seen.add((request.rendition, request.file))
            renditions[request.rendition] += segment_seconds
    first, last = visit[0].time, visit[-1].time
    session = (
        ViewerSession.objects.select_for_update()
        .filter(
            stream_id=stream_id,
            viewer_key=viewer_key,
            source=ViewerSession.Source.HLS,
            ended_at__isnull=True,
            last_seen_at__gte=first - idle,
        )
        .order_by("-last_seen_at")
        .first()
    )
    if session is None:
        session = ViewerSession(
            stream_id=stream_id,
            viewer_key=viewer_key,
            source=ViewerSession.Source.HLS,
            started_at=first,
            last_seen_at=last,
            # The player's own words and address (the media server's log has no CDN header to trust).
            country=address_country(visit[0].client),
            **device_describe(visit[0].user_agent or ""),
        )
    session.last_seen_at = max(session.last_seen_at, last)
    session.watch_seconds += sum(renditions.values())
    for name, seconds in renditions.items():
        session.renditions[name] = session.renditions.get(name, 0) + seconds
    session.save()


def hls_requests_fold(*, requests: list[HlsRequest], now: datetime | None = None) -> dict:
    """Fold logged HLS requests into viewer sessions; close the other players' sessions gone idle.
    Returns counts: {"requests", "pageSessions", "hlsSessions", "closed"}."""
    now = now or timezone.now()
    idle = timedelta(seconds=settings.ANALYTICS_HLS_IDLE_SECONDS)
    counted = [request for request in requests if request.status in COUNTED_STATUSES]
    known_streams = {
        str(pk)
        for pk in LiveStream.objects.filter(id__in={_uuid(r.stream_id) for r in counted} - {None}).values_list(
            "id", flat=True
        )
    }
    counted = [request for request in counted if request.stream_id in known_streams]
    sids = {request: cmcd_parse(request.cmcd).get("sid") for request in counted}
    page_ids = {_uuid(sid) for sid in sids.values()} - {None}
    page_sessions = {
        str(pk)
        for pk in ViewerSession.objects.filter(id__in=page_ids)
        .exclude(source=ViewerSession.Source.HLS)
        .values_list("id", flat=True)
    }

    page_seen: dict[str, datetime] = {}
    viewers: dict[tuple[str, str], list[HlsRequest]] = defaultdict(list)
    for request in counted:
        sid = sids[request]
        if sid and sid in page_sessions:
            page_seen[sid] = max(page_seen.get(sid, request.time), request.time)
        else:
            viewers[(request.stream_id, _viewer_key(request, sid))].append(request)

    with transaction.atomic():
        for session_id, seen_at in page_seen.items():
            ViewerSession.objects.filter(id=session_id).update(last_seen_at=Greatest(F("last_seen_at"), seen_at))
        visits = 0
        for (stream_id, viewer_key), viewer_requests in viewers.items():
            for visit in _visits(sorted(viewer_requests, key=lambda r: r.time), idle):
                _visit_fold(stream_id=stream_id, viewer_key=viewer_key, visit=visit, idle=idle)
                visits += 1
        closed = ViewerSession.objects.filter(
            source=ViewerSession.Source.HLS, ended_at__isnull=True, last_seen_at__lt=now - idle
        ).update(ended_at=F("last_seen_at"))
    return {"requests": len(counted), "pageSessions": len(page_seen), "hlsSessions": visits, "closed": closed}


def hls_log_fold(*, now: datetime | None = None) -> dict:
    """Read the media server's HLS log from where the last fold stopped and fold it in."""
    cursor = cursor_read()
    requests, after = get_backend().hls_requests_read(cursor=cursor)
    result = hls_requests_fold(requests=requests, now=now)
    if after != cursor:
        cursor_write(after)  # after the commit: a crash in between reads these lines again
    logger.debug("hls log folded: %s", result)
    return result
