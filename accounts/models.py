"""The platform's user (a Django user with a role; staff are Django staff users) and who follows which artist."""

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    class Role(models.TextChoices):
        ARTIST = "artist", "Artist"
        VIEWER = "viewer", "Viewer"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    # E-mails about the artists one follows (a new show, a reminder, live now); off after an unsubscribe link.
    follow_emails = models.BooleanField(
        default=True, help_text="E-mails about followed artists: new shows, reminders before they start, live now."
    )

    @property
    def is_artist(self) -> bool:
        return self.role == self.Role.ARTIST

    @property
    def can_host(self) -> bool:
        """May host streams: the one place this rule is written (services, API, admin, pages, templates)."""
        return self.is_staff or self.is_artist


class Follow(models.Model):
    """A fan follows an artist: their new shows, reminders and go-live moments reach the fan by e-mail."""

    fan = models.ForeignKey(User, on_delete=models.CASCADE, related_name="follows")
    artist = models.ForeignKey(User, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["fan", "artist"], name="follow_once"),
            models.CheckConstraint(condition=~models.Q(fan=models.F("artist")), name="follow_not_oneself"),
        ]
        indexes = [models.Index(fields=["artist", "fan"])]

    def __str__(self) -> str:
        return f"{self.fan_id} follows {self.artist_id}"
