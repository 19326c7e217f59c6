"""The audience of a stream: viewer sessions, their playback reports (QoE), ingest samples, and the
per-minute rollups the analytics API reads."""

import uuid

from django.conf import settings
from django.db import models

UNKNOWN_COUNTRY = "ZZ"


class ViewerSession(models.Model):
    """One viewing of one stream (live or replay) by one viewer, from join to leave (or expiry).

    The id is the `sessionId` the player reports with, so the page's WebSocket session, its beacons and
    its CMCD-tagged segment requests are the same viewer. Totals here are kept up to date by the batch
    writer from the reports; the per-minute picture comes from the reports themselves.
    """

    class Source(models.TextChoices):
        PAGE = "page", "Watch page (WebSocket)"
        BEACON = "beacon", "Beacon only (REST)"
        HLS = "hls", "Other HLS player (media server log)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="viewer_sessions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Who the viewer is, for unique counts: "u<user id>", or "a<anonymous id>" (cookie, connection, or
    # the hash of address and user agent for players that send neither).
    viewer_key = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PAGE)
    is_replay = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Empty while the session is open.")
    watch_seconds = models.FloatField(default=0)
    country = models.CharField(max_length=2, default=UNKNOWN_COUNTRY)
    device_class = models.CharField(max_length=16, blank=True, help_text="desktop, mobile, tablet, tv, bot, other")
    browser = models.CharField(max_length=32, blank=True)
    os = models.CharField(max_length=32, blank=True)
    # Seconds watched on each rendition: {"720p": 312.5, "360p": 20.0}.
    renditions = models.JSONField(default=dict, blank=True)
    startup_time_ms = models.PositiveIntegerField(null=True, blank=True)
    rebuffer_count = models.PositiveIntegerField(default=0)
    rebuffer_ms = models.BigIntegerField(default=0)
    dropped_frames = models.BigIntegerField(default=0)
    error = models.CharField(max_length=64, blank=True, help_text="The fatal playback error, if any.")
    exit_before_video_start = models.BooleanField(default=False)
    player_width = models.PositiveIntegerField(null=True, blank=True)
    player_height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["stream", "started_at"], name="session_stream_started"),
            models.Index(fields=["stream", "last_seen_at"], name="session_stream_last_seen"),
            models.Index(fields=["ended_at", "last_seen_at"], name="session_open_expiry"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(watch_seconds__gte=0), name="session_watch_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.viewer_key} on {self.stream_id} from {self.started_at:%Y-%m-%d %H:%M}"


class QualityReport(models.Model):
    """One playback beacon of a session: what the player saw since its previous report.

    Raw events, append-only, written in batches from the durable buffer. `event_id` makes a batch
    written twice (a crash between the write and the acknowledgement) count once.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.CharField(max_length=64)
    # No foreign-key constraints in the database (Django still cascades deletes): the batch writer
    # inserts a report only for a session it holds locked (FOR UPDATE) in the same transaction, with that
    # session's stream, so the references hold; the database's deferred checks of two references per row
    # only repeated that (a third of a batch's write time). The stream's own index is the composite one.
    session = models.ForeignKey(ViewerSession, on_delete=models.CASCADE, related_name="reports", db_constraint=False)
    stream = models.ForeignKey(
        "streams.LiveStream", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    received_at = models.DateTimeField()
    watch_ms = models.PositiveIntegerField(default=0)
    startup_time_ms = models.PositiveIntegerField(null=True, blank=True)
    rebuffer_count = models.PositiveIntegerField(default=0)
    rebuffer_ms = models.PositiveIntegerField(default=0)
    rendition = models.CharField(max_length=16, blank=True)
    bitrate_kbps = models.PositiveIntegerField(null=True, blank=True)
    bandwidth_kbps = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    dropped_frames = models.PositiveIntegerField(default=0)
    player_width = models.PositiveIntegerField(null=True, blank=True)
    player_height = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=64, blank=True)
    exit_before_video_start = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["stream", "received_at"], name="report_stream_received")]
        # A constraint rather than unique=True: the same unique index without the pattern-ops twin
        # PostgreSQL gets for a unique CharField (never used: event ids are only looked up whole).
        constraints = [models.UniqueConstraint(fields=["event_id"], name="report_event_id_unique")]

    def __str__(self) -> str:
        return f"report {self.event_id} of {self.session_id}"


class IngestSample(models.Model):
    """The encoder and the transcoder of a live stream, sampled every few seconds."""

    id = models.BigAutoField(primary_key=True)
    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="ingest_samples")
    sampled_at = models.DateTimeField()
    bitrate_kbps = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    keyframe_interval_seconds = models.FloatField(null=True, blank=True)
    transcoder_speed = models.FloatField(null=True, blank=True, help_text="ffmpeg's speed: below 1.0 falls behind.")

    class Meta:
        indexes = [models.Index(fields=["stream", "sampled_at"], name="ingest_sample_stream_time")]

    def __str__(self) -> str:
        return f"ingest of {self.stream_id} @ {self.sampled_at}"


class LiveStreamAnalytics(models.Model):
    """One stream's audience over one bucket (a minute), rolled up from sessions, reports and chat.

    Re-running the rollup of a bucket rewrites its row with the same figures (idempotent); late
    reports are folded in by rolling the bucket up again.
    """

    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="analytics")
    bucket_start = models.DateTimeField(help_text="Start of the rolled-up interval.")
    bucket_seconds = models.PositiveIntegerField(default=60)
    concurrent_viewers = models.PositiveIntegerField(default=0, help_text="Average over the bucket.")
    peak_viewers = models.PositiveIntegerField(default=0)
    unique_viewers = models.PositiveIntegerField(default=0)
    joins = models.PositiveIntegerField(default=0)
    chat_messages = models.PositiveIntegerField(default=0)
    chatters = models.PositiveIntegerField(default=0)
    watch_seconds = models.BigIntegerField(default=0)
    rebuffer_ms = models.BigIntegerField(default=0)
    avg_bitrate_kbps = models.PositiveIntegerField(null=True, blank=True)
    buffering_ratio = models.FloatField(null=True, blank=True, help_text="Rebuffer time / watch time.")
    # Share of watch time per rendition {"720p": 0.8, "360p": 0.2}, and viewers per country {"DE": 12}.
    quality_distribution = models.JSONField(default=dict, blank=True)
    countries = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["bucket_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["stream", "bucket_start", "bucket_seconds"], name="analytics_one_row_per_bucket"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stream_id} @ {self.bucket_start}"
