from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self):
        from livestream_site.metrics import scrape_collector_register

        from .monitoring import MonitoringCollector

        scrape_collector_register(MonitoringCollector())
