"""A small JSON client of Wowza's REST APIs: timeouts, and retries with backoff for what is safe to repeat
(GET, PUT, PATCH, DELETE on 429, 5xx and timeouts; POST is sent once). Wowza Video: `Authorization: Bearer
<WOWZA_API_KEY>`; Wowza Streaming Engine passes its own opener (engine.py: it answers Engine's Basic or
Digest challenge) and, for server-wide resources, another base URL."""

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from django.conf import settings

from .. import MediaProviderError

SAFE_TO_REPEAT = {"GET", "PUT", "PATCH", "DELETE"}


class WowzaNotFound(MediaProviderError):
    pass


def request(
    method: str, path: str, body: dict | None = None, query: dict | None = None, *, base_url: str = "", opener=None
) -> dict:
    url = (base_url or settings.WOWZA_API_URL).rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    attempts = settings.WOWZA_MAX_ATTEMPTS if method in SAFE_TO_REPEAT else 1
    for attempt in range(attempts):
        req = urllib.request.Request(url, data=data, method=method)
        if opener is None:
            req.add_header("Authorization", f"Bearer {settings.WOWZA_API_KEY}")
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        try:
            with (opener or urllib.request.urlopen)(req, timeout=settings.WOWZA_TIMEOUT_SECONDS) as response:
                text = response.read()
                return json.loads(text) if text else {}
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            retryable = exc.code == 429 or exc.code >= 500
            if exc.code == 404:
                raise WowzaNotFound(f"Wowza {method} {path}: 404 {detail}") from exc
            if not retryable or attempt == attempts - 1:
                raise MediaProviderError(f"Wowza {method} {path}: {exc.code} {detail}", retryable=retryable) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == attempts - 1:
                raise MediaProviderError(f"Wowza {method} {path}: {exc}", retryable=True) from exc
        time.sleep(min(0.5 * 2**attempt, 4))
    raise AssertionError("unreachable")
