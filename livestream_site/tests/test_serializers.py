"""FastOutput writes what DRF's own Serializer.to_representation writes, value for value."""

import json
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from accounts.tests.factories import UserFactory
from livestream_site.renderers import CamelCaseJSONRenderer
from livestream_site.serializers import FastOutput
from streams.api import LiveStreamOutput
from streams.models import LiveStream
from streams.tests.factories import stream_factory


def _rendered(streams, *, user=None, drf: bool, monkeypatch) -> dict:
    request = APIRequestFactory().get("/api/livestreams")
    request.user = user
    with monkeypatch.context() as patch:
        if drf:
            patch.setattr(FastOutput, "to_representation", serializers.Serializer.to_representation)
        data = LiveStreamOutput(streams, many=True, context={"request": request}).data
    return json.loads(CamelCaseJSONRenderer().render(data))


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "America/Sao_Paulo"])
def test_fast_output_matches_drf_on_every_kind_of_stream_field(monkeypatch, artist, zone):
    streams = [
        stream_factory(artist=artist),
        stream_factory(artist=artist, status="live", is_pay_per_view=True, ticket_price=Decimal("12.5")),
        stream_factory(
            artist=artist, status="ended", description="", stream_settings={"bitrate": 2500, "video_codec": "h264"}
        ),
        stream_factory(artist=artist, status="cancelled", max_quality="medium"),
    ]
    LiveStream.objects.filter(pk=streams[1].pk).update(quality_cap="low")
    stored = list(LiveStream.objects.select_related("artist").filter(pk__in=[s.pk for s in streams]))
    # Fresh instances (enum members, values as assigned) and stored ones (as read back from the database).
    fresh = LiveStream(
        artist=artist, title="Unsaved", scheduled_start_time=timezone.now(), type=LiveStream.Type.CONCERT
    )
    candidates = [*streams, *stored, fresh]
    with timezone.override(zone):
        for user in (None, artist, UserFactory()):  # the stream key: the artist's only
            ours = _rendered(candidates, user=user, drf=False, monkeypatch=monkeypatch)
            theirs = _rendered(candidates, user=user, drf=True, monkeypatch=monkeypatch)
            assert ours == theirs
    assert [stream["qualityCap"] for stream in ours[4:8]].count("low") == 1  # read back: the update shows
    assert ours[0]["scheduledStartTime"].endswith("Z" if zone == "UTC" else "-03:00")
    assert ours[1]["ticketPrice"] == "12.50" and ours[-1]["title"] == "Unsaved"
