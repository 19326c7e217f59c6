"""Stream services below the API: rules, database constraints, events after commit, keys, demo data."""

import re
import secrets
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from livestream_site.errors import Conflict, Forbidden
from payments.models import LiveStreamPayment
from streams import services
from streams.models import LiveStream
from streams.signals import stream_cancelled, stream_ended
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db


def tomorrow():
    return timezone.now() + timedelta(days=1)


# --- Create and its rules ------------------------------------------------------------------------------


def test_only_artists_and_staff_host(viewer, staff):
    with pytest.raises(Forbidden):
        services.stream_create(by_user=viewer, title="Nope", scheduled_start_time=tomorrow())
    assert services.stream_create(by_user=staff, title="House show", scheduled_start_time=tomorrow()).artist == staff


@pytest.mark.parametrize(
    "fields,error_field",
    [
        ({"ticket_price": Decimal("-1")}, "ticket_price"),
        ({"is_pay_per_view": True, "ticket_price": Decimal("0")}, "ticket_price"),
        ({"max_viewers": 0}, "max_viewers"),
        ({"stream_settings": {"fps": 500}}, "stream_settings"),
        ({"stream_settings": {"surround": True}}, "stream_settings"),
        ({"type": "rave"}, "type"),
        ({"title": "x" * 201}, "title"),
    ],
)
def test_create_validates_through_the_model(fields, error_field, artist):
    with pytest.raises(ValidationError) as raised:
        services.stream_create(
            by_user=artist, title=fields.pop("title", "Show"), scheduled_start_time=tomorrow(), **fields
        )
    assert error_field in raised.value.message_dict
    assert not LiveStream.objects.exists()


@pytest.mark.parametrize(
    "update",
    [{"ticket_price": Decimal("-1")}, {"max_viewers": 0}, {"is_pay_per_view": True, "ticket_price": Decimal("0")}],
)
def test_database_constraints_hold_even_past_the_services(update, artist):
    stream = stream_factory(artist=artist)
    with pytest.raises(IntegrityError), transaction.atomic():
        LiveStream.objects.filter(pk=stream.id).update(**update)


def test_stream_settings_are_completed_with_defaults(artist):
    stream = services.stream_create(
        by_user=artist, title="Show", scheduled_start_time=tomorrow(), stream_settings={"fps": 60}
    )
    assert stream.stream_settings == {
        "bitrate": 4500,
        "fps": 60,
        "resolution": "1920x1080",
        "audio_codec": "aac",
        "video_codec": "h264",
    }


# --- Keys ------------------------------------------------------------------------------------------------


def test_stream_keys_have_at_least_128_bits_and_rotate(artist):
    stream = stream_factory(artist=artist)
    key = stream.stream_key
    assert key.startswith("sk_") and len(key) - 3 >= 22  # 22 base64url characters carry 132 bits
    rotated = services.stream_key_rotate(stream_id=stream.id)
    assert rotated.stream_key != key
    assert LiveStream.objects.get(pk=stream.id).stream_key == rotated.stream_key


def test_a_key_can_be_rotated_while_live(artist):
    stream = stream_factory(artist=artist, status="live")
    assert services.stream_key_rotate(stream_id=stream.id).status == "live"


# --- Update, delete --------------------------------------------------------------------------------------


def test_update_freezes_schedule_fields_after_start(artist):
    stream = stream_factory(artist=artist, status="live")
    with pytest.raises(Conflict) as raised:
        services.stream_update(stream=stream, data={"max_viewers": 10})
    assert "live" in raised.value.message
    assert services.stream_update(stream=stream, data={"title": "Encore"}).title == "Encore"


def test_delete_refuses_live_streams_and_sold_ones(artist, viewer):
    live = stream_factory(artist=artist, status="live")
    with pytest.raises(Conflict):
        services.stream_delete(stream=live)
    sold = stream_factory(artist=artist, is_pay_per_view=True)
    LiveStreamPayment.objects.create(stream=sold, user=viewer, amount=Decimal("10.00"), currency="usd")
    with pytest.raises(Conflict):
        services.stream_delete(stream=sold)
    assert LiveStream.objects.count() == 2


# --- Events reach the stream's room after commit, without the key ---------------------------------------


