"""REST API of streams: serializers that translate, a thin viewset that calls services."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import User
from livestream_site.errors import Forbidden

from . import services
from .filters import LiveStreamFilter
from .media import services as media_services
from .models import LiveStream, stream_settings_errors
from .selectors import stream_can_manage, stream_get, stream_list_visible, stream_manage_access


class ArtistOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


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


class LiveStreamSerializer(serializers.ModelSerializer):
    artist = ArtistOutput(read_only=True)
    artist_id = serializers.IntegerField(required=False, min_value=1)
    ticket_price = serializers.DecimalField(max_digits=10, decimal_places=2, min_value=0, required=False)
    max_viewers = serializers.IntegerField(min_value=1, max_value=10_000_000, required=False, allow_null=True)
    currency = serializers.RegexField(r"^[A-Za-z]{3}$", required=False)
    stream_settings = StreamSettingsField(required=False)

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
        read_only_fields = [
            "id",
            "status",
            "started_at",
            "ended_at",
            "quality_cap",
            "peak_viewers",
            "stream_key",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"title": {"allow_blank": False}, "scheduled_start_time": {"required": True}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["quality_cap"] = instance.quality_cap or None
        request = self.context.get("request")
        # The stream key is a publishing credential: only the stream's artist and staff see it.
        if not stream_can_manage(user=getattr(request, "user", None), stream=instance):
            data.pop("stream_key", None)
        return data

    def validate_scheduled_start_time(self, value):
        if value < timezone.now() and (self.instance is None or value != self.instance.scheduled_start_time):
            raise serializers.ValidationError("Must be in the future.")
        return value

    def validate_currency(self, value):
        return value.lower()

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


class IsArtistOrStaffToCreate(permissions.BasePermission):
    message = "Only artists and staff can create streams."

    def has_permission(self, request, view):
        if view.action != "create":
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.can_host)


class LiveStreamViewSet(viewsets.ModelViewSet):
    serializer_class = LiveStreamSerializer
    filterset_class = LiveStreamFilter
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, IsArtistOrStaffToCreate]
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
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        artist_id = data.pop("artist_id", None)
        artist = request.user
        if artist_id is not None and artist_id != request.user.id:
            if not request.user.is_staff:
                raise Forbidden("Only staff can create a stream for another artist.")
            artist = User.objects.filter(pk=artist_id).first()
            if artist is None:
                raise serializers.ValidationError({"artist_id": ["No user with that id."]})
            if not artist.can_host:
                raise serializers.ValidationError({"artist_id": ["That user is not an artist."]})
        stream = services.stream_create(artist=artist, **data)
        return self._respond(stream, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        stream = self._managed()
        serializer = self.get_serializer(stream, data=request.data, partial=kwargs.get("partial", False))
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if "artist_id" in data and data.pop("artist_id") != stream.artist_id:
            raise serializers.ValidationError({"artist_id": ["The artist of a stream cannot change."]})
        stream = services.stream_update(stream=stream, data=data)
        return self._respond(stream)

    def destroy(self, request, *args, **kwargs):
        services.stream_delete(stream=self._managed())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        return self._respond(services.stream_start(stream_id=self._managed().id))

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def end(self, request, pk=None):
        return self._respond(media_services.stream_end_and_disconnect(stream_id=self._managed().id))

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._respond(services.stream_cancel(stream_id=self._managed().id))

    @extend_schema(request=None)
    @action(detail=True, methods=["post"], url_path="stream-key/rotate")
    def rotate_stream_key(self, request, pk=None):
        stream = services.stream_key_rotate(stream_id=self._managed().id)
        return Response({"streamKey": stream.stream_key})
