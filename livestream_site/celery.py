"""The Celery application (tasks discovered in each app's tasks.py and in the packages named below)
and `run_later`, the one way to enqueue a task after a delay."""

import logging
import os
import threading

from celery import Celery
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")

logger = logging.getLogger(__name__)

app = Celery("livestream_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Autodiscovery only looks at "<app>.tasks"; packages inside an app with tasks of their own are named
# here (as strings: the project package imports no app).
app.autodiscover_tasks(["streams.media"])
app.autodiscover_tasks(["analytics"], related_name="rollup_tasks")
# Analytics tasks beside analytics/tasks.py: the fold of the media server's HLS log.
app.autodiscover_tasks(["analytics"], related_name="hls_log_tasks")


def run_later(task, *, args: list, countdown: float = 0) -> None:
    """Enqueue a Celery task, after `countdown` seconds.

    With eager Celery (no broker: the embedded default and the tests) a countdown would run at once,
    so the task runs in a daemon thread of this process after the delay instead. Call it inside
    transaction.on_commit so the task sees what the caller committed.
    """
    if not app.conf.task_always_eager:
        task.apply_async(args=args, countdown=countdown)
        return

    def run():
        try:
            task.apply(args=args)
        except Exception:
            logger.exception("%s%s failed", task.name, tuple(args))
        finally:
            close_old_connections()

    timer = threading.Timer(countdown, run)
    timer.daemon = True
    timer.start()