@pytest.mark.parametrize("action,status_name", [("start", "live"), ("cancel", "cancelled")])
def test_transitions_send_a_stream_update_after_commit(
    action, status_name, artist, django_capture_on_commit_callbacks, room_frames
):
    stream = stream_factory(artist=artist)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        getattr(services, f"stream_{action}")(stream_id=stream.id)
        assert room_frames == [], "nothing is sent before the commit"
    for callback in callbacks:
        callback()
    [message] = [frame for frame in room_frames if frame["event"] == "streamUpdate"]
    assert message["roomId"] == str(stream.id)
    assert message["data"]["streamId"] == str(stream.id)
    assert message["data"]["status"] == status_name
    assert stream.stream_key not in repr(message)


def test_no_event_for_a_refused_or_rolled_back_change(artist, django_capture_on_commit_callbacks):
    stream = stream_factory(artist=artist, status="ended")
    with django_capture_on_commit_callbacks() as callbacks:
        with pytest.raises(Conflict):
            services.stream_start(stream_id=stream.id)
        with pytest.raises(RuntimeError), transaction.atomic():
            services.stream_update(stream=stream, data={"title": "Rolled back"})
            raise RuntimeError("the surrounding work failed")
    assert callbacks == []
    assert LiveStream.objects.get(pk=stream.id).title == "Test concert"


@pytest.fixture
def cancellations():
    """The stream ids `stream_cancelled` announces, as a receiver of another app would hear them."""
    heard = []

    def receiver(sender, *, stream_id, **kwargs):
        heard.append(stream_id)

    stream_cancelled.connect(receiver, dispatch_uid="test-cancellations")
    yield heard
    stream_cancelled.disconnect(dispatch_uid="test-cancellations")


def test_cancel_announces_stream_cancelled_only_after_commit(artist, django_capture_on_commit_callbacks, cancellations):
    stream, live = stream_factory(artist=artist), stream_factory(artist=artist, status="live")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.stream_cancel(stream_id=stream.id)
        services.stream_end(stream_id=live.id)
        assert cancellations == [], "nothing is announced before the commit"
    for callback in callbacks:
        callback()
    assert cancellations == [stream.id]


def test_end_announces_stream_ended_only_after_commit(artist, django_capture_on_commit_callbacks):
    heard = []

    def receiver(sender, *, stream_id, **kwargs):
        heard.append(stream_id)

    live, other = stream_factory(artist=artist, status="live"), stream_factory(artist=artist, status="live")
    stream_ended.connect(receiver, dispatch_uid="test-ends")
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.stream_end(stream_id=live.id)
            with pytest.raises(RuntimeError), transaction.atomic():
                services.stream_end(stream_id=other.id)
                raise RuntimeError("the surrounding work failed")
            assert heard == [], "nothing is announced before the commit"
        for callback in callbacks:
            callback()
    finally:
        stream_ended.disconnect(dispatch_uid="test-ends")
    assert heard == [live.id]


def test_a_refused_or_rolled_back_cancel_announces_nothing(artist, django_capture_on_commit_callbacks, cancellations):
    live, scheduled = stream_factory(artist=artist, status="live"), stream_factory(artist=artist)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Conflict):
            services.stream_cancel(stream_id=live.id)
        with pytest.raises(RuntimeError), transaction.atomic():
            services.stream_cancel(stream_id=scheduled.id)
            raise RuntimeError("the surrounding work failed")
    assert cancellations == []
    assert LiveStream.objects.get(pk=scheduled.id).status == "scheduled"


def test_update_sends_an_event_only_when_something_changed(artist, django_capture_on_commit_callbacks):
    stream = stream_factory(artist=artist, title="Same")
    with django_capture_on_commit_callbacks() as callbacks:
        services.stream_update(stream=stream, data={"title": "Same"})
    assert callbacks == []
    with django_capture_on_commit_callbacks() as callbacks:
        services.stream_update(stream=stream, data={"title": "Different"})
    assert len(callbacks) == 1


def test_key_rotation_sends_no_event(artist, django_capture_on_commit_callbacks):
    stream = stream_factory(artist=artist)
    with django_capture_on_commit_callbacks() as callbacks:
        services.stream_key_rotate(stream_id=stream.id)
    assert callbacks == []


# --- Demo data -------------------------------------------------------------------------------------------


@pytest.fixture
def development(settings, tmp_path):
    """Demo data exists only in development (DEBUG on); pytest-django runs with DEBUG off. The demo
    replay's real recording is stored under a temporary MEDIA_ROOT."""
    settings.DEBUG = True
    settings.MEDIA_ROOT = tmp_path / "media"


