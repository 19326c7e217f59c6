"""Writes of the media plane: publishes and their end, the reconnect window, recordings and replays.

Everything the media system decides (where files are, how a part names its stream, how a replay is
stored) is asked of the configured backend (`get_backend()`); the lifecycle is streams.services.
"""

import json
import logging
import subprocess
import tempfile
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from livestream_site.celery import run_later
from livestream_site.errors import ApplicationError, Conflict, Forbidden
from streams import services as stream_services
from streams.models import LiveStream, LiveStreamRecording, MediaProviderEvent, StreamIngest

from .backends import MediaEvent, MediaProviderError, get_backend

logger = logging.getLogger(__name__)

S = LiveStream.Status
R = LiveStreamRecording.Status


class RecordingError(Exception):
    """ffmpeg or ffprobe could not turn the recorded parts into a verified MP4."""


# --- Ingest -----------------------------------------------------------------------------------
def ingest_publish(*, stream_key: str, client_id: str = "", client_addr: str = "") -> LiveStream:
    """The media server asks whether an encoder may publish with this key; refuse or go live."""
    with transaction.atomic():
        stream = (
            LiveStream.objects.select_for_update(of=("self",)).select_related("artist").filter(stream_key=stream_key)
        ).first()
        if stream is None or not stream_key:
            raise Forbidden("Unknown stream key.", code="unknown_stream_key")
        if stream.status in (S.ENDED, S.CANCELLED):
            raise Forbidden(f"The stream is {stream.status}.", code="stream_closed")
        opens_at = stream.scheduled_start_time - timedelta(seconds=settings.STREAM_PUBLISH_OPENS_SECONDS)
        if stream.status == S.SCHEDULED and timezone.now() < opens_at:
            raise Forbidden(f"Publishing opens at {opens_at.isoformat()}.", code="too_early")
        ingest, _ = StreamIngest.objects.get_or_create(stream=stream)
        # The database can miss a publish_done when the media server died: trust what it reports now.
        if ingest.is_publishing and get_backend().is_publishing(stream=stream) is not False:
            raise Forbidden("The stream key is already publishing.", code="already_publishing")
        ingest.generation += 1
        ingest.is_publishing = True
        ingest.client_id = client_id[:32]
        ingest.client_addr = client_addr[:64]
        ingest.publish_started_at = timezone.now()
        if stream.is_recording_enabled and (ingest.recording is None or ingest.recording.status != R.RECORDING):
            ingest.recording = LiveStreamRecording.objects.create(stream=stream, status=R.RECORDING)
        ingest.save()
        logger.info("stream %s: publish #%s from %s", stream.id, ingest.generation, client_addr or "?")
        if stream.status == S.SCHEDULED and stream.go_live_on_publish:
            stream = stream_services.stream_start(stream_id=stream.id)
        elif stream.status == S.SCHEDULED:  # a test of the encoder before the show: the artist goes live
            logger.info("stream %s: encoder test before the show (not live)", stream.id)
    return stream


def ingest_publish_done(*, client_id: str, stream_key: str) -> None:
    """The encoder stopped: end the stream unless it comes back within the reconnect window."""
    with transaction.atomic():
        publishing = StreamIngest.objects.select_for_update().filter(is_publishing=True)
        # The connection id decides: a stale publish_done arriving after a reconnect's on_publish
        # names the old connection and must not end the new one.
        if client_id:
            ingest = publishing.filter(client_id=client_id).order_by("-publish_started_at").first()
        else:
            ingest = publishing.filter(stream__stream_key=stream_key).first() if stream_key else None
        if ingest is None:
            logger.debug("publish_done of client %s: no such publish", client_id)
            return
        stream_id = ingest.stream_id
        ingest.is_publishing = False
        ingest.publish_ended_at = timezone.now()
        ingest.save(update_fields=["is_publishing", "publish_ended_at", "updated_at"])
        generation = ingest.generation
        logger.info(
            "stream %s: publish #%s done; ending in %ss unless it reconnects",
            stream_id,
            generation,
            settings.STREAM_RECONNECT_WINDOW_SECONDS,
        )
        from .tasks import ingest_reconnect_window_expire

        transaction.on_commit(
            lambda: run_later(
                ingest_reconnect_window_expire,
                args=[str(stream_id), generation],
                countdown=settings.STREAM_RECONNECT_WINDOW_SECONDS,
            )
        )


