"""Demo data for the embedded default: an artist, a viewer, a staff user and a few streams. Safe to run twice.

Never in production: with DJANGO_DEBUG=false the command refuses (or, with --if-debug, does nothing),
so no account with a published password can exist there. The demo staff account gets a random
password, printed once when it is created, never a known one.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from streams import demo, services
from streams.models import LiveStream

# username, password (None: a random one, printed once), role, is_staff
DEMO_USERS = [
    ("demo_artist", "demo-artist-pass", User.Role.ARTIST, False),
    ("demo_viewer", "demo-viewer-pass", User.Role.VIEWER, False),
    ("demo_staff", None, User.Role.VIEWER, True),
]

PRODUCTION_REFUSAL = (
    "Demo data is for development only: DJANGO_DEBUG=false, so no demo accounts or streams were created."
)


class Command(BaseCommand):
    help = "Create demo users and streams (idempotent; development only, refused when DJANGO_DEBUG=false)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any stream exists.")
        parser.add_argument(
            "--if-debug",
            action="store_true",
            help="With DJANGO_DEBUG=false, say so and do nothing (instead of failing); `make run` uses it.",
        )

    def handle(self, *args, if_empty=False, if_debug=False, **options):
        if not settings.DEBUG:
            if if_debug:
                self.stdout.write(PRODUCTION_REFUSAL)
                return
            raise CommandError(PRODUCTION_REFUSAL)
        self._seed(if_empty=if_empty)

    @transaction.atomic
    def _seed(self, *, if_empty: bool) -> None:
        if if_empty and LiveStream.objects.exists():
            self.stdout.write("Streams exist; demo data not needed.")
            return
        users, passwords = {}, {}
        for username, password, role, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"role": role, "is_staff": is_staff, "email": f"{username}@example.com"},
            )
            if created:
                password = password or secrets.token_urlsafe(12)
                user.set_password(password)
                user.save()
            passwords[username] = password
            users[username] = user
        self._seed_streams(artist=users["demo_artist"])
        self.stdout.write(self.style.SUCCESS("Demo data ready (development only). Sign in with:"))
        for username, _, role, is_staff in DEMO_USERS:
            password = passwords[username] or "(set when first created; `manage.py changepassword " + username + "`)"
            self.stdout.write(f"  {username} / {password}  ({'staff' if is_staff else role})")
        self.stderr.write(
            self.style.WARNING(
                "WARNING: demo accounts exist in this database. They are for local development only; "
                "never expose this database or server to the internet."
            )
        )

    def _seed_streams(self, *, artist: User) -> None:
        now = timezone.now()
        # Nothing is listed as live or as a replay without video: the live show goes live when the demo
        # encoder (`manage.py demo_encoder`, a process of `make run`) publishes to it, and the replay gets
        # a real short recording made now. The studio session starts in a few minutes, so an encoder of
        # the user's own can go live with it (publishing opens STREAM_PUBLISH_OPENS_SECONDS before).
        demo_streams = [
            ("Rock Night (pay-per-view)", "concert", True, Decimal("29.99"), None, timedelta(days=1)),
            ("Acoustic Studio Session", "studio_session", False, Decimal("0"), None, timedelta(minutes=5)),
            (demo.DEMO_LIVE_TITLE, "artist_interaction", False, Decimal("0"), None, timedelta(minutes=1)),
            (demo.DEMO_REPLAY_TITLE, "concert", False, Decimal("0"), "ended", timedelta(minutes=1)),
        ]
        for title, kind, ppv, price, status, starts_in in demo_streams:
            if LiveStream.objects.filter(artist=artist, title=title).exists():
                continue
            if status == "ended" and not demo.ffmpeg_available():
                self.stderr.write(f"No ffmpeg: the demo replay {title!r} is not made (it would have no video).")
                continue
            stream = services.stream_create(
                by_user=artist,
                title=title,
                description=f"Demo: {title}",
                type=kind,
                scheduled_start_time=now + starts_in,
                is_pay_per_view=ppv,
                ticket_price=price,
                max_viewers=1000 if ppv else None,
                is_recording_enabled=True,
            )
            if status == "ended":
                services.stream_start(stream_id=stream.id)
                stream = services.stream_end(stream_id=stream.id)
                demo.replay_record(stream=stream)
