"""Factories for the audience of a stream: viewer sessions, quality reports, ingest samples, chat messages.

The collection pipeline (beacons, the batch writer) is tested on its own; these write rows as it leaves them,
so the rollups and the analytics API are tested against known data.
"""

import itertools
import uuid
from datetime import datetime

from analytics.models import IngestSample, QualityReport, ViewerSession
from chat.models import LiveStreamChat

_events = itertools.count(1)


def session_factory(
    *, stream, started_at: datetime, ended_at: datetime | None = None, last_seen_at: datetime | None = None, **fields
) -> ViewerSession:
    """A viewing from `started_at` to `ended_at` (open when None: it lasts until `last_seen_at`)."""
    fields.setdefault("viewer_key", f"a{uuid.uuid4().hex[:12]}")
    return ViewerSession.objects.create(
        stream=stream,
        started_at=started_at,
        ended_at=ended_at,
        last_seen_at=last_seen_at or ended_at or started_at,
        **fields,
    )


def report_factory(*, session: ViewerSession, received_at: datetime, **fields) -> QualityReport:
    return QualityReport.objects.create(
        event_id=f"evt-{next(_events)}-{uuid.uuid4().hex[:8]}",
        session=session,
        stream_id=session.stream_id,
        received_at=received_at,
        **fields,
    )


def ingest_sample_factory(*, stream, sampled_at: datetime, **fields) -> IngestSample:
    return IngestSample.objects.create(stream=stream, sampled_at=sampled_at, **fields)


def chat_message_factory(*, stream, user, created_at: datetime, message: str = "hello", **fields) -> LiveStreamChat:
    """A chat message as stored at `created_at` (created_at is auto_now_add: set after the insert)."""
    chat = LiveStreamChat.objects.create(stream=stream, user=user, message=message, **fields)
    LiveStreamChat.objects.filter(pk=chat.pk).update(created_at=created_at)
    chat.created_at = created_at
    return chat
