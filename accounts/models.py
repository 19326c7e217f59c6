"""The platform's user: a Django user with a role; staff are Django staff users."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class Role(models.TextChoices):
        ARTIST = "artist", "Artist"
        VIEWER = "viewer", "Viewer"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)

    @property
    def is_artist(self) -> bool:
        return self.role == self.Role.ARTIST

    @property
    def can_host(self) -> bool:
        """May host streams: the one place this rule is written (services, API, admin, pages, templates)."""
        return self.is_staff or self.is_artist
