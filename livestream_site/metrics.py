"""Prometheus metrics of every process of the platform, in one place (app-free: apps increment them).

prometheus-client runs in multiprocess mode: each process (daphne, every Celery worker child) writes
its samples to files in PROMETHEUS_MULTIPROC_DIR (settings puts it in the environment before this
module is imported), and `/metrics` adds them up. A process that exits is marked dead, so its live
gauges drop out while its counters still count. Figures the database or Redis knows better than any
process (live streams, ingest, the beacon backlog) are read at scrape time by collectors an app
registers with `scrape_collector_register` (analytics does, in its AppConfig.ready()).

Labels stay low-cardinality: never a user id or a raw path. The one exception is
`livestage_stream_viewers{stream}`, whose stream id label only appears for streams with viewers now.
"""

import atexit
import ipaddress
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# --- The metrics ---------------------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "livestage_http_requests", "HTTP requests served.", ["method", "view", "status"]
)  # status is the class: 2xx, 3xx, 4xx, 5xx
HTTP_LATENCY = Histogram(
    "livestage_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBSOCKETS = Gauge("livestage_websockets_connected", "WebSocket connections open now.", multiprocess_mode="livesum")
VIEWERS = Gauge(
    "livestage_viewers", "Viewer connections to any stream (artist and staff excluded).", multiprocess_mode="livesum"
)
STREAM_VIEWERS = Gauge(
    "livestage_stream_viewers",
    "Viewer connections per stream (only streams with viewers now).",
    ["stream"],
    multiprocess_mode="livesum",
)
CHAT_MESSAGES = Counter("livestage_chat_messages", "Chat messages sent.")
MODERATION_ACTIONS = Counter("livestage_moderation_actions", "Moderation actions applied.", ["action"])
REFUSED_EVENTS = Counter(
    "livestage_refused_events", "WebSocket events refused (rate_limited, slow_mode, banned, ...).", ["code"]
)
PAYMENTS = Counter("livestage_payments", "Payments by outcome.", ["outcome"])  # succeeded, failed, refunded
WEBHOOK_EVENTS = Counter("livestage_webhook_events", "Payment webhook events by outcome.", ["outcome"])
TASK_RUNS = Counter("livestage_celery_task_runs", "Celery task runs started.", ["task"])
TASK_FAILURES = Counter("livestage_celery_task_failures", "Celery task runs that failed.", ["task"])
TASK_SUCCESSES = Counter("livestage_celery_task_successes", "Celery task runs that succeeded.", ["task"])

UNRESOLVED_VIEW = "<unresolved>"

# --- Collection ----------------------------------------------------------------------------------
_scrape_collectors: list[Collector] = []


def scrape_collector_register(collector: Collector) -> None:
    """Add a collector whose figures are read at each scrape (once per process that serves /metrics)."""
    if not any(type(existing) is type(collector) for existing in _scrape_collectors):
        _scrape_collectors.append(collector)


class _DropIdleViewers(Collector):
    """The multiprocess samples, without per-stream viewer series that are zero (streams nobody watches)."""

    def __init__(self, path: str):
        self.inner = multiprocess.MultiProcessCollector(None, path=path)

    def collect(self) -> Iterable:
        for family in self.inner.collect():
            if family.name == "livestage_stream_viewers":
                family.samples = [sample for sample in family.samples if sample.value]
            yield family


def multiproc_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def metrics_text() -> bytes:
    """The exposition of every process plus the scrape-time collectors."""
    registry = CollectorRegistry()
    path = multiproc_dir()
    if path:
        registry.register(_DropIdleViewers(path))
    else:  # single process (no multiprocess dir): this process's own registry
        from prometheus_client import REGISTRY

        registry = REGISTRY
    text = generate_latest(registry)
    for collector in _scrape_collectors:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(collector)
        try:
            text += generate_latest(extra)
        except Exception:  # a database or Redis that cannot answer leaves its figures out, not the page
            logger.exception("metrics collector %s failed", type(collector).__name__)
    return text


def mark_this_process_dead() -> None:
    path = multiproc_dir()
    if path:
        try:
            multiprocess.mark_process_dead(os.getpid(), path)
        except Exception:  # a process on its way out must not fail on its metrics
            logger.debug("could not mark process %s dead", os.getpid(), exc_info=True)


atexit.register(mark_this_process_dead)


# --- The endpoint --------------------------------------------------------------------------------
def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def metrics_view(request):
    """GET /metrics: with METRICS_TOKEN, a Bearer token; without, loopback clients only."""
    # Here, not at the top: this module is imported with the Celery app, before Django is set up.
    from .errors import error_body

    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            response = JsonResponse(error_body("not_authenticated", "Send Authorization: Bearer <token>."), status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not secrets.compare_digest(given.strip().encode(), token.encode()):
            return JsonResponse(error_body("forbidden", "Wrong metrics token."), status=403)
    elif not _is_loopback(request.META.get("REMOTE_ADDR", "")):
        return JsonResponse(error_body("forbidden", "Metrics are served to loopback clients only."), status=403)
    if request.method != "GET":
        return JsonResponse(error_body("method_not_allowed", "Use GET."), status=405)
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)


# --- HTTP requests -------------------------------------------------------------------------------
class MetricsMiddleware:
    """Count and time every HTTP request by method, resolved URL name and status class."""

    METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

    def __init__(self, get_response: Callable):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.url_name or UNRESOLVED_VIEW) if match else UNRESOLVED_VIEW
        method = request.method if request.method in self.METHODS else "OTHER"
        HTTP_REQUESTS.labels(method, view, f"{response.status_code // 100}xx").inc()
        HTTP_LATENCY.labels(method, view).observe(time.perf_counter() - started)
        return response


# --- Celery --------------------------------------------------------------------------------------
def task_run_count(*, task_name: str) -> None:
    TASK_RUNS.labels(task_name).inc()


def task_failure_count(*, task_name: str) -> None:
    TASK_FAILURES.labels(task_name).inc()


def task_success_count(*, task_name: str) -> None:
    TASK_SUCCESSES.labels(task_name).inc()
