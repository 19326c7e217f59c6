"""Write the configured backend's media server config (rtmp: RUN_DIR/nginx.conf) and check it."""

import subprocess

from django.core.management.base import BaseCommand, CommandError

from streams.media.backends import get_backend


class Command(BaseCommand):
    help = "Render the media server's config (rtmp: RUN_DIR/nginx.conf, checked with `nginx -t`)."

    def handle(self, *args, **options):
        backend = get_backend()
        server = backend.media_server_prepare()
        if server is None:
            self.stdout.write(f"the {backend.name} backend runs no media server here: nothing to configure")
            return
        result = subprocess.run(server.check, capture_output=True, text=True)
        if result.returncode:
            raise CommandError(f"media server config check failed:\n{result.stderr}")
        self.stdout.write(str(server.config))
