"""Demo data: an artist, a viewer, a staff user and a few streams. Safe to run twice."""

from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from streams import services
from streams.models import LiveStream

DEMO_USERS = [
    # username, password, role, is_staff
    ("demo_artist", "demo-artist-pass", User.Role.ARTIST, False),
    ("demo_viewer", "demo-viewer-pass", User.Role.VIEWER, False),
    ("demo_staff", "demo-staff-pass", User.Role.VIEWER, True),
]


class Command(BaseCommand):
    help = "Create demo users and streams (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="Do nothing when any stream exists.")

    @transaction.atomic
    def handle(self, *args, if_empty=False, **options):
        if if_empty and LiveStream.objects.exists():
            self.stdout.write("Streams exist; demo data not needed.")
            return
        users = {}
        for username, password, role, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "role": role,
                    "is_staff": is_staff,
                    "is_superuser": is_staff,
                    "email": f"{username}@example.com",
                },
            )
            if created:
                user.set_password(password)
                user.save()
            users[username] = user
        artist = users["demo_artist"]
        now = timezone.now()
        # The studio session starts in a few minutes, so an encoder can go live with it at once
        # (publishing opens STREAM_PUBLISH_OPENS_SECONDS before the start).
        demo_streams = [
            ("Rock Night (pay-per-view)", "concert", True, Decimal("29.99"), None, timedelta(days=1)),
            ("Acoustic Studio Session", "studio_session", False, Decimal("0"), None, timedelta(minutes=5)),
            ("Ask Me Anything", "artist_interaction", False, Decimal("0"), "live", timedelta(minutes=1)),
            ("Last Week's Jam", "concert", False, Decimal("0"), "ended", timedelta(minutes=1)),
        ]
        for title, kind, ppv, price, status, starts_in in demo_streams:
            if LiveStream.objects.filter(artist=artist, title=title).exists():
                continue
            stream = services.stream_create(
                artist=artist,
                title=title,
                description=f"Demo: {title}",
                type=kind,
                scheduled_start_time=now + starts_in,
                is_pay_per_view=ppv,
                ticket_price=price,
                max_viewers=1000 if ppv else None,
                is_recording_enabled=True,
            )
            if status in ("live", "ended"):
                services.stream_start(stream_id=stream.id)
            if status == "ended":
                services.stream_end(stream_id=stream.id)
        self.stdout.write(self.style.SUCCESS("Demo data ready. Sign in with:"))
        for username, password, role, is_staff in DEMO_USERS:
            self.stdout.write(f"  {username} / {password}  ({'staff' if is_staff else role})")
