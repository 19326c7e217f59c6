from django.apps import AppConfig


class StreamsConfig(AppConfig):
    name = "streams"

    def ready(self) -> None:
        # The followers' e-mails listen to the lifecycle's signals, sent once a step is committed.
        from . import receivers
        from .signals import stream_scheduled, stream_went_live

        stream_scheduled.connect(
            receivers.stream_scheduled_followers_notify, dispatch_uid="streams.stream_scheduled_followers_notify"
        )
        stream_went_live.connect(
            receivers.stream_went_live_followers_notify, dispatch_uid="streams.stream_went_live_followers_notify"
        )
