"""Agora's REST APIs (Media Gateway, channel management, Cloud Recording) through the shared JSON client
(../http.py): HTTP Basic with AGORA_CUSTOMER_ID and AGORA_CUSTOMER_SECRET, AGORA_TIMEOUT_SECONDS,
AGORA_MAX_ATTEMPTS tries of what is safe to repeat."""

import base64

from django.conf import settings

from ..http import ProviderNotFound as AgoraNotFound
from ..http import json_request

__all__ = ["AgoraNotFound", "request"]


def authorization() -> str:
    credentials = f"{settings.AGORA_CUSTOMER_ID}:{settings.AGORA_CUSTOMER_SECRET}".encode()
    return "Basic " + base64.b64encode(credentials).decode()


def request(method: str, path: str, body: dict | None = None, *, repeatable: bool | None = None) -> dict:
    return json_request(
        method,
        settings.AGORA_API_URL.rstrip("/") + path,
        provider="Agora",
        authorization=authorization(),
        timeout=settings.AGORA_TIMEOUT_SECONDS,
        attempts=settings.AGORA_MAX_ATTEMPTS,
        body=body,
        repeatable=repeatable,
    )
