"""Render the media server's config and replace this process with nginx (daemon off)."""

import os

from django.core.management.base import BaseCommand

from streams.media import config


class Command(BaseCommand):
    help = "Start the media server (nginx + RTMP module) in the foreground, from RUN_DIR/nginx.conf."

    def handle(self, *args, **options):
        conf = config.render()
        command = config.nginx_command(conf)
        self.stdout.write(f"media server: {' '.join(command)}")
        self.stdout.flush()
        os.execv(command[0], command)
