"""Sign-in and sign-up throttles, shared by every process through the cache (audit F9).

Two counters guard the password: failures per account (a guessed password stops working for
everyone after AUTH_THROTTLE_ACCOUNT_FAILURES wrong ones, until the window ends) and attempts per
client address (one address cannot spray many accounts). Sign-ups are counted per address. Each
counter is a fixed window in the cache (Redis in production, so all web processes count together).
"""

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

from livestream_site.errors import ApplicationError


class Throttled(ApplicationError):
    status_code = 429
    code = "throttled"

    def __init__(self, message: str, *, wait: float):
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(f"{message} Try again in {self.retry_after} s.")


def _key(kind: str, value: str) -> str:
    # Hashed: usernames and addresses do not appear in the cache's keys.
    return f"auth-throttle:{kind}:{hashlib.sha256(value.lower().encode()).hexdigest()[:32]}"


def _hit(key: str, *, window: int) -> int:
    """Count one hit in the key's window; the window starts with its first hit."""
    if cache.add(key, 1, timeout=window):
        cache.set(key + ":until", time.time() + window, timeout=window)
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        return _hit(key, window=window)


def _wait(key: str) -> float:
    until = cache.get(key + ":until")
    return until - time.time() if until else settings.AUTH_THROTTLE_WINDOW_SECONDS


def login_attempt_check(*, username: str, address: str) -> None:
    """Before checking a password: refuse (429) a throttled address or account. Counts the attempt."""
    window = settings.AUTH_THROTTLE_WINDOW_SECONDS
    address_key = _key("address", address or "?")
    if _hit(address_key, window=window) > settings.AUTH_THROTTLE_ADDRESS_ATTEMPTS:
        raise Throttled("Too many sign-in attempts from your address.", wait=_wait(address_key))
    account_key = _key("failures", username)
    if (cache.get(account_key) or 0) >= settings.AUTH_THROTTLE_ACCOUNT_FAILURES:
        raise Throttled("Too many wrong passwords for this account.", wait=_wait(account_key))


def login_failure_record(*, username: str) -> None:
    _hit(_key("failures", username), window=settings.AUTH_THROTTLE_WINDOW_SECONDS)


def signup_attempt_check(*, address: str) -> None:
    key = _key("signup", address or "?")
    if _hit(key, window=settings.AUTH_THROTTLE_WINDOW_SECONDS) > settings.AUTH_THROTTLE_SIGNUPS_PER_ADDRESS:
        raise Throttled("Too many sign-ups from your address.", wait=_wait(key))
