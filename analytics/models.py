"""Viewer metrics of a stream, rolled up per time bucket."""

from django.db import models


class LiveStreamAnalytics(models.Model):
    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="analytics")
    bucket_start = models.DateTimeField(help_text="Start of the rolled-up interval.")
    bucket_seconds = models.PositiveIntegerField(default=60)
    concurrent_viewers = models.PositiveIntegerField(default=0)
    peak_viewers = models.PositiveIntegerField(default=0)
    unique_viewers = models.PositiveIntegerField(default=0)
    chat_messages = models.PositiveIntegerField(default=0)
    watch_seconds = models.BigIntegerField(default=0)
    avg_bitrate_kbps = models.PositiveIntegerField(null=True, blank=True)
    buffering_ratio = models.FloatField(null=True, blank=True)
    quality_distribution = models.JSONField(default=dict, blank=True)
    countries = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["bucket_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "bucket_start", "bucket_seconds"], name="analytics_one_row_per_bucket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} @ {self.bucket_start}"
