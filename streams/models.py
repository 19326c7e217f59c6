"""Live streams and their recordings."""

import re
import secrets
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

STREAM_KEY_BYTES = 24  # 192 bits from the secrets module

AUDIO_CODECS = ("aac", "opus", "mp3")
VIDEO_CODECS = ("h264", "h265", "vp9", "av1")
RESOLUTION_RE = re.compile(r"^(\d{2,5})x(\d{2,5})$")
STREAM_SETTINGS_LIMITS = {"bitrate": (100, 50_000), "fps": (1, 120)}
DEFAULT_STREAM_SETTINGS = {
    "bitrate": 4500,
    "fps": 30,
    "resolution": "1920x1080",
    "audio_codec": "aac",
    "video_codec": "h264",
}


def stream_key_generate() -> str:
    return "sk_" + secrets.token_urlsafe(STREAM_KEY_BYTES)


def stream_settings_errors(value) -> dict[str, list[str]]:
    """Field errors of a streamSettings object (snake_case keys); an empty dict when valid."""
    if not isinstance(value, dict):
        return {"stream_settings": ["Must be an object."]}
    errors: dict[str, list[str]] = {}
    unknown = set(value) - set(DEFAULT_STREAM_SETTINGS)
    for key in sorted(unknown):
        errors[key] = ["Unknown setting."]
    for key, (low, high) in STREAM_SETTINGS_LIMITS.items():
        number = value.get(key)
        if number is not None and (
            isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high
        ):
            errors[key] = [f"Must be a whole number from {low} to {high}."]
    resolution = value.get("resolution")
    if resolution is not None:
        match = RESOLUTION_RE.match(str(resolution))
        if not match or not (16 <= int(match[1]) <= 7680 and 16 <= int(match[2]) <= 4320):
            errors["resolution"] = ['Must be "WIDTHxHEIGHT", for example "1920x1080", at most 7680x4320.']
    for key, allowed in (("audio_codec", AUDIO_CODECS), ("video_codec", VIDEO_CODECS)):
        if value.get(key) is not None and value.get(key) not in allowed:
            errors[key] = [f"Must be one of: {', '.join(allowed)}."]
    return errors