def ingest_reconcile() -> int:
    """Treat as done the publishes the media server no longer has (nginx sends a callback once and
    never again: a publish_done lost while the platform restarted would keep a stream live forever).
    Returns how many were closed. Scheduled every minute (CELERY_BEAT_SCHEDULE)."""
    backend = get_backend()
    closed = 0
    for ingest in StreamIngest.objects.filter(is_publishing=True).select_related("stream"):
        if backend.is_publishing(stream=ingest.stream) is False:
            logger.warning("stream %s: the media server has no publish, closing it", ingest.stream_id)
            ingest_publish_done(client_id=ingest.client_id, stream_key=ingest.stream.stream_key)
            closed += 1
    return closed


def ingest_reconnect_window_expire(*, stream_id: UUID | str, generation: int) -> None:
    """End the stream if no publish came since publish #generation ended; finalize its recording."""
    with transaction.atomic():
        ingest = StreamIngest.objects.select_for_update().filter(stream_id=stream_id).first()
        if ingest is None or ingest.is_publishing or ingest.generation != generation:
            logger.debug("stream %s: reconnected within the window, stays live", stream_id)
            return
        stream = LiveStream.objects.get(pk=stream_id)
        if stream.status == S.LIVE:
            stream_services.stream_end(stream_id=stream_id)
        transaction.on_commit(lambda: get_backend().output_remove(stream_id=stream_id))
        recording_id = ingest.recording_id
        if recording_id:
            ingest.recording = None
            ingest.save(update_fields=["recording", "updated_at"])
    # A media system that records itself says when its replay is ready (recording_provider_ready).
    if recording_id and not get_backend().records_itself:
        recording_finalize_enqueue(recording_id=recording_id)


def stream_end_and_disconnect(*, stream_id: UUID | str) -> LiveStream:
    """End the stream (the artist or staff did) and disconnect its encoder, if one is sending."""
    stream = stream_services.stream_end(stream_id=stream_id)
    get_backend().publisher_drop(stream=stream)
    return stream


# --- Recordings -------------------------------------------------------------------------------
def recording_part_add(*, path: str) -> LiveStreamRecording | None:
    """The media server closed a recorded file of a publish (a part: reconnects add more)."""
    stream_id = get_backend().recording_part_stream_id(path=path)
    if stream_id is None:
        raise Forbidden("Not a recording of this media server.", code="bad_recording_path")
    part = Path(path).resolve()
    with transaction.atomic():
        stream = LiveStream.objects.select_for_update().filter(pk=stream_id).first()
        ingest = StreamIngest.objects.select_for_update().filter(stream_id=stream_id).first()
        recording = ingest.recording if ingest else None
        if stream is None or not stream.is_recording_enabled:
            # nginx records every publish; streams without recording keep nothing.
            part.unlink(missing_ok=True)
            logger.debug("stream %s: recording not enabled, %s discarded", stream_id, part.name)
            return None
        if recording is None:
            # A part after the recording was handed to finalization (the stream was ended while the
            # encoder was still sending): it becomes a recording of its own.
            recording = LiveStreamRecording.objects.create(stream=stream, status=R.RECORDING)
        if str(part) not in recording.source_paths:
            recording.source_paths = [*recording.source_paths, str(part)]
            recording.save(update_fields=["source_paths", "updated_at"])
        logger.info("stream %s: recording %s + %s", stream_id, recording.id, part.name)
        if stream.status == S.ENDED and not (ingest and ingest.is_publishing):
            if ingest and ingest.recording_id == recording.id:
                ingest.recording = None
                ingest.save(update_fields=["recording", "updated_at"])
            recording_finalize_enqueue(recording_id=recording.id)
    return recording


