"""The chat app's configuration: it wires the real-time transport's hooks (peak viewers, heartbeats) to their writes."""

from django.apps import AppConfig

from livestream_site.realtime import heartbeat_hook_set, viewer_peak_hook_set


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self):
        # Services import models, which the app registry allows only once it is ready.
        from streams.services import stream_peak_viewers_record

        # The transport imports no app: the chat's rooms count the viewers, so chat tells it where peaks go.
        viewer_peak_hook_set(stream_peak_viewers_record)

        from .connection import sessions_keep_alive

        # The rooms' heartbeat keeps the viewer sessions of this process's connections alive.
        heartbeat_hook_set(sessions_keep_alive)
