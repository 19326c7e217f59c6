"""REST API of the media plane: a stream's ingest settings, playback, quality cap, health and recordings.

Served under /api/livestreams/{id}/ next to the stream's own actions (streams/media/urls.py); each
view fetches and checks through the shared access helpers and asks the backend, never the media
server itself.
"""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.monitoring import stream_alerts_get
from analytics.quality import stream_viewer_quality_summary
from livestream_site.errors import ApplicationError, Conflict, Forbidden, NotFound
from livestream_site.schema import error_responses
from payments.selectors import stream_viewer_access, stream_watch_access
from streams import services as stream_services
from streams.api import LiveStreamOutput
from streams.models import LiveStream, LiveStreamRecording
from streams.selectors import stream_get, stream_manage_access

from . import services as media_services
from .backends import MediaEventsRefused, MediaProviderError, get_backend
from .selectors import stream_recordings


class IngestOutput(serializers.Serializer):
    url = serializers.CharField()
    stream_key = serializers.CharField()
    # The RTMP credentials of a media system that asks for them (Wowza): OBS's "Use authentication".
    username = serializers.CharField(required=False)
    password = serializers.CharField(required=False)


class PlaybackOutput(serializers.Serializer):
    """HLS ({type: "hls", url}) or, for a media system with its own player, that player's bundle."""

    type = serializers.CharField()
    url = serializers.URLField(required=False)
    expires_at = serializers.DateTimeField()
    # The player must send cookies with its requests (a CDN's token authentication sets one: Wowza).
    with_credentials = serializers.BooleanField(required=False)
    # Agora's bundle ({type: "agora"}): the Agora Web SDK joins `channel` of project `app_id` as audience with
    # `uid` (0: any, Agora picks) and `token` (an AccessToken2 RTC token valid until expires_at).
    app_id = serializers.CharField(required=False)
    channel = serializers.CharField(required=False)
    uid = serializers.IntegerField(required=False)
    token = serializers.CharField(required=False)


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
    alerts = serializers.ListField(child=serializers.DictField())


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
        try:
            url = get_backend().recording_url(name=field.name, expires_at=self.context["expires_at"])
        except (MediaProviderError, FileNotFoundError):
            return None  # the provider cannot sign it now; the list still answers
        request = self.context.get("request")
        return request.build_absolute_uri(url) if request is not None else url

    def get_url(self, recording) -> str | None:
        return self._signed(recording.file) if recording.status == LiveStreamRecording.Status.READY else None

    def get_thumbnail_url(self, recording) -> str | None:
        return self._signed(recording.thumbnail) if recording.status == LiveStreamRecording.Status.READY else None


def _playback_expires_at():
    return timezone.now() + timedelta(seconds=settings.PLAYBACK_TOKEN_TTL_SECONDS)


def _recording_expires_at():
    return timezone.now() + timedelta(seconds=settings.RECORDING_URL_TTL_SECONDS)


# The views keep no class docstrings: drf-spectacular would publish them as operation descriptions,
# and the OpenAPI schema stays as it was when these were actions of LiveStreamViewSet.
class StreamIngestView(APIView):
    permission_classes = [permissions.IsAuthenticated]  # the artist's and staff's only: 401 without a token (audit F10)

    @extend_schema(request=None, responses=IngestOutput)
    def get(self, request, pk, format=None):
        """Where the artist's encoder (OBS) publishes: the server URL and the stream key."""
        stream = stream_manage_access(user=request.user, stream_id=pk)
        backend = get_backend()
        media_services.media_ready_check(stream=stream, backend=backend)
        return Response(backend.ingest_info(stream=stream))


class StreamPlaybackView(APIView):
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    @extend_schema(request=None, responses={200: PlaybackOutput, **error_responses(402, 403, 409)})
    def get(self, request, pk, format=None):
        stream = stream_watch_access(user=request.user, stream_id=pk)
        if stream.status == LiveStream.Status.ENDED:
            raise Conflict("The stream has ended: watch its recordings.", code="stream_ended")
        backend = get_backend()
        media_services.media_ready_check(stream=stream, backend=backend)
        expires_at = _playback_expires_at()
        viewer_id = request.user.id if request.user.is_authenticated else None
        data = backend.playback(stream=stream, expires_at=expires_at, viewer_id=viewer_id)
        if data.get("type") == "hls":
            data["url"] = request.build_absolute_uri(data["url"])
        return Response({**data, "expires_at": expires_at})


class StreamAdaptQualityView(APIView):
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    @extend_schema(request=AdaptQualityInput, responses=LiveStreamOutput)
    def post(self, request, pk, format=None):
        stream = stream_manage_access(user=request.user, stream_id=pk)
        serializer = AdaptQualityInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        stream = stream_services.stream_quality_adapt(
            stream_id=stream.id, max_quality=serializer.validated_data["max_quality"]
        )
        # The request in the context: the stream key is shown to the stream's artist and staff only.
        return Response(LiveStreamOutput(stream, context={"request": request, "view": self}).data)


class StreamHealthView(APIView):
    permission_classes = [permissions.IsAuthenticated]  # the artist's and staff's only: 401 without a token (audit F10)

    @extend_schema(request=None, responses=HealthOutput)
    def get(self, request, pk, format=None):
        stream = stream_manage_access(user=request.user, stream_id=pk)
        backend = get_backend()
        data = {"stream_id": stream.id, "status": stream.status, "backend": backend.name}
        data.update(backend.health(stream=stream))
        data["renditions"] = [
            {"name": r.name, "width": r.width, "height": r.height, "bandwidth": r.bandwidth, "codecs": r.codecs}
            for r in backend.renditions(stream=stream)
        ]
        data["viewer_quality"] = stream_viewer_quality_summary(stream=stream)
        # The stream's active alerts ({code, severity, message, since}: analytics/monitoring.py).
        data["alerts"] = stream_alerts_get(stream_id=stream.id)
        return Response(data)


class StreamRecordingsView(APIView):
    permission_classes = [permissions.IsAuthenticatedOrReadOnly]

    @extend_schema(request=None, responses=RecordingOutput(many=True))
    def get(self, request, pk, format=None):
        stream = stream_get(stream_id=pk)
        access = stream_viewer_access(user=request.user, stream=stream)
        recordings = list(stream_recordings(stream=stream))
        context = {"with_urls": access.has_access, "expires_at": _recording_expires_at(), "request": request}
        return Response(RecordingOutput(recordings, many=True, context=context).data)


class ProviderEventsView(APIView):
    # A managed media system's events (IVS: EventBridge "IVS Stream State Change" and "IVS Recording
    # State Change" through an API destination): no user, no CSRF; the backend checks the sender.
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(request=None, responses={204: None, **error_responses(403, 404)})
    def post(self, request, format=None):
        backend = get_backend()
        try:
            events = backend.provider_events_read(body=request.body, headers=request.headers)
        except NotImplementedError:
            raise NotFound(f"The {backend.name} media backend sends no events.") from None
        except MediaEventsRefused as exc:
            raise Forbidden(str(exc), code="forbidden") from None
        except ValueError as exc:
            raise ApplicationError(str(exc), code="validation_error", fields={"body": [str(exc)]}) from None
        media_services.provider_events_apply(events=events)
        return Response(status=status.HTTP_204_NO_CONTENT)