class LiveStream(models.Model):
    class Type(models.TextChoices):
        CONCERT = "concert", "Concert"
        STUDIO_SESSION = "studio_session", "Studio session"
        ARTIST_INTERACTION = "artist_interaction", "Artist interaction"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        LIVE = "live", "Live"
        ENDED = "ended", "Ended"
        CANCELLED = "cancelled", "Cancelled"

    class Quality(models.TextChoices):
        LOW = "low", "Low (360p)"
        MEDIUM = "medium", "Medium (720p)"
        HIGH = "high", "High (1080p)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    artist = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="streams")
    title = models.CharField(max_length=200)
    description = models.TextField(max_length=5000, blank=True)
    type = models.CharField(max_length=32, choices=Type.choices, default=Type.CONCERT)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    scheduled_start_time = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    max_viewers = models.PositiveIntegerField(null=True, blank=True, help_text="Empty means no limit.")
    ticket_price = models.DecimalField(max_digits=10, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="usd")
    is_pay_per_view = models.BooleanField(default=False)
    is_chat_enabled = models.BooleanField(default=True)
    is_recording_enabled = models.BooleanField(default=False)
    go_live_on_publish = models.BooleanField(
        default=True,
        help_text="The show goes live when the encoder connects; off: a publish before the show is a test "
        "(the artist sees the picture in the studio) until the artist goes live.",
    )
    max_quality = models.CharField(max_length=8, choices=Quality.choices, default=Quality.HIGH)
    # A cap set by the artist or staff through adapt-quality, below max_quality; empty means none.
    quality_cap = models.CharField(max_length=8, choices=Quality.choices, blank=True, default="")
    # The cap was set by the platform (the transcoder fell behind real time), not by a person: the
    # platform lifts it when the transcoder recovers, and never replaces a cap a person set.
    quality_cap_automatic = models.BooleanField(default=False)
    stream_settings = models.JSONField(default=dict, blank=True)
    stream_key = models.CharField(max_length=64, unique=True, default=stream_key_generate, editable=False)
    peak_viewers = models.PositiveIntegerField(default=0)
    # The stream's resource on a managed media system (an IVS channel, a Wowza live stream ...): the
    # backend that provisioned it (empty: none yet), the backend's own data about it (its id, ingest
    # endpoint, stream key ...) and the last provider error while provisioning (retried by a task).
    media_backend = models.CharField(max_length=16, blank=True, default="", editable=False)
    media_resource = models.JSONField(default=dict, blank=True, editable=False)
    media_error = models.CharField(max_length=500, blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scheduled_start_time"]
        indexes = [
            models.Index(fields=["status", "scheduled_start_time"]),
            models.Index(fields=["artist", "scheduled_start_time"]),
            models.Index(fields=["type", "scheduled_start_time"]),
            models.Index(fields=["is_pay_per_view", "scheduled_start_time"]),
            models.Index(fields=["created_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(ticket_price__gte=0), name="livestream_price_not_negative"),
            models.CheckConstraint(
                condition=Q(max_viewers__isnull=True) | Q(max_viewers__gt=0), name="livestream_max_viewers_positive"
            ),
            models.CheckConstraint(
                condition=Q(is_pay_per_view=False) | Q(ticket_price__gt=0), name="livestream_ppv_has_price"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["scheduled", "live", "ended", "cancelled"]), name="livestream_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.ticket_price is not None and self.ticket_price < 0:
            errors["ticket_price"] = ["The ticket price cannot be negative."]
        if self.is_pay_per_view and (self.ticket_price is None or self.ticket_price <= 0):
            errors["ticket_price"] = ["A pay-per-view stream needs a ticket price above zero."]
        if self.max_viewers is not None and self.max_viewers <= 0:
            errors["max_viewers"] = ["Must be at least 1."]
        settings_errors = stream_settings_errors(self.stream_settings)
        if settings_errors:
            errors["stream_settings"] = [f"{key}: {' '.join(msgs)}" for key, msgs in settings_errors.items()]
        if errors:
            raise ValidationError(errors)

    @property
    def is_live(self) -> bool:
        return self.status == self.Status.LIVE


class LiveStreamRecording(models.Model):
    class Status(models.TextChoices):
        RECORDING = "recording", "Recording"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    stream = models.ForeignKey(LiveStream, on_delete=models.CASCADE, related_name="recordings")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECORDING)
    source_paths = models.JSONField(default=list, blank=True, help_text="Raw files written by the media server.")
    # A managed media system's stored names run long (Agora: livestage/<stream>/<sid>_<channel>.m3u8).
    file = models.FileField(upload_to="recordings/", blank=True, max_length=255)
    thumbnail = models.FileField(upload_to="thumbnails/", blank=True, max_length=255)
    duration_seconds = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    bitrate_kbps = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["stream", "-created_at"])]

    def __str__(self) -> str:
        return f"Recording of {self.stream_id} ({self.status})"


class StreamIngest(models.Model):
    """The media server's view of a stream's encoder: one row per stream that ever published.

    `generation` counts publishes, so a delayed "end after the reconnect window" can tell whether the
    encoder came back meanwhile; `recording` is the recording that reconnects keep adding parts to.
    """

    stream = models.OneToOneField(LiveStream, on_delete=models.CASCADE, primary_key=True, related_name="ingest")
    generation = models.PositiveIntegerField(default=0)
    is_publishing = models.BooleanField(default=False)
    # nginx-rtmp names a publish by the key it was opened with in its later callbacks, and the key
    # may be rotated meanwhile: the connection id (with the stream's id in file names) identifies it.
    client_id = models.CharField(max_length=32, blank=True, db_index=True)
    client_addr = models.CharField(max_length=64, blank=True)
    publish_started_at = models.DateTimeField(null=True, blank=True)
    publish_ended_at = models.DateTimeField(null=True, blank=True)
    recording = models.ForeignKey(
        LiveStreamRecording, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Ingest of {self.stream_id} ({'publishing' if self.is_publishing else 'idle'})"


class FollowerNotification(models.Model):
    """One e-mail sent to one follower about one show: the unique constraint makes each kind go out at most once."""

    class Kind(models.TextChoices):
        SCHEDULED = "scheduled", "New show"
        REMINDER = "reminder", "Starting soon"
        LIVE = "live", "Live now"

    stream = models.ForeignKey(LiveStream, on_delete=models.CASCADE, related_name="follower_notifications")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "user", "kind"], name="follower_notification_once"),
            models.CheckConstraint(
                condition=Q(kind__in=["scheduled", "reminder", "live"]), name="follower_notification_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.stream_id} to {self.user_id}"


class MediaProviderEvent(models.Model):
    """An event a managed media system delivered (an IVS EventBridge event ...), kept by its id so that a
    redelivered event is applied once."""

    backend = models.CharField(max_length=16)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=64, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["backend", "event_id"], name="media_provider_event_once")]

    def __str__(self) -> str:
        return f"{self.backend} event {self.event_id}"
