"""Empty PROMETHEUS_MULTIPROC_DIR before the platform's processes start (`make run` does it).

prometheus_client's multiprocess mode keeps one file per process id; files left by an earlier run would
add dead processes' counters and gauges to every scrape. Run it only while no process of the platform runs.
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Delete the metric files of earlier runs in PROMETHEUS_MULTIPROC_DIR (before starting the processes)."

    def handle(self, *args, **options):
        directory = Path(settings.PROMETHEUS_MULTIPROC_DIR)
        removed = 0
        for path in directory.glob("*.db"):
            path.unlink(missing_ok=True)
            removed += 1
        self.stdout.write(f"metrics: {removed} file(s) of earlier runs removed from {directory}")
