"""Serializers of the media plane's API actions (the actions live on LiveStreamViewSet)."""

from rest_framework import serializers

from .backends import get_backend
from .models import LiveStream, LiveStreamRecording


class IngestOutput(serializers.Serializer):
    url = serializers.CharField()
    stream_key = serializers.CharField()


class PlaybackOutput(serializers.Serializer):
    type = serializers.CharField()
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()


class AdaptQualityInput(serializers.Serializer):
    max_quality = serializers.ChoiceField(choices=LiveStream.Quality.choices)


class HealthOutput(serializers.Serializer):
    stream_id = serializers.UUIDField()
    status = serializers.CharField()
    backend = serializers.CharField()
    media_server_reachable = serializers.BooleanField()
    publishing = serializers.BooleanField()
    ingest = serializers.DictField(allow_null=True)
    renditions = serializers.ListField(child=serializers.DictField())
    viewer_quality = serializers.DictField(allow_null=True)


class RecordingOutput(serializers.ModelSerializer):
    """A recording; the signed url and thumbnailUrl only for viewers with access to the stream."""

    status = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()

    class Meta:
        model = LiveStreamRecording
        fields = [
            "id",
            "status",
            "duration_seconds",
            "width",
            "height",
            "size_bytes",
            "created_at",
            "url",
            "thumbnail_url",
        ]

    def get_status(self, recording) -> str:
        # Still being written counts as processing for viewers.
        return LiveStreamRecording.Status.PROCESSING if recording.status == "recording" else recording.status

    def _signed(self, field) -> str | None:
        if not self.context.get("with_urls") or not field:
            return None
        return get_backend().recording_url(name=field.name, expires_at=self.context["expires_at"])

    def get_url(self, recording) -> str | None:
        return self._signed(recording.file) if recording.status == LiveStreamRecording.Status.READY else None

    def get_thumbnail_url(self, recording) -> str | None:
        return self._signed(recording.thumbnail) if recording.status == LiveStreamRecording.Status.READY else None


def stream_viewer_quality_summary(*, stream) -> dict | None:
    """The viewers' quality as the analytics rollups last stored it; None until there is one."""
    latest = stream.analytics.order_by("-bucket_start").first()
    if latest is None:
        return None
    return {
        "bucketStart": latest.bucket_start.isoformat(),
        "avgBitrateKbps": latest.avg_bitrate_kbps,
        "bufferingRatio": latest.buffering_ratio,
        "qualityDistribution": latest.quality_distribution,
    }
