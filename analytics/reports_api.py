"""REST API of the analytics reports: one stream's audience (`GET /api/livestreams/{id}/analytics`) and an
artist's summary over their streams (`GET /api/analytics/summary`). Thin views: parameters validated here,
figures from analytics.selectors."""

import csv

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from livestream_site.errors import Forbidden
from streams.selectors import stream_manage_access

from .selectors import INTERVALS, artist_analytics_summary, stream_analytics_cached


class _RangeInput(serializers.Serializer):
    """`from` and `to` (ISO 8601 datetimes; `from` is a Python keyword, hence get_fields)."""

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(required=False)
        fields["to"] = serializers.DateTimeField(required=False)
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["to"] <= attrs["from"]:
            raise serializers.ValidationError({"to": ["Must be after from."]})
        return attrs


class StreamAnalyticsInput(_RangeInput):
    interval = serializers.ChoiceField(choices=INTERVALS, required=False, default="minute")


class SummaryInput(_RangeInput):
    def get_fields(self):
        fields = super().get_fields()
        fields["artistId"] = serializers.IntegerField(source="artist_id", required=False, min_value=1)
        return fields


# --- Output (documents the OpenAPI schema; keys are camelCased by the renderer) ---------------------------
class AnalyticsTotalsOutput(serializers.Serializer):
    unique_viewers = serializers.IntegerField()
    peak_concurrent_viewers = serializers.IntegerField()
    average_concurrent_viewers = serializers.FloatField()
    total_watch_seconds = serializers.FloatField()
    average_watch_seconds = serializers.FloatField(help_text="Watch time per unique viewer.")
    chat_messages = serializers.IntegerField()
    chatters = serializers.IntegerField()
    messages_per_viewer = serializers.FloatField()
    replay_views = serializers.IntegerField()
    tickets_sold = serializers.IntegerField(help_text="Over the stream's whole life (payments' revenue).")
    net_revenue = serializers.CharField(help_text="Gross minus refunds, in the stream's currency.")
    currency = serializers.CharField()


class AnalyticsSeriesPointOutput(serializers.Serializer):
    time = serializers.DateTimeField()
    concurrent_viewers = serializers.FloatField()
    peak_viewers = serializers.IntegerField()
    joins = serializers.IntegerField()
    watch_seconds = serializers.IntegerField()
    chat_messages = serializers.IntegerField()
    avg_bitrate_kbps = serializers.IntegerField(allow_null=True)
    rebuffer_ratio = serializers.FloatField(allow_null=True)


class AnalyticsGeographyOutput(serializers.Serializer):
    country = serializers.CharField(help_text='ISO 3166-1 alpha-2; "ZZ" unknown.')
    viewers = serializers.IntegerField()
    watch_seconds = serializers.FloatField()


class AnalyticsDeviceGroupOutput(serializers.Serializer):
    name = serializers.CharField()
    viewers = serializers.IntegerField()
    watch_seconds = serializers.FloatField()


class AnalyticsDevicesOutput(serializers.Serializer):
    device_class = AnalyticsDeviceGroupOutput(many=True)
    browser = AnalyticsDeviceGroupOutput(many=True)
    os = AnalyticsDeviceGroupOutput(many=True)


class AnalyticsRenditionOutput(serializers.Serializer):
    rendition = serializers.CharField()
    watch_seconds = serializers.FloatField()
    share = serializers.FloatField(allow_null=True)


class AnalyticsSubScoresOutput(serializers.Serializer):
    playback_success = serializers.FloatField()
    startup_time = serializers.FloatField()
    smoothness = serializers.FloatField()
    video_quality = serializers.FloatField()


class AnalyticsQoeOutput(serializers.Serializer):
    startup_time_p50_ms = serializers.IntegerField(allow_null=True)
    startup_time_p95_ms = serializers.IntegerField(allow_null=True)
    rebuffer_ratio = serializers.FloatField(allow_null=True, help_text="Rebuffer time / watch time.")
    rebuffer_frequency = serializers.FloatField(allow_null=True, help_text="Rebuffers per minute watched.")
    playback_failure_rate = serializers.FloatField(allow_null=True)
    exit_before_video_start_rate = serializers.FloatField(allow_null=True)
    upscale_ratio = serializers.FloatField(
        allow_null=True, help_text="Share of watch time with the player taller than the rendition."
    )
    score = serializers.FloatField(help_text="0-100, the mean of the four sub-scores (Mux's Viewer Experience).")
    sub_scores = AnalyticsSubScoresOutput()


class AnalyticsRetentionLiveOutput(serializers.Serializer):
    minute = serializers.IntegerField(help_text="Minutes since the stream started.")
    share = serializers.FloatField(help_text="Viewers in that minute / live viewers of the range.")


class AnalyticsRetentionReplayOutput(serializers.Serializer):
    second = serializers.IntegerField(help_text="Start of the bucket, in seconds of the replay.")
    share = serializers.FloatField(help_text="Replay views still watching there.")


class AnalyticsRetentionOutput(serializers.Serializer):
    live = AnalyticsRetentionLiveOutput(many=True)
    replay = AnalyticsRetentionReplayOutput(many=True)


class AnalyticsIngestOutput(serializers.Serializer):
    sampled_at = serializers.DateTimeField()
    bitrate_kbps = serializers.IntegerField(allow_null=True)
    fps = serializers.FloatField(allow_null=True)
    keyframe_interval_seconds = serializers.FloatField(allow_null=True)
    transcoder_speed = serializers.FloatField(allow_null=True)


class AnalyticsAlertOutput(serializers.Serializer):
    code = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()


class AnalyticsRenditionViewersOutput(serializers.Serializer):
    rendition = serializers.CharField()
    viewers = serializers.IntegerField()


