"""Site-wide views: the health check, the error pages' API variants and the favicon."""

import logging
import uuid
from pathlib import Path

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.templatetags.static import static
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import page_not_found

from .errors import error_body
from .realtime import redis_sync
from .web import processes_answering

logger = logging.getLogger(__name__)


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_cache() -> str:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, "1", 5)
    ok = cache.get(key) == "1"
    cache.delete(key)
    return "ok" if ok else "error: value not read back"


def _check_channel_layer() -> str:
    layer = get_channel_layer()

    async def roundtrip() -> bool:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "healthz.ping"})
        message = await layer.receive(channel)
        return message.get("type") == "healthz.ping"

    return "ok" if async_to_sync(roundtrip)() else "error: message not received"


def not_found(request, exception=None):
    """API paths answer 404 in the API's JSON error shape; pages get the HTML page."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such API path."), status=404)
    return page_not_found(request, exception)


def favicon(request):
    """Browsers ask for /favicon.ico whatever the pages say: the SVG icon (static/favicon.svg) answers."""
    return HttpResponseRedirect(static("favicon.svg"))


def bad_request(request, exception=None):
    """API paths answer 400 in the API's JSON error shape (a body over DATA_UPLOAD_MAX_MEMORY_SIZE is
    refused before any view runs, audit F13); pages get the HTML page."""
    if request.path.startswith("/api/"):
        message = "The request body is too large." if "too large" in str(exception).lower() else "Bad request."
        return JsonResponse(error_body("bad_request", message), status=400)
    return django_bad_request(request, exception)


def _check_realtime() -> str:
    """The stream rooms' fan-out: Redis pub/sub across processes, or in-process without REDIS_URL."""
    client = redis_sync()
    if client is None:
        return "ok"
    return "ok" if client.ping() else "error: no answer from Redis"


CHECKS = {
    "database": _check_database,
    "cache": _check_cache,
    "channelLayer": _check_channel_layer,
    "realtime": _check_realtime,
}


def healthz(request):
    """Each component's state. The reason of a failure (which can name hosts and ports) goes to the log
    and to staff; anonymous callers (load balancers, probes) see only "error" (audit F13)."""
    detailed = request.user.is_authenticated and request.user.is_staff
    components = {}
    for name, check in CHECKS.items():
        try:
            state = check()
        except Exception as exc:  # a health check reports failures, it does not raise them
            state = f"error: {exc.__class__.__name__}: {exc}"[:300]
        if state != "ok":
            logger.warning("healthz: %s %s", name, state)
            if not detailed:
                state = "error"
        components[name] = state
    healthy = all(state == "ok" for state in components.values())
    body = {"status": "ok" if healthy else "degraded", **components, "web": _web_processes()}
    return JsonResponse(body, status=200 if healthy else 503)


def _web_processes() -> dict:
    """The web processes of this machine: which one answered, how many there are, how many accept connections.

    One alone (daphne on HOST:PORT, the embedded default) or behind the web tier's nginx (livestream_site.web),
    which starts a dead one again: fewer answering than configured is reported, not a failure.
    """
    if settings.WEB_PROCESS_INDEX is None:
        return {"processes": 1, "answering": 1}
    count = settings.WEB_CONCURRENCY
    answering = processes_answering(Path(settings.RUN_DIR).resolve(), count)
    return {"process": settings.WEB_PROCESS_INDEX, "processes": count, "answering": answering}
