"""Who is watching, from a request or a WebSocket handshake: country, device class, browser and OS, viewer key.

Country: the trusted header `ANALYTICS_COUNTRY_HEADER` (set by a CDN: CF-IPCountry,
CloudFront-Viewer-Country) when it holds an ISO 3166-1 alpha-2 code; else the client address
(`TRUSTED_PROXY_COUNT` hops back in X-Forwarded-For) looked up offline: in the MaxMind file at
`GEOIP_PATH` when set, otherwise in the registry data the `iptocc` package ships. Loopback, private
and unknown addresses are "ZZ". Device: `user-agents` (ua-parser's rules).
"""

import functools
import hashlib
import ipaddress
import logging
import uuid
from collections.abc import Mapping

from django.conf import settings

from .models import UNKNOWN_COUNTRY

logger = logging.getLogger(__name__)

VIEWER_COOKIE = "lsv"
VIEWER_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_TV_MARKERS = (
    "smart-tv",
    "smarttv",
    "googletv",
    "appletv",
    "hbbtv",
    "crkey",
    "roku",
    "aftb",
    "aftm",
    "bravia",
    "tizen",
)


# Headers ------------------------------------------------------------------------------------------
def scope_headers(scope: Mapping) -> dict[str, str]:
    """A WebSocket scope's headers as {lower-case name: value}."""
    return {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers") or []}


def request_headers(request) -> dict[str, str]:
    """A Django request's headers as {lower-case name: value}."""
    return {name.lower(): value for name, value in request.headers.items()}


def client_address(*, headers: Mapping[str, str], peer: str | None) -> str | None:
    """The viewer's address: the socket's, or TRUSTED_PROXY_COUNT hops back in X-Forwarded-For."""
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return peer
    forwarded = [part.strip() for part in headers.get("x-forwarded-for", "").split(",") if part.strip()]
    chain = forwarded + ([peer] if peer else [])
    # Each trusted proxy appended the address it saw; the one `hops` back from the socket is the viewer's.
    return chain[-(hops + 1)] if len(chain) > hops else (chain[0] if chain else None)


# Country ------------------------------------------------------------------------------------------
def _valid_country(value: str) -> str | None:
    value = (value or "").strip().upper()
    if len(value) == 2 and value.isascii() and value.isalpha() and value not in ("XX", "T1"):
        return value
    return None


@functools.cache
def _maxmind_reader(path: str):
    import geoip2.database

    return geoip2.database.Reader(path)


def address_country(address: str | None) -> str:
    """The ISO country of an address from the offline database; "ZZ" when unknown or not public."""
    try:
        ip = ipaddress.ip_address((address or "").strip().strip("[]"))
    except ValueError:
        return UNKNOWN_COUNTRY
    if not ip.is_global:
        return UNKNOWN_COUNTRY
    try:
        if settings.GEOIP_PATH:
            import geoip2.errors

            try:
                code = _maxmind_reader(settings.GEOIP_PATH).country(str(ip)).country.iso_code
            except geoip2.errors.AddressNotFoundError:
                code = None
        else:
            from iptocc import country_code

            code = country_code(str(ip))
    except Exception:  # a broken database file must not break watching
        logger.exception("country lookup of %s failed", ip)
        return UNKNOWN_COUNTRY
    return _valid_country(code or "") or UNKNOWN_COUNTRY


def viewer_country(*, headers: Mapping[str, str], peer: str | None) -> str:
    """The viewer's country: the trusted CDN header when set and valid, else the address's."""
    if settings.ANALYTICS_COUNTRY_HEADER:
        code = _valid_country(headers.get(settings.ANALYTICS_COUNTRY_HEADER.lower(), ""))
        if code:
            return code
    return address_country(client_address(headers=headers, peer=peer))


# Device -------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def device_describe(user_agent: str) -> dict[str, str]:
    """{"device_class", "browser", "os"} of a user agent; device class is desktop, mobile, tablet, tv, bot or other."""
    if not user_agent:
        return {"device_class": "other", "browser": "", "os": ""}
    from user_agents import parse

    parsed = parse(user_agent[:512])
    lowered = user_agent.lower()
    if parsed.is_bot:
        device_class = "bot"
    elif any(marker in lowered for marker in _TV_MARKERS) or " tv " in f" {parsed.device.family.lower()} ":
        device_class = "tv"
    elif parsed.is_tablet:
        device_class = "tablet"
    elif parsed.is_mobile:
        device_class = "mobile"
    elif parsed.is_pc:
        device_class = "desktop"
    else:
        device_class = "other"
    browser = parsed.browser.family if parsed.browser.family != "Other" else ""
    os_family = parsed.os.family if parsed.os.family != "Other" else ""
    return {"device_class": device_class, "browser": browser[:32], "os": os_family[:32]}


# Viewer -------------------------------------------------------------------------------------------
def anonymous_id(cookies: Mapping[str, str]) -> str | None:
    """The anonymous viewer id of the `lsv` cookie, when it holds one we set (32 hex digits)."""
    value = cookies.get(VIEWER_COOKIE, "")
    try:
        return uuid.UUID(hex=value).hex if len(value) == 32 else None
    except ValueError:
        return None


def scope_cookies(scope: Mapping) -> dict[str, str]:
    """The cookies of a WebSocket handshake."""
    if scope.get("cookies") is not None:
        return dict(scope["cookies"])
    from django.http.cookie import parse_cookie

    return parse_cookie(scope_headers(scope).get("cookie", ""))


def viewer_key(*, user, anonymous: str | None, fallback: str) -> str:
    """Who the viewer is, for unique counts: "u<user id>" signed in, else "a<anonymous id>" (cookie, or `fallback`)."""
    if user is not None and user.is_authenticated:
        return f"u{user.id}"
    return f"a{anonymous or fallback}"[:64]


def address_fallback_id(*, address: str | None, user_agent: str) -> str:
    """An anonymous id for a client that sends no cookie: a hash of its address and user agent."""
    return hashlib.sha256(f"{address}|{user_agent}".encode()).hexdigest()[:32]


def viewer_cookie_ensure(request, response) -> None:
    """Give the browser a long-lived anonymous viewer id (HttpOnly, SameSite=Lax) unless it has one."""
    if anonymous_id(request.COOKIES):
        return
    response.set_cookie(
        VIEWER_COOKIE,
        uuid.uuid4().hex,
        max_age=VIEWER_COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure(),
    )
