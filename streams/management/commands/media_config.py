"""Render the media server's nginx config into RUN_DIR and check it with `nginx -t`."""

import subprocess

from django.core.management.base import BaseCommand, CommandError

from streams.media import config


class Command(BaseCommand):
    help = "Render RUN_DIR/nginx.conf from streams/media/nginx.conf.template and test it."

    def handle(self, *args, **options):
        conf = config.render()
        result = subprocess.run([*config.nginx_command(conf), "-t", "-q"], capture_output=True, text=True)
        if result.returncode:
            raise CommandError(f"nginx -t failed:\n{result.stderr}")
        self.stdout.write(str(conf))
