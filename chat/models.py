"""Chat messages of a stream."""

from django.conf import settings
from django.db import models


class LiveStreamChat(models.Model):
    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="chat_messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    message = models.TextField(max_length=500)
    client_message_id = models.CharField(max_length=64, blank=True)
    is_deleted = models.BooleanField(default=False)
    # Hidden by a moderator in the admin: left out like a deleted message, and can be shown again.
    is_hidden = models.BooleanField(default=False)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["stream", "-id"], name="chat_stream_newest")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.message[:40]}"


class LiveStreamChatSettings(models.Model):
    """Per-stream chat moderation settings: slow mode and the stream's blocked terms."""

    stream = models.OneToOneField("streams.LiveStream", on_delete=models.CASCADE, related_name="chat_settings")
    slow_mode_seconds = models.PositiveIntegerField(default=0, help_text="0 turns slow mode off.")
    blocked_terms = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "live stream chat settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(slow_mode_seconds__lte=3600), name="chat_slow_mode_max"),
        ]

    def __str__(self) -> str:
        return f"Chat settings of {self.stream_id}"


class ChatBan(models.Model):
    """A user banned (expires_at empty) or timed out from one stream's chat."""

    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="chat_bans")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_bans")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty means a permanent ban.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "user"], name="chat_ban_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} banned from {self.stream_id}"


class ChatModerator(models.Model):
    """A user the stream's artist (or staff) trusted to moderate that stream's chat."""

    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="chat_moderators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderated_chats")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["stream", "user"], name="chat_moderator_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} moderates {self.stream_id}"


class BlockedTerm(models.Model):
    """A term refused in every stream's chat (site-wide); streams add their own in their settings."""

    term = models.CharField(max_length=50, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.term