class AnalyticsLiveOutput(serializers.Serializer):
    viewers = serializers.IntegerField(help_text="Open live sessions.")
    viewers_per_rendition = AnalyticsRenditionViewersOutput(many=True)
    ingest = AnalyticsIngestOutput(allow_null=True)
    alerts = AnalyticsAlertOutput(many=True)


class _RangeOutput(serializers.Serializer):
    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField()
        fields["to"] = serializers.DateTimeField()
        return fields


class StreamAnalyticsOutput(_RangeOutput):
    stream_id = serializers.UUIDField()
    status = serializers.CharField()
    interval = serializers.ChoiceField(choices=INTERVALS)
    totals = AnalyticsTotalsOutput()
    series = AnalyticsSeriesPointOutput(many=True)
    geography = AnalyticsGeographyOutput(many=True)
    devices = AnalyticsDevicesOutput()
    renditions = AnalyticsRenditionOutput(many=True)
    qoe = AnalyticsQoeOutput()
    retention = AnalyticsRetentionOutput()
    live = AnalyticsLiveOutput(allow_null=True, help_text="Only while the stream is live.")


class AnalyticsSummaryStreamOutput(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    unique_viewers = serializers.IntegerField()
    peak_concurrent_viewers = serializers.IntegerField()
    average_concurrent_viewers = serializers.FloatField()
    total_watch_seconds = serializers.FloatField()
    average_watch_seconds = serializers.FloatField()
    chat_messages = serializers.IntegerField()
    chatters = serializers.IntegerField()
    replay_views = serializers.IntegerField()
    tickets_sold = serializers.IntegerField()
    net_revenue = serializers.CharField(help_text="Gross minus refunds, in the stream's currency.")
    currency = serializers.CharField()


class AnalyticsSummaryTotalsOutput(serializers.Serializer):
    streams = serializers.IntegerField()
    unique_viewers = serializers.IntegerField()
    peak_concurrent_viewers = serializers.IntegerField()
    total_watch_seconds = serializers.FloatField()
    chat_messages = serializers.IntegerField()
    replay_views = serializers.IntegerField()
    tickets_sold = serializers.IntegerField()
    net_revenue = serializers.DictField(
        child=serializers.CharField(), help_text='Net revenue per currency (e.g. {"usd": "90.00"}).'
    )


class AnalyticsSummaryOutput(_RangeOutput):
    artist_id = serializers.IntegerField()
    streams = AnalyticsSummaryStreamOutput(many=True)
    totals = AnalyticsSummaryTotalsOutput()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = serializers.DateTimeField(allow_null=True)
        fields["to"] = serializers.DateTimeField(allow_null=True)
        return fields


_RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description="ISO 8601 datetime; default: the stream's start."),
    OpenApiParameter("to", str, description="ISO 8601 datetime; default: now."),
]


class StreamAnalyticsView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses=StreamAnalyticsOutput,
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("interval", str, enum=list(INTERVALS))],
    )
    def get(self, request, pk, format=None):
        """A stream's audience and quality of experience (its artist and staff), cached for a few seconds."""
        stream = stream_manage_access(user=request.user, stream_id=pk)
        params = StreamAnalyticsInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = params.validated_data
        data = stream_analytics_cached(
            stream=stream,
            start=values.get("from"),
            end=values.get("to"),
            interval=values["interval"],
            cache_key_params=f"{values.get('from')}|{values.get('to')}|{values['interval']}",
        )
        return Response(StreamAnalyticsOutput(data).data)


class ArtistAnalyticsSummaryView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses=AnalyticsSummaryOutput,
        parameters=[*_RANGE_PARAMETERS, OpenApiParameter("artistId", int, description="Staff only.")],
    )
    def get(self, request, format=None):
        """Per stream totals of the signed-in artist's streams (staff: any artist's) and totals over them."""
        params = SummaryInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = params.validated_data
        artist_id = values.get("artist_id") or request.user.id
        if artist_id != request.user.id and not request.user.is_staff:
            raise Forbidden("Only staff can read another artist's analytics.")
        if artist_id == request.user.id and not request.user.can_host:
            raise Forbidden("Only artists have stream analytics.", code="not_an_artist")
        data = artist_analytics_summary(artist_id=artist_id, start=values.get("from"), end=values.get("to"))
        return Response(AnalyticsSummaryOutput(data).data)


# The per-minute series as CSV: one row per rolled-up minute, the columns of `series` in the JSON answer.
CSV_COLUMNS = (
    "time",
    "concurrent_viewers",
    "peak_viewers",
    "joins",
    "watch_seconds",
    "chat_messages",
    "avg_bitrate_kbps",
    "rebuffer_ratio",
)


class StreamAnalyticsCsvView(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(
        request=None,
        responses={(200, "text/csv"): OpenApiTypes.STR},
        parameters=_RANGE_PARAMETERS,
    )
    def get(self, request, pk, format=None):
        """A stream's per-minute series as CSV (its artist and staff): time (UTC, ISO 8601), concurrent viewers,
        peak viewers, joins, watch seconds, chat messages, average bitrate (kbps) and rebuffer ratio."""
        stream = stream_manage_access(user=request.user, stream_id=pk)
        params = _RangeInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        values = params.validated_data
        data = stream_analytics_cached(
            stream=stream,
            start=values.get("from"),
            end=values.get("to"),
            interval="minute",
            cache_key_params=f"{values.get('from')}|{values.get('to')}|minute",
        )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="livestage-{stream.id}-analytics.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for point in data["series"]:
            row = {**point, "time": point["time"].isoformat()}
            writer.writerow(["" if row[column] is None else row[column] for column in CSV_COLUMNS])
        return response
