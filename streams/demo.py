"""The demo's media, made for real (development only): a synthetic encoder for the live demo show, and a
short real recording for the demo replay. ffmpeg's test picture and tone, nothing pretended."""

import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

DEMO_LIVE_TITLE = "Ask Me Anything"
DEMO_REPLAY_TITLE = "Last Week's Jam"
DEMO_REPLAY_SECONDS = 20


def ffmpeg_available() -> bool:
    return bool(shutil.which(settings.MEDIA_FFMPEG))


def encoder_command(*, stream_key: str) -> list[str]:
    """The demo encoder: test picture and a tone, in real time, to the platform's RTMP ingest."""
    command = [settings.MEDIA_FFMPEG, "-hide_banner", "-loglevel", "error", "-re"]
    command += ["-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30", "-f", "lavfi", "-i", "sine=frequency=440"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-b:v", "2500k"]
    command += ["-c:a", "aac", "-f", "flv", f"{settings.RTMP_INGEST_URL.rstrip('/')}/{stream_key}"]
    return command


def replay_files_make(directory: Path) -> tuple[Path, Path]:
    """A short real MP4 (test picture and tone, faststart) and its thumbnail, in `directory`."""
    video, thumbnail = directory / "replay.mp4", directory / "thumbnail.jpg"
    source = ["-f", "lavfi", "-i", f"testsrc=size=640x360:rate=15:duration={DEMO_REPLAY_SECONDS}"]
    source += ["-f", "lavfi", "-i", f"sine=frequency=330:duration={DEMO_REPLAY_SECONDS}"]
    encode = ["-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-c:a", "aac", "-movflags", "+faststart"]
    subprocess.run([settings.MEDIA_FFMPEG, "-v", "error", "-y", *source, *encode, str(video)], check=True, timeout=120)
    grab = ["-ss", "2", "-i", str(video), "-frames:v", "1", "-vf", "scale=-2:360", str(thumbnail)]
    subprocess.run([settings.MEDIA_FFMPEG, "-v", "error", "-y", *grab], check=True, timeout=60)
    return video, thumbnail


def replay_record(*, stream) -> None:
    """Give an ended demo stream a ready recording made now, stored like any finalized recording."""
    from .media.backends import get_backend
    from .models import LiveStreamRecording

    backend = get_backend()
    with tempfile.TemporaryDirectory(prefix="demo-replay-") as work:
        video, thumbnail = replay_files_make(Path(work))
        base = f"{stream.id}/demo"
        file_name = backend.recording_save(name=f"recordings/{base}.mp4", path=video)
        thumbnail_name = backend.recording_save(name=f"thumbnails/{base}.jpg", path=thumbnail)
        size = video.stat().st_size
    LiveStreamRecording.objects.create(
        stream=stream,
        status=LiveStreamRecording.Status.READY,
        file=file_name,
        thumbnail=thumbnail_name,
        duration_seconds=DEMO_REPLAY_SECONDS,
        width=640,
        height=360,
        size_bytes=size,
        bitrate_kbps=round(size * 8 / DEMO_REPLAY_SECONDS / 1000),
    )
