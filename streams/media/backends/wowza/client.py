"""The Wowza Video REST API through the shared JSON client (../http.py): `Authorization: Bearer
<WOWZA_API_KEY>`, WOWZA_TIMEOUT_SECONDS, WOWZA_MAX_ATTEMPTS tries of what is safe to repeat (POST is
sent once)."""

from django.conf import settings

from ..http import ProviderNotFound as WowzaNotFound
from ..http import json_request

__all__ = ["WowzaNotFound", "request"]


def request(method: str, path: str, body: dict | None = None, query: dict | None = None) -> dict:
    return json_request(
        method,
        settings.WOWZA_API_URL.rstrip("/") + path,
        provider="Wowza",
        authorization=f"Bearer {settings.WOWZA_API_KEY}",
        timeout=settings.WOWZA_TIMEOUT_SECONDS,
        attempts=settings.WOWZA_MAX_ATTEMPTS,
        body=body,
        query=query,
    )