def recording_finalize_enqueue(*, recording_id: UUID | str) -> None:
    """Finalize the recording in a task once the caller's transaction commits."""
    from .tasks import recording_finalize

    transaction.on_commit(lambda: run_later(recording_finalize, args=[str(recording_id)]))


def _probe(path: Path) -> dict:
    command = [settings.MEDIA_FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if result.returncode:
        raise RecordingError(f"ffprobe {path.name}: {result.stderr.strip()[-500:]}")
    return json.loads(result.stdout)


def _ffmpeg(*args: str) -> None:
    result = subprocess.run(
        [settings.MEDIA_FFMPEG, "-hide_banner", "-v", "error", "-y", *args], capture_output=True, text=True
    )
    if result.returncode:
        raise RecordingError(f"ffmpeg: {result.stderr.strip()[-500:]}")


class RecordingBusy(Exception):
    """Another finalization of the recording holds its lock: try again later."""


def recording_finalize(*, recording_id: UUID | str) -> LiveStreamRecording:
    """Join and remux the parts into a faststart MP4, probe it, thumbnail it, store it. Idempotent."""
    # One finalization of a recording at a time: a duplicate task is told to come back later (it must
    # not be dropped: the holder may be a worker that died, whose lock lapses after
    # RECORDING_FINALIZE_LOCK_SECONDS, longer than a finalization may run).
    lock = f"streams:recording-finalize:{recording_id}"
    if not cache.add(lock, "1", timeout=settings.RECORDING_FINALIZE_LOCK_SECONDS):
        logger.info("recording %s: finalization already running", recording_id)
        raise RecordingBusy(recording_id)
    try:
        return _recording_finalize(recording_id=recording_id)
    finally:
        cache.delete(lock)


def _recording_finalize(*, recording_id: UUID | str) -> LiveStreamRecording:
    with transaction.atomic():
        recording = LiveStreamRecording.objects.select_for_update().get(pk=recording_id)
        if recording.status == R.READY:
            return recording
        recording.status = R.PROCESSING
        recording.attempts += 1
        recording.save(update_fields=["status", "attempts", "updated_at"])
    parts = [Path(p) for p in recording.source_paths if Path(p).exists() and Path(p).stat().st_size > 0]
    if not parts:
        raise RecordingError("No recorded file left to finalize.")
    expected = sum(float(_probe(p).get("format", {}).get("duration") or 0) for p in parts)
    with tempfile.TemporaryDirectory(prefix="recording-") as work:
        work = Path(work)
        output, thumbnail = work / "replay.mp4", work / "thumbnail.jpg"
        if len(parts) == 1:
            inputs = ["-i", str(parts[0])]
        else:
            listing = work / "parts.txt"
            listing.write_text("".join(f"file '{p}'\n" for p in parts))
            inputs = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        _ffmpeg(*inputs, "-map", "0", "-c", "copy", "-movflags", "+faststart", str(output))
        info = _probe(output)
        duration = float(info.get("format", {}).get("duration") or 0)
        video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), None)
        # The sources stay until the output is verified: it plays, and it is as long as they are.
        if video is None or duration <= 0 or (expected and duration < expected - 1.5):
            raise RecordingError(f"Remuxed file failed verification: {duration:.2f}s of {expected:.2f}s expected.")
        _ffmpeg(
            "-ss",
            f"{min(1.0, duration / 2):.2f}",
            "-i",
            str(output),
            "-frames:v",
            "1",
            "-vf",
            "scale=-2:360",
            str(thumbnail),
        )
        base = f"{recording.stream_id}/{recording.id}"
        size = int(info["format"].get("size") or output.stat().st_size)
        backend = get_backend()
        file_name = backend.recording_save(name=f"recordings/{base}.mp4", path=output)
        thumbnail_name = backend.recording_save(name=f"thumbnails/{base}.jpg", path=thumbnail)
    with transaction.atomic():
        recording = LiveStreamRecording.objects.select_for_update().get(pk=recording_id)
        recording.file.name = file_name
        recording.thumbnail.name = thumbnail_name
        recording.duration_seconds = round(duration, 3)
        recording.width = video.get("width")
        recording.height = video.get("height")
        recording.size_bytes = size
        bit_rate = info["format"].get("bit_rate")
        recording.bitrate_kbps = round(int(bit_rate) / 1000) if bit_rate else None
        recording.status = R.READY
        recording.error = ""
        recording.save()
    if not settings.MEDIA_KEEP_RECORDING_SOURCES:
        for part in parts:
            part.unlink(missing_ok=True)
    logger.info("recording %s ready: %.1fs %sx%s", recording.id, duration, recording.width, recording.height)
    return recording


