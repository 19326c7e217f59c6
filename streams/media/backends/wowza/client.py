"""Wowza's REST APIs through the shared JSON client (../http.py): WOWZA_TIMEOUT_SECONDS, WOWZA_MAX_ATTEMPTS
tries of what is safe to repeat (POST is sent once). Wowza Video: `Authorization: Bearer <WOWZA_API_KEY>`
at WOWZA_API_URL; Wowza Streaming Engine passes its own opener (engine.py: it answers Engine's Basic or
Digest challenge) and, for server-wide resources, another base URL."""

from collections.abc import Callable
from typing import Any

from django.conf import settings

from ..http import ProviderNotFound as WowzaNotFound
from ..http import json_request

__all__ = ["WowzaNotFound", "request"]


def request(
    method: str,
    path: str,
    body: dict | None = None,
    query: dict | None = None,
    *,
    base_url: str = "",
    opener: Callable[..., Any] | None = None,
) -> dict:
    return json_request(
        method,
        (base_url or settings.WOWZA_API_URL).rstrip("/") + path,
        provider="Wowza",
        # An opener answers the server's challenge itself.
        authorization=None if opener else f"Bearer {settings.WOWZA_API_KEY}",
        timeout=settings.WOWZA_TIMEOUT_SECONDS,
        attempts=settings.WOWZA_MAX_ATTEMPTS,
        body=body,
        query=query,
        opener=opener,
    )
