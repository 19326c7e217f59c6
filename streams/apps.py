from django.apps import AppConfig
from django.core.exceptions import ImproperlyConfigured


class StreamsConfig(AppConfig):
    name = "streams"

    def ready(self) -> None:
        from .media import receivers
        from .media.backends import backend_configuration_errors
        from .signals import stream_delete_requested, stream_saved

        # An unknown STREAMING_BACKEND or missing credentials stop every process at start (web, worker,
        # manage.py), with the variable named, rather than failing each media request later.
        errors = backend_configuration_errors()
        if errors:
            raise ImproperlyConfigured("Media backend: " + " ".join(errors))
        stream_saved.connect(receivers.stream_saved_media_provision, dispatch_uid="streams.media.provision")
        stream_delete_requested.connect(
            receivers.stream_delete_requested_media_deprovision, dispatch_uid="streams.media.deprovision"
        )