def recording_fail(*, recording_id: UUID | str, error: str) -> None:
    LiveStreamRecording.objects.filter(pk=recording_id).exclude(status=R.READY).update(
        status=R.FAILED, error=error[:2000], updated_at=timezone.now()
    )
    logger.error("recording %s failed: %s", recording_id, error)


# --- Managed media systems: the stream's resource, key rotation and the provider's events ----------
class MediaProvisionBusy(Exception):
    """Another provisioning of the stream is running: try again later."""


def media_provider_error(exc: MediaProviderError) -> ApplicationError:
    """What the API answers when a provider call it cannot wait for fails: 502 media_provider_error."""
    return ApplicationError(f"The media provider failed: {exc}", code="media_provider_error", status_code=502)


def stream_media_saved(*, stream: LiveStream, created: bool) -> None:
    """A stream was created or changed (inside its transaction): refuse what the media system cannot carry
    (400 naming the field), and provision its resource once committed."""
    backend = get_backend()
    errors = backend.stream_errors(stream=stream)
    if errors:
        raise ApplicationError(
            " ".join(m for msgs in errors.values() for m in msgs), code="validation_error", fields=errors
        )
    if backend.provisions:
        stream_media_provision_enqueue(stream_id=stream.id)


def stream_media_provision_enqueue(*, stream_id: UUID | str) -> None:
    from .tasks import stream_media_provision as task

    transaction.on_commit(lambda: task.delay(str(stream_id)))


def stream_media_provision(*, stream_id: UUID | str) -> LiveStream | None:
    """Create the stream's resource on the media system, or bring it in line with the stream. Idempotent
    (the backend finds what an interrupted attempt created); raises MediaProviderError for the task to
    retry, after noting the error on the stream. Outside any transaction: no lock is held over the call."""
    backend = get_backend()
    if not backend.provisions:
        return None
    lock = f"streams:media-provision:{stream_id}"
    if not cache.add(lock, "1", timeout=settings.MEDIA_PROVISION_LOCK_SECONDS):
        raise MediaProvisionBusy(stream_id)
    try:
        stream = LiveStream.objects.filter(pk=stream_id).first()
        if stream is None:
            return None
        resource = stream.media_resource if stream.media_backend == backend.name else {}
        try:
            resource = backend.stream_provision(stream=stream, resource=resource)
        except MediaProviderError as exc:
            LiveStream.objects.filter(pk=stream_id).update(media_error=str(exc)[:500])
            logger.warning("stream %s: provisioning on %s failed: %s", stream_id, backend.name, exc)
            raise
        with transaction.atomic():
            stream = LiveStream.objects.select_for_update().filter(pk=stream_id).first()
            if stream is None:  # deleted while the provider worked: delete what it made
                stream_media_deprovision_enqueue(backend_name=backend.name, resource=resource)
                return None
            stream.media_backend, stream.media_resource, stream.media_error = backend.name, resource, ""
            stream.save(update_fields=["media_backend", "media_resource", "media_error", "updated_at"])
        logger.info("stream %s: provisioned on %s", stream_id, backend.name)
        return stream
    finally:
        cache.delete(lock)


def stream_media_deleted(*, stream: LiveStream) -> None:
    """A stream is being deleted (inside its transaction): delete its resource once that commits."""
    if stream.media_backend:
        stream_media_deprovision_enqueue(backend_name=stream.media_backend, resource=stream.media_resource)


