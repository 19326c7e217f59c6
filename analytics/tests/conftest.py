"""Fixtures of the analytics tests: one show with a known audience (joins, leaves, reports, chat, countries);
the event buffer on Redis and in-process, WebSocket clients with chosen handshake headers and client address,
and draining the buffer as the worker would."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.tests.factories import UserFactory, token_for
from analytics import services
from analytics.buffer import buffer_get
from chat.tests.conftest import Client
from livestream_site.asgi import application
from livestream_site.celery import app as celery_app
from streams.models import LiveStream
from streams.tests.factories import stream_factory

from .factories import chat_message_factory, report_factory, session_factory


@pytest.fixture(params=["redis", "local"])
def event_buffer(request):
    """The buffer of each kind, empty: Redis Streams (REDIS_URL of the run) and the in-process one."""
    if request.param == "redis" and not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    overrides = {"REDIS_URL": ""} if request.param == "local" else {}
    with override_settings(**overrides):
        buffer = buffer_get()
        buffer.clear()
        yield buffer
        buffer.clear()


@pytest.fixture
def redis_buffer():
    """The Redis buffer alone (for what only Redis has: pending entries of other processes)."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    buffer = buffer_get()
    buffer.clear()
    yield buffer
    buffer.clear()


def drain() -> int:
    """Write everything buffered, as the worker's analytics_events_write does."""
    total = 0
    while count := services.events_write_batch():
        total += count
    return total


@pytest.fixture
def adrain():
    return database_sync_to_async(drain)


@pytest.fixture
async def ws():
    """connect(user=None, headers=[(b"name", b"value")], client=("addr", port)) -> chat's test Client."""
    clients: list[Client] = []

    async def connect(user=None, *, headers=None, client=("127.0.0.1", 50000)):
        path = "/ws/livestream/"
        if user is not None:
            path += f"?token={await database_sync_to_async(token_for)(user)}"

        async def app(scope, receive, send):  # the server's view of the peer, as daphne fills it
            return await application(dict(scope, client=list(client)), receive, send)

        communicator = WebsocketCommunicator(app, path, headers=headers or [])
        connected, _ = await communicator.connect()
        assert connected
        clients.append(Client(communicator))
        return clients[-1]

    yield connect
    for client in clients:
        try:
            await client.communicator.disconnect()
        except Exception:
            pass


@pytest.fixture
def make_stream(transactional_db, artist):
    def make(**fields):
        fields.setdefault("artist", artist)
        fields.setdefault("status", "live")
        return stream_factory(**fields)

    return make


# --- A show with a known audience (rollups and the analytics API) ---


@pytest.fixture
def eager_celery():
    """Run tasks in-process (the tests set REDIS_URL, which otherwise queues them for a worker)."""
    saved = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield celery_app
    celery_app.conf.task_always_eager = saved


@dataclass
class Show:
    stream: LiveStream
    t0: datetime  # the first minute of the show

    def at(self, minutes: int, seconds: int = 0) -> datetime:
        return self.t0 + timedelta(minutes=minutes, seconds=seconds)


