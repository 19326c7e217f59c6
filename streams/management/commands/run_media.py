"""Run the configured backend's own media server in the foreground (rtmp: nginx, daemon off)."""

import os
import signal

from django.core.management.base import BaseCommand

from streams.media.backends import get_backend


class Command(BaseCommand):
    help = "Start the media server of STREAMING_BACKEND in the foreground (rtmp: nginx + RTMP module)."

    def handle(self, *args, **options):
        backend = get_backend()
        server = backend.media_server_prepare()
        if server is None:
            self.stdout.write(f"media server: the {backend.name} backend runs none here; idling")
            self.stdout.flush()
            # Stay up: honcho stops every process of the Procfile when one exits.
            signal.pause()
            return
        self.stdout.write(f"media server: {' '.join(server.run)}")
        self.stdout.flush()
        os.execv(server.run[0], server.run)
