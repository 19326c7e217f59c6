"""The sampling task against a real publish: nginx-rtmp, the ffmpeg ladder and an ffmpeg encoder on loopback."""

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.media.tests.media_support import media_server, needs_media, publisher, wait_for
from streams.models import LiveStream
from streams.tests.factories import stream_factory

from ..models import IngestSample
from ..monitoring_tasks import ingest_sample_task

pytestmark = [pytest.mark.media, needs_media]


@pytest.fixture
def media(settings, tmp_path, live_server, transactional_db):
    settings.HLS_X264_PRESET = "ultrafast"
    settings.HLS_SEGMENT_SECONDS = 2.0
    with media_server(settings, tmp_path, live_server.url) as configured:
        yield configured


def test_a_real_publish_is_sampled_with_bitrate_fps_keyframes_and_transcoder_speed(media, artist):
    stream = stream_factory(artist=artist, scheduled_start_time=timezone.now() + timedelta(minutes=1))
    encoder = publisher(media, stream.stream_key, seconds=40)
    try:
        wait_for(lambda: LiveStream.objects.filter(pk=stream.id, status="live").exists(), timeout=15, message="live")

        def sampled():
            ingest_sample_task.apply()
            sample = IngestSample.objects.filter(stream=stream).order_by("-sampled_at").first()
            return sample if sample and sample.transcoder_speed and sample.bitrate_kbps else None

        sample = wait_for(sampled, timeout=30, interval=1, message="a sample with a transcoder speed")
        assert sample.transcoder_speed > 0
        assert sample.fps == 30
        assert sample.keyframe_interval_seconds == pytest.approx(2.0, abs=0.2)  # -g 60 at 30 fps: no mismatch
    finally:
        encoder.kill()
        encoder.wait()
