"""The media plane's Celery tasks are known to a worker, and run_later stands beside the Celery app.

Each check runs in a fresh Python process: in this one, the tests have long imported every task
module, so a task that autodiscovery misses would still look registered here.
"""

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[3]

MEDIA_TASKS = {
    "streams.media.tasks.ingest_reconcile",
    "streams.media.tasks.ingest_reconnect_window_expire",
    "streams.media.tasks.recording_finalize",
}

# What a worker (`celery -A livestream_site worker --beat`) does before it takes tasks.
WORKER_PROBE = """
import json, django
django.setup()
from django.conf import settings
from livestream_site.celery import app
app.loader.import_default_modules()
print(json.dumps({
    "tasks": sorted(app.tasks),
    "beat": sorted(entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()),
}))
"""

# The Celery module is part of the project package: importing it must not import any app.
IMPORT_PROBE = """
import json, sys
import livestream_site.celery
apps = ("accounts", "streams", "payments", "chat", "analytics")
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in apps)))
"""


def _run(code: str):
    env = {"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "livestream_site.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_worker_knows_the_media_tasks_and_every_scheduled_task():
    found = _run(WORKER_PROBE)
    assert MEDIA_TASKS <= set(found["tasks"])
    assert "streams.media.tasks.ingest_reconcile" in found["beat"]
    assert set(found["beat"]) <= set(found["tasks"]), "the beat schedule names a task no worker has"


def test_the_celery_module_imports_no_app():
    assert _run(IMPORT_PROBE) == []


@pytest.fixture
def eager():
    from livestream_site.celery import app

    saved = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = saved


def test_run_later_waits_for_the_countdown_when_celery_is_eager(eager):
    from livestream_site.celery import run_later

    ran = threading.Event()

    @eager.task(name="tests.run_later_probe")
    def probe(value):
        assert value == "go"
        ran.set()

    run_later(probe, args=["go"], countdown=0.5)
    assert not ran.wait(0.2), "an eager countdown must not run the task at once"
    assert ran.wait(5)
