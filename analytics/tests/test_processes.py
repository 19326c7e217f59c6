"""A real writer process killed after its commit and before its acknowledgement: the next writer
redelivers the batch and every report still counts once (Redis and PostgreSQL, as in production)."""

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.test import override_settings

from analytics import services
from analytics.models import QualityReport, ViewerSession
from livestream_site.testing import processes
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The writer's own code, with one change: once the batch is committed it says so and hangs before the
# acknowledgement, so the test can kill it exactly there.
WRITER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from analytics import buffer, services

    def hang(self, entry_ids):
        print("committed", len(entry_ids), flush=True)
        time.sleep(600)

    buffer.RedisEventBuffer.ack = hang
    services.events_write_batch(consumer="doomed-writer")
    """
)


def test_a_writer_killed_between_commit_and_ack_loses_nothing_and_counts_once(artist, redis_buffer):
    stream = stream_factory(artist=artist, status="live")
    session_id = services.session_open(
        stream_id=stream.id, viewer_key="a1", user_id=None, is_replay=False, source="page", user_agent="", country="ZZ"
    )
    for rendition in ("720p", "360p", "720p"):
        services.quality_report_submit(
            stream_id=stream.id, session_id=session_id, report={"watch_ms": 2000, "rendition": rendition}
        )
    env = {
        **os.environ,
        "DATABASE_URL": processes.test_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "livestream_site.settings",
    }
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER],
        cwd=processes.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([writer.stdout], [], [], 120)
        line = writer.stdout.readline() if ready else ""
        assert line.strip() == "committed 4", (line, writer.poll() is not None and writer.stderr.read())
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)

    assert QualityReport.objects.count() == 3  # committed by the killed writer...
    assert redis_buffer.backlog() == 4  # ...but never acknowledged
    with override_settings(ANALYTICS_CLAIM_IDLE_SECONDS=0):  # long enough pending: taken over
        assert services.events_write_batch(consumer="next-writer") == 4
    assert redis_buffer.backlog() == 0
    assert QualityReport.objects.count() == 3
    session = ViewerSession.objects.get()
    assert (session.watch_seconds, session.renditions) == (6.0, {"720p": 4.0, "360p": 2.0})
