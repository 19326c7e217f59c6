"""A second media backend plugs in through settings alone: the services, the API and run_media reach the
media system only through get_backend(), never nginx's file layout or URLs.

StandInBackend below is such a backend, configured by its dotted path; it records what the platform
asks of it. Nothing outside this module is changed to use it.
"""

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.utils import timezone

from livestream_site.errors import Forbidden
from streams.media import services as media_services
from streams.media.backends import Rendition, StreamingBackend, get_backend
from streams.models import LiveStreamRecording
from streams.tests.factories import stream_factory

CALLS: list[tuple] = []
PLACES: dict[str, Path] = {}


class StandInBackend(StreamingBackend):
    """A media system that keeps its recorded parts as "<parts>/<stream id>.part" and signs nothing."""

    name = "standin"

    def ingest_info(self, *, stream) -> dict:
        return {"url": "rtmps://ingest.standin.test/app", "streamKey": f"standin-{stream.id}"}

    def is_publishing(self, *, stream) -> bool | None:
        return None

    def publisher_drop(self, *, stream) -> None:
        CALLS.append(("publisher_drop", str(stream.id)))

    def health(self, *, stream) -> dict:
        return {"mediaServerReachable": True, "publishing": True, "ingest": {"bitrateKbps": 1234}}

    def renditions(self, *, stream) -> list[Rendition]:
        return [Rendition(name="480p", height=480, width=854)]

    def playback_url(self, *, stream, expires_at: datetime, viewer_id=None) -> str:
        return f"https://play.standin.test/{stream.id}.m3u8?until={int(expires_at.timestamp())}"

    def output_remove(self, *, stream_id) -> None:
        CALLS.append(("output_remove", str(stream_id)))

    def recording_part_stream_id(self, *, path: str) -> str | None:
        part = Path(path)
        if part.parent != PLACES["parts"] or part.suffix != ".part":
            return None
        return part.stem

    def recording_save(self, *, name: str, path: Path) -> str:
        target = PLACES["store"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        return f"standin/{name}"

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        return f"https://vod.standin.test/{name}"


@pytest.fixture
def standin(settings, tmp_path):
    settings.STREAMING_BACKEND = f"{__name__}.StandInBackend"
    PLACES.update(parts=tmp_path / "parts", store=tmp_path / "store")
    PLACES["parts"].mkdir()
    CALLS.clear()
    yield StandInBackend
    CALLS.clear()


def test_get_backend_returns_the_configured_backend(standin, settings):
    assert isinstance(get_backend(), standin)
    settings.STREAMING_BACKEND = "rtmp"
    assert get_backend().name == "rtmp"
    settings.STREAMING_BACKEND = "no-such-backend"
    with pytest.raises(ValueError, match="no-such-backend"):
        get_backend()


@pytest.mark.django_db
def test_the_api_asks_the_configured_backend(standin, client_for, artist, viewer):
    stream = stream_factory(artist=artist, scheduled_start_time=timezone.now() + timedelta(minutes=5))
    media_services.ingest_publish(stream_key=stream.stream_key, client_id="c1")

    ingest = client_for(artist).get(f"/api/livestreams/{stream.id}/ingest").json()
    assert ingest == {"url": "rtmps://ingest.standin.test/app", "streamKey": f"standin-{stream.id}"}
    playback = client_for(viewer).get(f"/api/livestreams/{stream.id}/playback/").json()
    assert playback["type"] == "hls" and playback["url"].startswith(f"https://play.standin.test/{stream.id}.m3u8")
    health = client_for(artist).get(f"/api/livestreams/{stream.id}/health").json()
    assert (health["backend"], health["ingest"], health["renditions"][0]["name"]) == (
        "standin",
        {"bitrateKbps": 1234},
        "480p",
    )

    ended = client_for(artist).post(f"/api/livestreams/{stream.id}/end")
    assert ended.status_code == 200 and ("publisher_drop", str(stream.id)) in CALLS


@pytest.mark.django_db
@pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed")
def test_recordings_live_where_the_backend_says(
    standin, client_for, artist, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr(media_services, "run_later", lambda task, **kwargs: enqueued.append((task.name, kwargs)))
    stream = stream_factory(
        artist=artist, scheduled_start_time=timezone.now() + timedelta(minutes=5), is_recording_enabled=True
    )
    media_services.ingest_publish(stream_key=stream.stream_key, client_id="c1")

    # A part named the nginx way means nothing to this backend; its own layout does.
    nginx_named = PLACES["parts"] / f"{stream.id}-1700000000.flv"
    nginx_named.write_bytes(b"FLV")
    with pytest.raises(Forbidden):
        media_services.recording_part_add(path=str(nginx_named))
    part = PLACES["parts"] / f"{stream.id}.part"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10", "-t", "2"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-f", "flv", str(part)],
        check=True,
    )
    recording = media_services.recording_part_add(path=str(part))
    assert recording.source_paths == [str(part.resolve())]

    with django_capture_on_commit_callbacks(execute=True):
        media_services.ingest_publish_done(client_id="c1", stream_key=stream.stream_key)
        media_services.ingest_reconnect_window_expire(stream_id=stream.id, generation=1)
    assert ("output_remove", str(stream.id)) in CALLS
    assert [name for name, _ in enqueued] == [
        "streams.media.tasks.ingest_reconnect_window_expire",
        "streams.media.tasks.recording_finalize",
    ]

    media_services.recording_finalize(recording_id=recording.id)
    recording.refresh_from_db()
    assert recording.status == LiveStreamRecording.Status.READY, recording.error
    assert recording.file.name == f"standin/recordings/{stream.id}/{recording.id}.mp4"
    assert (PLACES["store"] / f"recordings/{stream.id}/{recording.id}.mp4").stat().st_size == recording.size_bytes
    assert not part.exists()
    [listed] = client_for(artist).get(f"/api/livestreams/{stream.id}/recordings").json()
    assert listed["url"] == f"https://vod.standin.test/{recording.file.name}"


def test_run_media_idles_for_a_backend_without_a_local_media_server(standin, monkeypatch, capsys):
    from streams.management.commands import run_media

    paused = []
    monkeypatch.setattr(run_media.signal, "pause", lambda: paused.append(True))
    monkeypatch.setattr(run_media.os, "execv", lambda *args: pytest.fail("nothing to exec"))
    call_command("run_media")
    assert paused == [True] and "standin" in capsys.readouterr().out