def stream_media_deprovision_enqueue(*, backend_name: str, resource: dict) -> None:
    from .tasks import stream_media_deprovision as task

    transaction.on_commit(lambda: task.delay(backend_name, resource))


def stream_media_deprovision(*, backend_name: str, resource: dict) -> None:
    get_backend(backend_name).stream_deprovision(resource=resource)
    logger.info("media resource %s deleted on %s", resource.get("id"), backend_name)


def media_reconcile() -> int:
    """Provision the scheduled and live streams the media system has no resource for yet (a provider
    outage outlasted the task's retries, or the operator switched systems). Returns how many were
    enqueued. Scheduled every few minutes (CELERY_BEAT_SCHEDULE)."""
    backend = get_backend()
    if not backend.provisions:
        return 0
    missing = (
        LiveStream.objects.filter(status__in=[S.SCHEDULED, S.LIVE])
        .exclude(media_backend=backend.name)
        .values_list("id", flat=True)
    )
    count = 0
    for stream_id in missing:
        stream_media_provision_enqueue(stream_id=stream_id)
        count += 1
    return count


def media_poll() -> int:
    """Ask a media system that sends no callbacks (Wowza, Agora) about each stream that is live or whose publishing
    window is open, and apply what it reports. Returns how many streams were asked. Every few seconds
    (CELERY_BEAT_SCHEDULE)."""
    backend = get_backend()
    if not backend.polls:
        return 0
    opens_before = timezone.now() + timedelta(seconds=settings.STREAM_PUBLISH_OPENS_SECONDS)
    recent = timezone.now() - timedelta(days=1)  # recordings finish after the end
    streams = (
        LiveStream.objects.filter(media_backend=backend.name)
        .filter(
            Q(status=S.LIVE)
            | Q(status=S.SCHEDULED, scheduled_start_time__lte=opens_before)
            | Q(status=S.ENDED, ended_at__gte=recent, recordings__status=R.RECORDING)  # a replay to come
        )
        .distinct()
        .select_related("ingest")
    )
    asked = 0
    for stream in streams:
        try:
            events = backend.stream_poll(stream=stream)
        except MediaProviderError as exc:
            logger.warning("stream %s: polling %s failed: %s", stream.id, backend.name, exc)
            continue
        # A poll reports the state it sees each time: only a change is an event (and is kept as one).
        ingest = getattr(stream, "ingest", None)
        publishing = ingest is not None and ingest.is_publishing
        changes = [
            event
            for event in events
            if not (event.kind == "publish_started" and publishing and ingest.client_id == event.session[:32])
            and not (event.kind == "publish_ended" and not publishing)
        ]
        provider_events_apply(events=changes)
        asked += 1
    return asked


def stream_key_rotate(*, stream_id: UUID | str) -> dict:
    """Rotate the encoder's key, on the media system too; returns the new ingest settings. A provider
    that fails answers 502; rotating again completes it (IVS: the old key may already be deleted)."""
    backend = get_backend()
    if backend.provisions:  # nothing is rotated before the media system has the stream
        media_ready_check(stream=LiveStream.objects.get(pk=stream_id), backend=backend)
    stream = stream_services.stream_key_rotate(stream_id=stream_id)
    if backend.provisions:
        try:
            resource = backend.stream_key_rotate(stream=stream, resource=stream.media_resource)
        except MediaProviderError as exc:
            raise media_provider_error(exc) from exc
        with transaction.atomic():
            stream = LiveStream.objects.select_for_update().get(pk=stream.id)
            stream.media_resource = resource
            stream.save(update_fields=["media_resource", "updated_at"])
    return backend.ingest_info(stream=stream)


def media_ready_check(*, stream: LiveStream, backend=None) -> None:
    """Refuse (409 media_not_ready) what needs the stream's resource before the media system made it."""
    backend = backend or get_backend()
    if backend.provisions and stream.media_backend != backend.name:
        raise Conflict(
            "The media system is still preparing this stream: try again in a moment.", code="media_not_ready"
        )


