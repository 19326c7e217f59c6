"""The analytics app: its configuration wires the signals it listens to."""

from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        # Rollups: streams announces the end of a show without knowing analytics.
        from livestream_site.metrics import scrape_collector_register
        from streams.signals import stream_ended

        from . import receivers
        from .monitoring import MonitoringCollector

        stream_ended.connect(receivers.stream_ended_rollup, dispatch_uid="analytics.stream_ended_rollup")
        # Monitoring: the live streams' ingest, transcoder and alerts, read when /metrics is scraped.
        scrape_collector_register(MonitoringCollector())
