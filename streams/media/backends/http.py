"""A small JSON client for the REST APIs of managed media systems (Wowza Video, Agora): timeouts, and
retries with backoff for what is safe to repeat (GET, PUT, PATCH, DELETE, or a call the caller says is
safe, on 429, 5xx and timeouts); anything else fails with MediaProviderError."""

import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlencode

from . import MediaProviderError

SAFE_TO_REPEAT = {"GET", "PUT", "PATCH", "DELETE"}


class ProviderNotFound(MediaProviderError):
    """The provider answered 404: the resource is gone (or never was)."""


def json_request(
    method: str,
    url: str,
    *,
    provider: str,
    authorization: str,
    timeout: float,
    attempts: int,
    body: dict | None = None,
    query: dict | None = None,
    repeatable: bool | None = None,
) -> dict:
    """Send one JSON request and return the decoded answer ({} when empty). `repeatable`: whether a retry
    can do no harm (default: the method is idempotent); a call that is not is sent once."""
    url = url + (f"?{urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    tries = attempts if (method in SAFE_TO_REPEAT if repeatable is None else repeatable) else 1
    label = f"{provider} {method} {url.split('?', 1)[0]}"
    for attempt in range(tries):
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", authorization)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                text = response.read()
                return json.loads(text) if text else {}
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            retryable = exc.code == 429 or exc.code >= 500
            if exc.code == 404:
                raise ProviderNotFound(f"{label}: 404 {detail}") from exc
            if not retryable or attempt == tries - 1:
                raise MediaProviderError(f"{label}: {exc.code} {detail}", retryable=retryable) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            if attempt == tries - 1:
                raise MediaProviderError(f"{label}: {exc}", retryable=True) from exc
        except ValueError as exc:  # an answer that is not JSON
            raise MediaProviderError(f"{label}: not JSON: {exc}") from exc
        time.sleep(min(0.5 * 2**attempt, 4))
    raise AssertionError("unreachable")