def provider_events_apply(*, events: list[MediaEvent]) -> int:
    """Apply what the media system reported, each event once (a redelivery is skipped). Returns how many
    were new."""
    backend = get_backend()
    applied = 0
    for event in events:
        with transaction.atomic():
            _, created = MediaProviderEvent.objects.get_or_create(
                backend=backend.name, event_id=event.id[:128], defaults={"event_type": event.kind[:64]}
            )
            if not created:
                logger.info("%s event %s: already applied", backend.name, event.id)
                continue
            _provider_event_apply(backend=backend, event=event)
            applied += 1
    return applied


def _provider_event_apply(*, backend, event: MediaEvent) -> None:
    holders = LiveStream.objects.filter(media_backend=backend.name, media_resource__id=event.resource_id)
    # One resource per stream, or one shared by all (AWS_IVS_CHANNEL_ARN): the live one, else the next one.
    stream = (
        holders.filter(status=S.LIVE).first()
        or holders.filter(status=S.SCHEDULED).order_by("scheduled_start_time").first()
        or holders.order_by("-ended_at").first()
    )
    if stream is None:
        logger.warning("%s event %s: no stream has resource %s", backend.name, event.id, event.resource_id)
        return
    session = event.session[:32]
    if event.resource:
        # Merged, not replaced: a key rotation may have changed other entries since the poll read them.
        locked = LiveStream.objects.select_for_update().get(pk=stream.pk)
        locked.media_resource = {**locked.media_resource, **event.resource}
        locked.save(update_fields=["media_resource", "updated_at"])
        stream.media_resource = locked.media_resource
    if event.kind == "publish_started":
        ingest = StreamIngest.objects.select_for_update().filter(stream=stream, is_publishing=True).first()
        if ingest and ingest.client_id == session:
            return  # this session is the running publish already
        if ingest:
            # A managed system runs one session per resource: a new one means the old one ended, whatever
            # the order its events arrive in (the new generation keeps the old window from ending it).
            ingest.is_publishing = False
            ingest.publish_ended_at = timezone.now()
            ingest.save(update_fields=["is_publishing", "publish_ended_at", "updated_at"])
        try:
            ingest_publish(stream_key=stream.stream_key, client_id=session)
        except Forbidden as exc:
            if exc.code != "stream_closed":
                logger.warning("stream %s: publish on %s refused (%s)", stream.id, backend.name, exc.code)
                return
            # The media system let an encoder into a stream that has ended: stop it.
            logger.warning("stream %s: publish refused (%s), stopping the encoder", stream.id, exc.code)
            transaction.on_commit(lambda: get_backend().publisher_drop(stream=stream))
    elif event.kind == "publish_ended":
        ingest_publish_done(client_id=session, stream_key=stream.stream_key)
    elif event.kind == "recording_ready":
        recording_provider_ready(stream=stream, **(event.recording or {}))
    elif event.kind == "recording_failed":
        recording = stream.recordings.filter(status=R.RECORDING).order_by("created_at").first()
        if recording:
            recording_fail(recording_id=recording.id, error="The media system could not record the stream.")


def recording_provider_ready(*, stream: LiveStream, name: str, thumbnail: str = "", durationSeconds=None) -> None:  # noqa: N803
    """The media system stored a replay of the stream (it records itself): the oldest recording still being
    written becomes it, or a new one when none is (a stream without a publish the platform heard of)."""
    if not stream.is_recording_enabled:
        return
    StreamIngest.objects.select_for_update().filter(stream=stream).first()
    recording = stream.recordings.filter(status=R.RECORDING).order_by("created_at").first()
    if recording is None:
        recording = LiveStreamRecording(stream=stream)
    recording.file.name = name
    recording.thumbnail.name = thumbnail
    recording.duration_seconds = durationSeconds
    recording.status = R.READY
    recording.error = ""
    recording.save()
    StreamIngest.objects.filter(stream=stream, recording=recording).update(recording=None)
    logger.info("stream %s: recording %s ready on the media system", stream.id, recording.id)
