"""Chat messages of a stream."""

from django.conf import settings
from django.db import models


class LiveStreamChat(models.Model):
    stream = models.ForeignKey("streams.LiveStream", on_delete=models.CASCADE, related_name="chat_messages")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_messages")
    message = models.TextField(max_length=500)
    client_message_id = models.CharField(max_length=64, blank=True)
    is_deleted = models.BooleanField(default=False)
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
