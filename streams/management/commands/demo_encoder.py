"""The demo encoder of `make run` (development only): publishes ffmpeg's test picture and tone to the demo
live show, so the demo's "live" is really live. Off with DEMO_ENCODER=false, and always with
DJANGO_DEBUG=false; then it idles (honcho stops every process when one exits)."""

import signal
import subprocess
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from streams.demo import DEMO_LIVE_TITLE, encoder_command, ffmpeg_available
from streams.models import LiveStream


class Command(BaseCommand):
    help = "Publish a synthetic picture to the demo live show (development only; DEMO_ENCODER=false turns it off)."

    def handle(self, *args, **options):
        if not settings.DEBUG or not settings.DEMO_ENCODER or not ffmpeg_available():
            reason = (
                "DJANGO_DEBUG=false"
                if not settings.DEBUG
                else "DEMO_ENCODER=false"
                if not settings.DEMO_ENCODER
                else "no ffmpeg"
            )
            self.stdout.write(f"demo encoder: off ({reason}); idling")
            self.stdout.flush()
            signal.pause()
            return
        encoder: subprocess.Popen | None = None

        def stop(signum, frame):
            if encoder is not None and encoder.poll() is None:
                encoder.terminate()
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            stream = (
                LiveStream.objects.filter(title=DEMO_LIVE_TITLE, artist__username="demo_artist")
                .exclude(status__in=[LiveStream.Status.ENDED, LiveStream.Status.CANCELLED])
                .first()
            )
            if stream is None:  # no demo show (or it ended): look again now and then
                time.sleep(10)
                continue
            self.stdout.write(f"demo encoder: publishing to {DEMO_LIVE_TITLE!r}")
            self.stdout.flush()
            encoder = subprocess.Popen(encoder_command(stream_key=stream.stream_key), stdin=subprocess.DEVNULL)
            encoder.wait()
            encoder = None
            time.sleep(5)  # the media server is starting, or restarted: try again
