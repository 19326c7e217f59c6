"""Fixtures the media plane's tests share: moto in server mode for the backends that keep replays in S3 and media
tasks run inline."""

import pytest
from moto.server import ThreadedMotoServer

from livestream_site.celery import app as celery_app
from livestream_site.testing.processes import free_port
from streams.media import services as media_services


@pytest.fixture(scope="module")
def moto_url():
    """moto in server mode on a free port (boto3 reaches it through an endpoint URL)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def media_tasks_inline(settings, monkeypatch):
    """Media tasks run in the test's thread, at once: Celery eager (its errors kept on the task, as a worker
    would), the reconnect window closing at once (run_later's timer thread would run outside the test's
    transaction)."""
    settings.STREAM_RECONNECT_WINDOW_SECONDS = 0
    monkeypatch.setattr(media_services, "run_later", lambda task, *, args, countdown=0: task.apply(args=args))
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = True, False
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved
