"""The analytics app: its configuration wires the signals it listens to."""

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        # Rollups: streams announces the end of a show without knowing analytics.
        from streams.signals import stream_ended

        from . import receivers

        stream_ended.connect(receivers.stream_ended_rollup, dispatch_uid="analytics.stream_ended_rollup")
