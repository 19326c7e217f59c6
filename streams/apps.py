from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class StreamsConfig(AppConfig):
    name = "streams"

    def ready(self) -> None:
        from . import receivers as follower_receivers
        from .media import receivers
        from .media.backends import backend_configuration_errors
        from .signals import stream_delete_requested, stream_saved, stream_scheduled, stream_went_live

        # An unknown STREAMING_BACKEND or missing credentials stop every process at start (web, worker,
        # manage.py), with the variable named, rather than failing each media request later.
        errors = backend_configuration_errors()
        if errors:
            raise ImproperlyConfigured("Media backend: " + " ".join(errors))
        stream_saved.connect(receivers.stream_saved_media_provision, dispatch_uid="streams.media.provision")
        stream_delete_requested.connect(
            receivers.stream_delete_requested_media_deprovision, dispatch_uid="streams.media.deprovision"
        )
        # The followers' e-mails listen to the lifecycle's signals, sent once a step is committed.
        stream_scheduled.connect(
            follower_receivers.stream_scheduled_followers_notify,
            dispatch_uid="streams.stream_scheduled_followers_notify",
        )
        stream_went_live.connect(
            follower_receivers.stream_went_live_followers_notify,
            dispatch_uid="streams.stream_went_live_followers_notify",
        )