def test_seed_demo_runs_twice_without_duplicating(capsys, development, settings):
    call_command("seed_demo")
    first = capsys.readouterr().out
    counts = (User.objects.count(), LiveStream.objects.count())
    statuses = sorted(LiveStream.objects.values_list("status", flat=True))
    call_command("seed_demo")
    assert (User.objects.count(), LiveStream.objects.count()) == counts
    # Nothing listed as live without an encoder (the demo encoder makes the live show live), and the
    # replay has a real recording made at seed time.
    assert statuses == ["ended", "scheduled", "scheduled", "scheduled"]
    replay = LiveStream.objects.get(status="ended").recordings.get()
    assert replay.status == "ready" and replay.duration_seconds > 0
    stored = Path(settings.MEDIA_ROOT) / replay.file.name
    assert stored.stat().st_size == replay.size_bytes > 10_000
    assert (Path(settings.MEDIA_ROOT) / replay.thumbnail.name).stat().st_size > 0
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(stored)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert abs(float(probe.stdout) - replay.duration_seconds) < 1
    assert LiveStream.objects.filter(is_pay_per_view=True, ticket_price__gt=0).exists()
    assert LiveStream.objects.filter(is_pay_per_view=False).exists()
    for username in ("demo_artist", "demo_viewer", "demo_staff"):
        assert username in first
        user = User.objects.get(username=username)
        password = first.split(f"{username} / ")[1].split()[0]
        assert user.check_password(password)
    assert User.objects.get(username="demo_staff").is_staff
    assert User.objects.get(username="demo_artist").is_artist


def test_seed_demo_if_empty_leaves_an_existing_catalogue_alone(artist, development):
    stream_factory(artist=artist)
    call_command("seed_demo", "--if-empty")
    assert LiveStream.objects.count() == 1
    assert not User.objects.filter(username="demo_artist").exists()


def test_seed_demo_keeps_a_changed_password(capsys, development):
    call_command("seed_demo")
    viewer = User.objects.get(username="demo_viewer")
    viewer.set_password("a-password-of-my-own-77")
    viewer.save()
    call_command("seed_demo")
    viewer.refresh_from_db()
    assert viewer.check_password("a-password-of-my-own-77")


# --- Demo data never reaches production (audit F1) ----------------------------------------------------


def test_seed_demo_refuses_in_production(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG=false"):
        call_command("seed_demo")
    assert not User.objects.exists()
    assert not LiveStream.objects.exists()


def test_seed_demo_staff_password_is_random_and_not_superuser(capsys, development):
    call_command("seed_demo")
    out = capsys.readouterr()
    staff = User.objects.get(username="demo_staff")
    assert not staff.is_superuser
    assert not staff.check_password("demo-staff-pass")
    assert "development only" in out.err


def test_make_run_seeds_nothing_in_production(tmp_path):
    """The seeding line of `make run`, run in the production shape on an empty database, creates nobody."""
    base = Path(__file__).resolve().parents[2]
    dry_run = subprocess.run(["make", "-n", "run"], cwd=base, capture_output=True, text=True, timeout=60)
    seed_line = next(line for line in dry_run.stdout.splitlines() if "seed_demo" in line)
    seed_args = re.split(r"\s+", seed_line.split("manage.py", 1)[1].strip())
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "livestream_site.settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "stream.example.com",
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
    }

    def manage(*args):
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=base, env=env, capture_output=True, text=True, timeout=120
        )

    assert manage("migrate", "--noinput").returncode == 0
    seeded = manage(*seed_args)
    assert seeded.returncode == 0, seeded.stderr
    assert "DJANGO_DEBUG=false" in seeded.stdout
    counted = manage("shell", "-c", "from accounts.models import User; print(User.objects.count())")
    assert counted.stdout.strip().splitlines()[-1] == "0", counted.stdout + counted.stderr


def test_a_frozen_field_refusal_names_the_fields(artist):
    stream = stream_factory(artist=artist, status="live")
    with pytest.raises(Conflict) as refused:
        services.stream_update(stream=stream, data={"ticket_price": Decimal("5"), "max_viewers": 10})
    assert sorted(refused.value.fields) == ["max_viewers", "ticket_price"]
