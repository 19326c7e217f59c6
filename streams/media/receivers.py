"""The media plane's receivers of the stream lifecycle's signals (connected in streams.apps): a managed
media system provisions the resource of a stream that was saved and deletes that of a deleted one."""

from . import services as media_services


def stream_saved_media_provision(sender, *, stream, created, **kwargs) -> None:
    media_services.stream_media_saved(stream=stream, created=created)


def stream_delete_requested_media_deprovision(sender, *, stream, **kwargs) -> None:
    media_services.stream_media_deleted(stream=stream)
