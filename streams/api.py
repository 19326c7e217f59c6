"""REST API of streams: input serializers that validate shape, output serializers that translate, thin views."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer, extend_schema_view
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from livestream_site.schema import error_responses
from livestream_site.serializers import FastOutput

from . import services
from .filters import LiveStreamFilter
from .media import selectors as media_selectors
from .media import services as media_services
from .models import LiveStream, stream_settings_errors
from .selectors import stream_can_manage, stream_get, stream_list_visible, stream_manage_access

# The fields a client writes: what stream_create takes, and artistId (on create, and only staff may
# name another artist; on update it must stay the stream's).
INPUT_FIELDS = [*services.CREATE_FIELDS, "artist_id"]


class StreamSettingsField(serializers.DictField):
    """streamSettings {bitrate, fps, resolution, audioCodec, videoCodec}, validated by the model's rules."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        errors = stream_settings_errors(value)
        # The model's check skips None ("not given"); from a client, null would be stored over the default.
        for key in value:
            if value[key] is None and key not in errors:
                errors[key] = ["This field may not be null."]
        if errors:
            raise serializers.ValidationError(errors)
        return value


class LiveStreamInput(serializers.ModelSerializer):
    """A stream as a client creates or changes it. Bound to the stream on update (`instance`), so that
    the cross-field rules read what the request leaves unchanged."""

    artist_id = serializers.IntegerField(required=False, min_value=1)
    ticket_price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False)
    max_viewers = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    stream_settings = StreamSettingsField(required=False)

    class Meta:
        model = LiveStream
        fields = INPUT_FIELDS
        extra_kwargs = {"title": {"allow_blank": False}, "scheduled_start_time": {"required": True}}

    def validate_scheduled_start_time(self, value):
        if value < timezone.now() and (self.instance is None or value != self.instance.scheduled_start_time):
            raise serializers.ValidationError("Must be in the future.")
        return value

    def validate_currency(self, value):
        return value.lower()

    def validate_artist_id(self, value):
        if self.instance is not None and value != self.instance.artist_id:
            raise serializers.ValidationError("The artist of a stream cannot change.")
        return value

    def validate(self, attrs):
        def current(name, default=None):
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, default)

        if current("is_pay_per_view", False) and not current("ticket_price", 0):
            raise serializers.ValidationError(
                {"ticket_price": ["A pay-per-view stream needs a ticket price above zero."]}
            )
        return attrs


class ArtistOutput(FastOutput, serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


@extend_schema_serializer(component_name="LiveStream")  # the name API clients were generated with
class LiveStreamOutput(FastOutput, serializers.ModelSerializer):
    """A stream as the API shows it; the stream key only to the stream's artist and staff."""

    artist = ArtistOutput()
    artist_id = serializers.IntegerField()
    quality_cap = serializers.SerializerMethodField()
    stream_key = serializers.CharField(required=False, help_text="Only for the stream's artist and staff.")

    class Meta:
        model = LiveStream
        fields = [
            "id",
            "title",
            "description",
            "type",
            "status",
            "scheduled_start_time",
            "started_at",
            "ended_at",
            "max_viewers",
            "ticket_price",
            "currency",
            "is_pay_per_view",
            "is_chat_enabled",
            "is_recording_enabled",
            "go_live_on_publish",
            "max_quality",
            "quality_cap",
            "artist_id",
            "artist",
            "stream_settings",
            "peak_viewers",
            "stream_key",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_quality_cap(self, stream) -> LiveStream.Quality | None:
        return stream.quality_cap or None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        # The stream key is a publishing credential: only the stream's artist and staff see it.
        if not stream_can_manage(user=getattr(request, "user", None), stream=instance):
            data.pop("stream_key", None)
        else:
            # On a managed media system the encoder uses the provider's key (None until provisioned).
            data["stream_key"] = media_selectors.stream_ingest_key(stream=instance)
        return data


class MayHostToCreate(permissions.BasePermission):
    message = "Only artists and staff can create streams."

    def has_permission(self, request, view):
        if view.action != "create":
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.can_host)


class StreamKeyOutput(serializers.Serializer):
    stream_key = serializers.CharField()


@extend_schema_view(
    create=extend_schema(request=LiveStreamInput, responses={201: LiveStreamOutput}),
    update=extend_schema(request=LiveStreamInput, responses={200: LiveStreamOutput, **error_responses(409)}),
    partial_update=extend_schema(request=LiveStreamInput, responses={200: LiveStreamOutput, **error_responses(409)}),
    destroy=extend_schema(responses={204: None, **error_responses(409)}),
)
class LiveStreamViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    # /api/livestreams: lists and reads through the selectors, every write through a service.
    serializer_class = LiveStreamOutput
    filterset_class = LiveStreamFilter
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, MayHostToCreate]
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return stream_list_visible(user=self.request.user)

    def get_object(self):
        return stream_get(stream_id=self.kwargs["pk"])

    def _managed(self):
        return stream_manage_access(user=self.request.user, stream_id=self.kwargs["pk"])

    def _respond(self, stream, status_code=status.HTTP_200_OK):
        return Response(self.get_serializer(stream).data, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = LiveStreamInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        stream = services.stream_create(by_user=request.user, **serializer.validated_data)
        return self._respond(stream, status.HTTP_201_CREATED)

    def update(self, request, *args, partial=False, **kwargs):
        stream = self._managed()
        serializer = LiveStreamInput(stream, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("artist_id", None)  # unchanged: validate_artist_id refuses a change
        return self._respond(services.stream_update(stream=stream, data=data))

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    def destroy(self, request, *args, **kwargs):
        services.stream_delete(stream=self._managed())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: LiveStreamOutput, **error_responses(409)})
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._respond(services.stream_start(stream_id=self._managed().id))

    @extend_schema(request=None, responses={200: LiveStreamOutput, **error_responses(409)})
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        return self._respond(media_services.stream_end_and_disconnect(stream_id=self._managed().id))

    @extend_schema(request=None, responses={200: LiveStreamOutput, **error_responses(409)})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.stream_cancel(stream_id=self._managed().id))

    @extend_schema(request=None, responses=StreamKeyOutput)
    @action(detail=True, methods=["post"], url_path="stream-key/rotate")
    def rotate_stream_key(self, request, pk=None):
        ingest = media_services.stream_key_rotate(stream_id=self._managed().id)
        return Response({"streamKey": ingest["streamKey"]})
