"""Viewers on other players through a real nginx-rtmp: a player that is not the watch page (no CMCD)
fetches the live HLS of an ffmpeg publish; nginx logs it; the fold makes it a viewer session."""

import re
from datetime import timedelta
from urllib.parse import urlparse
from urllib.request import Request, urlopen

import pytest
from django.utils import timezone

from analytics.hls_log_tasks import hls_log_fold_task
from analytics.models import ViewerSession
from streams.media.tests.media_support import media_server, needs_media, publisher, wait_for
from streams.models import LiveStream
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.media, needs_media]

VLC = "VLC/3.0.20 LibVLC/3.0.20"


@pytest.fixture
def media(settings, tmp_path, live_server, transactional_db):
    settings.HLS_X264_PRESET = "ultrafast"
    settings.HLS_SEGMENT_SECONDS = 1.0
    with media_server(settings, tmp_path, live_server.url) as configured:
        yield configured


def _get(url: str) -> bytes:
    with urlopen(Request(url, headers={"User-Agent": VLC}), timeout=10) as response:
        return response.read()


def test_a_player_without_cmcd_becomes_an_hls_viewer_session(media, client_for, artist):
    stream = stream_factory(artist=artist, scheduled_start_time=timezone.now() + timedelta(minutes=1))
    encoder = publisher(media, stream.stream_key, seconds=30, size="640x360")
    try:
        wait_for(lambda: LiveStream.objects.filter(pk=stream.pk, status="live").exists(), timeout=15, message="live")
        playback = client_for(artist).get(f"/api/livestreams/{stream.id}/playback").json()["url"]

        def variant():
            master = client_for(artist).get(urlparse(playback).path)
            lines = [line for line in master.content.decode().splitlines() if line.startswith("http")]
            return lines[0] if master.status_code == 200 and lines else None

        variant_url = wait_for(variant, timeout=30, message="the master playlist")

        def segments():
            listed = [line for line in _get(variant_url).decode().splitlines() if line.endswith(".ts")]
            return listed if len(listed) >= 3 else None

        names = wait_for(segments, timeout=30, message="three segments")[:3]
        for name in names:
            assert _get(variant_url.rsplit("/", 1)[0] + "/" + name)[:1] == b"G"
    finally:
        encoder.kill()
        encoder.wait()

    hls_log_fold_task.apply().get()
    session = ViewerSession.objects.get(stream=stream)
    assert session.source == "hls" and re.fullmatch(r"a[0-9a-f]{32}", session.viewer_key)
    assert session.watch_seconds == 3.0  # three segments of HLS_SEGMENT_SECONDS
    assert session.renditions == {"360p": 3.0}
    assert session.ended_at is None
