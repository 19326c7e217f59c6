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

        from django.db.models.signals import post_save

        from streams.models import LiveStream

        from .models import LiveStreamChatSettings

        # A join reuses another join's read of the stream only until the stream or its chat settings are
        # saved (in this process at once; elsewhere through the room's frames, see chat.joins).
        post_save.connect(_stream_saved, sender=LiveStream, dispatch_uid="chat.joins.stream")
        post_save.connect(_chat_settings_saved, sender=LiveStreamChatSettings, dispatch_uid="chat.joins.settings")


def _stream_saved(sender, instance, **kwargs):
    from . import joins

    joins.stream_forget(instance.pk)


def _chat_settings_saved(sender, instance, **kwargs):
    from . import joins

    joins.stream_forget(instance.stream_id)
