"""The Celery application (tasks discovered in each app's tasks.py and in the packages named below)
and `run_later`, the one way to enqueue a task after a delay."""

import logging
import os
import threading

from celery import Celery, signals
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
# Monitoring keeps its tasks apart from the analytics pipeline's (analytics/tasks.py).
app.autodiscover_tasks(["analytics"], related_name="monitoring_tasks")


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


# Task runs and failures for /metrics (livestream_site/metrics.py), in whichever process runs the task.
# metrics is imported when a task runs, not with this module: the Django settings (which choose the
# multiprocess directory) must load before prometheus_client does, and this module loads first.
@signals.task_prerun.connect
def _task_run_count(sender=None, **kwargs):
    from . import metrics

    metrics.task_run_count(task_name=sender.name)


@signals.task_success.connect
def _task_success_count(sender=None, **kwargs):
    from . import metrics

    metrics.task_success_count(task_name=sender.name)


@signals.task_failure.connect
def _task_failure_count(sender=None, **kwargs):
    from . import metrics

    metrics.task_failure_count(task_name=sender.name)


@signals.worker_process_shutdown.connect
def _worker_process_dead(**kwargs):
    from . import metrics

    metrics.mark_this_process_dead()