@pytest.fixture
def show(artist) -> Show:
    """A live show that started at t0 + 0:30 (t0 is ten minutes ago, on a minute). Its live audience:

        A  u1  DE  0:30 - 2:30   desktop / Chrome / Windows, startup 1000 ms
        B  a2  US  1:00 - 1:30   mobile / Safari / iOS,      startup 3000 ms, exit before video start
        C  a2  US  1:45 - 3:00   mobile / Safari / iOS,      startup 2000 ms
        D  a3  DE  2:30 - open (last seen 3:20), tablet / Chrome / Android, startup 5000 ms, a playback error
    and one replay session (R, a4, FR) that says nothing about the live minutes. Reports, chat below.
    """
    t0 = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    stream = stream_factory(artist=artist, status="live")
    LiveStream.objects.filter(pk=stream.pk).update(started_at=t0 + timedelta(seconds=30))
    stream.refresh_from_db()
    s = Show(stream=stream, t0=t0)
    desktop = {"device_class": "desktop", "browser": "Chrome", "os": "Windows"}
    phone = {"device_class": "mobile", "browser": "Safari", "os": "iOS"}
    tablet = {"device_class": "tablet", "browser": "Chrome", "os": "Android"}
    a = session_factory(
        stream=stream, viewer_key="u1", country="DE", started_at=s.at(0, 30), ended_at=s.at(2, 30),
        watch_seconds=80, startup_time_ms=1000, rebuffer_count=1, rebuffer_ms=500, **desktop,
    )  # fmt: skip
    b = session_factory(
        stream=stream, viewer_key="a2", country="US", started_at=s.at(1), ended_at=s.at(1, 30),
        watch_seconds=20, startup_time_ms=3000, rebuffer_count=1, rebuffer_ms=1000, exit_before_video_start=True,
        **phone,
    )  # fmt: skip
    c = session_factory(
        stream=stream, viewer_key="a2", country="US", started_at=s.at(1, 45), ended_at=s.at(3),
        watch_seconds=25, startup_time_ms=2000, **phone,
    )  # fmt: skip
    d = session_factory(
        stream=stream, viewer_key="a3", country="DE", started_at=s.at(2, 30), last_seen_at=s.at(3, 20),
        watch_seconds=10, startup_time_ms=5000, rebuffer_count=2, rebuffer_ms=2000, error="networkError", **tablet,
    )  # fmt: skip
    session_factory(
        stream=stream, viewer_key="a4", country="FR", is_replay=True, started_at=s.at(8), ended_at=s.at(9),
        watch_seconds=45, **desktop,
    )  # fmt: skip
    # Minute 0: A. Minute 1: A twice (one at 2000 kbps), B on 360p with no bitrate (the ladder's 896 kbps).
    # Minute 2: C without a rendition, D on 360p in a 1080-pixel-high player (upscaled).
    report_factory(session=a, received_at=s.at(0, 50), watch_ms=20000, rebuffer_ms=500, rendition="720p",
                   bitrate_kbps=3000, player_height=720)  # fmt: skip
    report_factory(session=a, received_at=s.at(1, 20), watch_ms=30000, rendition="720p", bitrate_kbps=3000,
                   player_height=720)  # fmt: skip
    report_factory(session=b, received_at=s.at(1, 25), watch_ms=20000, rebuffer_ms=1000, rendition="360p",
                   player_height=360)  # fmt: skip
    report_factory(session=a, received_at=s.at(1, 50), watch_ms=30000, rendition="720p", bitrate_kbps=2000,
                   player_height=720)  # fmt: skip
    report_factory(session=c, received_at=s.at(2, 10), watch_ms=25000, bitrate_kbps=1500)
    report_factory(session=d, received_at=s.at(2, 55), watch_ms=10000, rebuffer_ms=2000, rendition="360p",
                   bitrate_kbps=800, player_height=1080)  # fmt: skip
    # Chat: minute 1 has three messages from two users (plus a deleted one), minute 2 one (plus a hidden one).
    u1, u2, u3 = UserFactory(), UserFactory(), UserFactory()
    chat_message_factory(stream=stream, user=u1, created_at=s.at(1, 10))
    chat_message_factory(stream=stream, user=u1, created_at=s.at(1, 40))
    chat_message_factory(stream=stream, user=u2, created_at=s.at(1, 50))
    chat_message_factory(stream=stream, user=u2, created_at=s.at(1, 55), is_deleted=True)
    chat_message_factory(stream=stream, user=u3, created_at=s.at(2, 5), is_hidden=True)
    chat_message_factory(stream=stream, user=u3, created_at=s.at(2, 10))
    return s


def end_show(show: Show, *, minutes: int = 3, seconds: int = 20) -> None:
    """Mark the show ended at t0 + minutes:seconds (without the end transition's signal)."""
    LiveStream.objects.filter(pk=show.stream.pk).update(
        status=LiveStream.Status.ENDED, ended_at=show.at(minutes, seconds)
    )
    show.stream.refresh_from_db()
