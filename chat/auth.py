"""WebSocket and Socket.IO authentication: the session cookie (from an allowed Origin only) or an API token."""

import logging
from importlib import import_module
from urllib.parse import parse_qs, urlparse

from channels.auth import AuthMiddlewareStack, get_user
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.cookie import parse_cookie

logger = logging.getLogger(__name__)


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    try:
        token = Token.objects.select_related("user").get(key=key)
    except (Token.DoesNotExist, ValueError):
        return None
    return token.user if token.user.is_active else None


def origin_allowed(origin: str | None) -> bool:
    """The rule of channels' AllowedHostsOriginValidator, plus WS_ALLOWED_ORIGINS and CSRF_TRUSTED_ORIGINS."""
    if not origin:
        return False
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = ["localhost", "127.0.0.1", "[::1]"]
    allowed += list(settings.WS_ALLOWED_ORIGINS) + list(settings.CSRF_TRUSTED_ORIGINS)
    try:
        parsed = urlparse(origin)
    except ValueError:
        return False
    return OriginValidator(None, allowed).valid_origin(parsed)


class _TokenOrSessionGuard:
    """After the session middleware: a ?token= wins; a session user needs an allowed Origin.

    Anonymous connections and token clients often send no Origin (mobile, server libraries):
    they are accepted, as nothing of a signed-in browser session is at stake.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        scope = dict(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin1"))
        if query.get("token"):
            user = await _user_for_token(query["token"][0])
            if user is None:
                logger.debug("websocket refused: unknown token")
                return await WebsocketDenier()(scope, receive, send)
            scope["user"] = user
            scope["auth_method"] = "token"
            return await self.app(scope, receive, send)
        user = scope.get("user")
        if user is not None and user.is_authenticated:
            headers = dict(scope.get("headers") or [])
            origin = headers.get(b"origin", b"").decode("latin1") or None
            if not origin_allowed(origin):
                logger.info("websocket refused: session from origin %r", origin)
                return await WebsocketDenier()(scope, receive, send)
            scope["auth_method"] = "session"
        else:
            scope["user"] = AnonymousUser()
            scope["auth_method"] = "anonymous"
        return await self.app(scope, receive, send)


class _KeepServerSend:
    """Keep the server's own `send` in the scope: room fan-out writes frames through it directly.

    The session middleware wraps `send` only to save sessions on HTTP responses; skipping that
    wrapper for room frames saves a coroutine and two lazy-object lookups per viewer per message.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        return await self.app(dict(scope, server_send=send), receive, send)


class _SessionWhenSent:
    """Channels' session and auth middleware only for a connection that carries a session cookie.

    That middleware reads the user in the one database thread for every connection, even one without a
    session (a hop per join, queued behind every other in a storm); without the cookie the user is
    anonymous (or the ?token='s) anyway.
    """

    def __init__(self, app):
        self.app = app
        self.with_session = AuthMiddlewareStack(app)

    async def __call__(self, scope, receive, send):
        marker = settings.SESSION_COOKIE_NAME.encode("latin1") + b"="
        if any(name == b"cookie" and marker in value for name, value in scope.get("headers") or []):
            return await self.with_session(scope, receive, send)
        return await self.app(scope, receive, send)


def LiveStreamAuthStack(app):
    return _KeepServerSend(_SessionWhenSent(_TokenOrSessionGuard(app)))


class AuthRefused(Exception):
    """A Socket.IO connection refused at connect: `code` and `message` are the connect_error's data."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.data = {"code": code, "message": message}


def _scope_header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin1")
    return None


async def _user_for_session_cookie(scope):
    cookies = parse_cookie(_scope_header(scope, b"cookie") or "")
    session_key = cookies.get(settings.SESSION_COOKIE_NAME)
    if not session_key:
        return AnonymousUser()
    session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    return await get_user({"session": session})


async def socketio_user(scope, auth) -> tuple:
    """The user of a Socket.IO connection and how it signed in: (user, "token" | "session" | "anonymous").

    The same rule as the WebSocket's: an API token (`auth: {token}` or `?token=`) wins, and an unknown
    one is refused; a session needs an allowed Origin. Browsers send no Origin on a same-origin
    long-polling GET, so there `Sec-Fetch-Site: same-origin` (which a page cannot forge) stands for it.
    Raises AuthRefused.
    """
    token = auth.get("token") if isinstance(auth, dict) else None
    if token is None:
        token = (parse_qs(scope.get("query_string", b"").decode("latin1")).get("token") or [None])[0]
    if token is not None:
        user = await _user_for_token(token) if isinstance(token, str) and token else None
        if user is None:
            raise AuthRefused("authentication_failed", "Unknown or inactive API token.")
        return user, "token"
    user = await _user_for_session_cookie(scope)
    if not user.is_authenticated:
        return AnonymousUser(), "anonymous"
    origin = _scope_header(scope, b"origin")
    same_origin = origin is None and _scope_header(scope, b"sec-fetch-site") == "same-origin"
    if not (same_origin or origin_allowed(origin)):
        logger.info("socket.io refused: session from origin %r", origin)
        raise AuthRefused("forbidden", "A signed-in session connects only from an allowed Origin.")
    return user, "session"
