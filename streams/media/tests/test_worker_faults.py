"""A Celery worker killed during a recording's finalization (audit: faults with real processes).

A real worker on a Redis of the test's own finalizes a recording with real ffmpeg; its first attempt
is held inside ffmpeg (a wrapper that waits the first time it runs) and the whole worker is killed
there with SIGKILL, pool and ffmpeg included, as a crashed machine would leave it. What must hold: the
source is intact, the task comes back (the broker's visibility timeout), a new worker finishes it, and
the recording ends ready, as long as its source, exactly once.
"""

import hashlib
import subprocess
import time
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.core.cache import cache
from django.db import connection

from livestream_site.celery import app as celery_app
from livestream_site.testing.processes import celery_worker, redis_server
from streams.media import services as media_services
from streams.media import tasks
from streams.models import LiveStreamRecording
from streams.tests.factories import stream_factory

from .media_support import needs_media

pytestmark = [pytest.mark.slow, pytest.mark.media, needs_media, pytest.mark.django_db(transaction=True)]

SOURCE_SECONDS = 4


def _wait(predicate, *, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_worker_killed_during_finalization_leaves_the_source_and_the_task_is_done_by_the_next(tmp_path, artist):
    if connection.vendor != "postgresql":
        pytest.skip("separate processes share the test database: PostgreSQL")
    source = tmp_path / "part-1.flv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-t", str(SOURCE_SECONDS)]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-f", "flv", str(source)],
        check=True,
    )
    digest = _digest(source)
    # ffmpeg as the worker runs it: the first run waits (the test kills the worker there), later runs work.
    held, wrapper = tmp_path / "held", tmp_path / "ffmpeg"
    wrapper.write_text(f'#!/bin/sh\nif [ ! -e "{held}" ]; then touch "{held}"; sleep 120; fi\nexec ffmpeg "$@"\n')
    wrapper.chmod(0o755)
    stream = stream_factory(artist=artist, status="ended")
    recording = LiveStreamRecording.objects.create(
        stream=stream, status=LiveStreamRecording.Status.PROCESSING, source_paths=[str(source)]
    )

    with redis_server(tmp_path) as redis:
        env = {
            "REDIS_URL": redis.url,
            "CELERY_BROKER_URL": redis.url,
            "MEDIA_FFMPEG": str(wrapper),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "RUN_DIR": str(tmp_path / "run"),
            # Short here so the test does not wait an hour: the lock lapses before the task comes back.
            "CELERY_VISIBILITY_TIMEOUT_SECONDS": "4",
            "CELERY_UNACKED_RESTORE_SECONDS": "1",
            "RECORDING_FINALIZE_LOCK_SECONDS": "3",
        }
        with celery_worker(env) as first:
            with celery_app.connection_for_write(redis.url) as broker:
                celery_app.send_task(
                    "streams.media.tasks.recording_finalize", args=[str(recording.id)], connection=broker
                )
            _wait(held.exists, timeout=30, message="the first attempt to reach ffmpeg")
            first.kill()
        recording.refresh_from_db()
        assert recording.status == LiveStreamRecording.Status.PROCESSING and recording.attempts == 1
        assert source.exists() and _digest(source) == digest  # the source is intact

        with celery_worker(env) as second:
            done = _wait(
                lambda: LiveStreamRecording.objects.filter(pk=recording.pk, status__in=["ready", "failed"]).first(),
                timeout=60,
                message="the redelivered finalization: " + "".join(second.output[-20:]),
            )
    assert done.status == LiveStreamRecording.Status.READY, done.error
    assert done.attempts == 2  # the killed attempt and the one that finished; not a third
    assert abs(done.duration_seconds - SOURCE_SECONDS) < 1
    assert (tmp_path / "media" / done.file.name).stat().st_size == done.size_bytes
    assert (tmp_path / "media" / done.thumbnail.name).exists()


def test_a_duplicate_finalization_comes_back_later_instead_of_being_dropped(artist, tmp_path, monkeypatch):
    """While another finalization holds the recording's lock (or the lock of a worker that died has not
    lapsed yet), the task asks to be retried later, uncounted, rather than finishing with nothing done:
    dropping it left a recording in `processing` for good."""
    stream = stream_factory(artist=artist, status="ended")
    recording = LiveStreamRecording.objects.create(
        stream=stream, status=LiveStreamRecording.Status.PROCESSING, source_paths=[str(tmp_path / "part.flv")]
    )
    cache.add(f"streams:recording-finalize:{recording.id}", "1", timeout=60)
    try:
        with pytest.raises(media_services.RecordingBusy):
            media_services.recording_finalize(recording_id=recording.id)
        tasks.recording_finalize.push_request(
            id="duplicate", args=[str(recording.id)], kwargs={}, retries=0, is_eager=False, called_directly=False
        )
        sent = []  # the retry's message, kept here rather than sent to a broker no worker reads
        monkeypatch.setattr(tasks.recording_finalize, "apply_async", lambda *args, **options: sent.append(options))
        try:
            with pytest.raises(Retry):
                tasks.recording_finalize.run(str(recording.id))
        finally:
            tasks.recording_finalize.pop_request()
        assert [options["countdown"] for options in sent] == [tasks.RECORDING_BUSY_RETRY_SECONDS]
    finally:
        cache.delete(f"streams:recording-finalize:{recording.id}")
    recording.refresh_from_db()
    assert recording.status == LiveStreamRecording.Status.PROCESSING and recording.attempts == 0
