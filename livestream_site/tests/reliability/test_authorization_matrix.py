"""The authorization matrix: every route under /api/ (read from the URL conf, so a new one cannot be forgotten)
and every method, for every role, against a live pay-per-view stream: the status each role gets, and no
answer carrying another user's e-mail or a stream key the caller may not see."""

import json
import uuid

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.tests.factories import ArtistFactory, StaffFactory, UserFactory
from chat import services as chat_services
from payments.tests.factories import paid_ticket_factory
from streams.tests.factories import stream_factory

ROLES = ["anonymous", "viewer", "ticket", "other_artist", "artist", "moderator", "staff"]
METHODS = ["get", "post", "put", "patch", "delete"]
S = "{stream}"


def _api_route_names() -> set[str]:
    """The names of the routes under api/ in the URL conf (with and without format suffixes: one name)."""
    names = set()

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and prefix.startswith("api/"):
                names.add(pattern.name or f"{prefix}{pattern.pattern}")

    walk(get_resolver().url_patterns, "")
    return names


# Route name -> (path, {method: {role: status}}). A method a route does not answer is 405, except for the
# anonymous caller of a route that wants a sign-in for it, who learns 401 first (DRF checks permissions before
# the method). The webhook is a plain view: 405 for all but POST, and its POST needs Stripe's signature (400).
def _row(anonymous, viewer, ticket, other_artist, artist, moderator, staff):
    return dict(zip(ROLES, [anonymous, viewer, ticket, other_artist, artist, moderator, staff], strict=True))


def _all(status):
    return _row(*[status] * len(ROLES))


MANAGE_READ = _row(401, 403, 403, 403, 200, 403, 200)
MANAGE_WRITE = _row(401, 403, 403, 403, 200, 403, 200)
MODERATE_READ = _row(401, 403, 403, 403, 200, 200, 200)
# A moderator without a ticket moderates the chat but does not watch a pay-per-view stream (nor read its history).
WATCH = _row(402, 402, 200, 402, 200, 402, 200)
EXPECTED = {
    "api-root": ("/api/", {"get": _all(200)}),
    "schema": ("/api/schema/", {"get": _all(200)}),
    "docs": ("/api/docs/", {"get": _all(200)}),
    "auth-register": ("/api/auth/register/", {"post": _all(201)}),
    "auth-token": ("/api/auth/token/", {"post": _all(200)}),
    "auth-me": ("/api/auth/me/", {"get": _row(401, 200, 200, 200, 200, 200, 200)}),
    # Anyone signed in follows the stream's artist, except the artist (not oneself); both are idempotent.
    "artist-follow": (
        "/api/artists/{artist}/follow/",
        {"post": _row(401, 200, 200, 200, 400, 200, 200), "delete": _row(401, 200, 200, 200, 200, 200, 200)},
    ),
    "livestream-list": (
        "/api/livestreams/",
        {"get": _all(200), "post": _row(401, 403, 403, 201, 201, 403, 201)},
    ),
    "livestream-detail": (
        f"/api/livestreams/{S}/",
        {
            "get": _all(200),
            "put": MANAGE_WRITE,
            "patch": MANAGE_WRITE,
            "delete": _row(401, 403, 403, 403, 409, 403, 409),  # live: end it first
        },
    ),
    "livestream-start": (f"/api/livestreams/{S}/start/", {"post": _row(401, 403, 403, 403, 409, 403, 409)}),
    "livestream-end": (f"/api/livestreams/{S}/end/", {"post": MANAGE_WRITE}),
    "livestream-cancel": (f"/api/livestreams/{S}/cancel/", {"post": _row(401, 403, 403, 403, 409, 403, 409)}),
    "livestream-rotate-stream-key": (f"/api/livestreams/{S}/stream-key/rotate/", {"post": MANAGE_WRITE}),
    "livestream-ingest": (f"/api/livestreams/{S}/ingest/", {"get": MANAGE_READ}),
    "livestream-health": (f"/api/livestreams/{S}/health/", {"get": MANAGE_READ}),
    "livestream-adapt-quality": (f"/api/livestreams/{S}/adapt-quality/", {"post": MANAGE_WRITE}),
    "livestream-playback": (f"/api/livestreams/{S}/playback/", {"get": WATCH}),
    "livestream-recordings": (f"/api/livestreams/{S}/recordings/", {"get": _all(200)}),
    "livestream-access": (f"/api/livestreams/{S}/access/", {"get": _all(200)}),
    "livestream-payment": (
        f"/api/livestreams/{S}/payment/",
        {"post": _row(401, 201, 409, 201, 403, 201, 201)},
    ),
    "livestream-revenue": (f"/api/livestreams/{S}/revenue/", {"get": MANAGE_READ}),
    "livestream-analytics": (f"/api/livestreams/{S}/analytics/", {"get": MANAGE_READ}),
    "livestream-analytics-csv": (f"/api/livestreams/{S}/analytics.csv", {"get": MANAGE_READ}),
    "analytics-summary": ("/api/analytics/summary/", {"get": _row(401, 403, 403, 200, 200, 403, 200)}),
    # The playback beacon: whoever may watch the stream (a pay-per-view one here) reports on it.
    "quality-reports": (f"/api/livestreams/{S}/quality-reports/", {"post": _row(402, 402, 202, 402, 202, 402, 202)}),
    "payments-confirm": ("/api/payments/confirm/", {"post": _row(401, 404, 404, 404, 404, 404, 404)}),
    "payments-webhook": ("/api/payments/webhook/", {"post": _all(400)}),
    # A managed media system's events: its signature decides, never a role; rtmp (configured here) has none.
    "media-provider-events": ("/api/media/provider-events/", {"post": _all(404)}),
    "chat-history": (f"/api/livestreams/{S}/chat/", {"get": WATCH}),
    "chat-bans": (
        f"/api/livestreams/{S}/chat/bans/",
        {"get": MODERATE_READ, "post": _row(401, 403, 403, 403, 201, 201, 201)},
    ),
    "chat-ban": (
        f"/api/livestreams/{S}/chat/bans/{{victim}}/",
        {"delete": _row(401, 403, 403, 403, 204, 204, 204)},
    ),
    "chat-settings": (
        f"/api/livestreams/{S}/chat/settings/",
        {"get": MODERATE_READ, "patch": _row(401, 403, 403, 403, 200, 200, 200)},
    ),
    "chat-moderators": (
        f"/api/livestreams/{S}/chat/moderators/",
        {
            "get": MODERATE_READ,
            "post": _row(401, 403, 403, 403, 201, 403, 201),
            "delete": _row(401, 403, 403, 403, 204, 403, 204),
        },
    ),
    "chat-moderator": (
        f"/api/livestreams/{S}/chat/moderators/{{moderator}}/",
        {"delete": _row(401, 403, 403, 403, 204, 403, 204)},
    ),
    "chat-message": (
        f"/api/livestreams/{S}/chat/{{message}}/",
        {"delete": _row(401, 403, 403, 403, 204, 204, 204)},
    ),
}


# Routes whose unanswered methods are 405 even for the anonymous (open to everyone, or not DRF's).
OPEN_TO_ANONYMOUS = {
    "schema",
    "docs",
    "auth-register",
    "auth-token",
    "payments-webhook",
    "media-provider-events",
    "livestream-access",
    "chat-history",
    "quality-reports",
}


# Routes that let anyone read (IsAuthenticatedOrReadOnly): an unanswered GET is 405 for the anonymous too.
READ_OPEN = {
    "livestream-start",
    "livestream-end",
    "livestream-cancel",
    "livestream-rotate-stream-key",
    "livestream-adapt-quality",
}


def _unanswered(name, method, role):
    if role != "anonymous" or name in OPEN_TO_ANONYMOUS or (method == "get" and name in READ_OPEN):
        return 405
    return 401


def test_every_api_route_is_in_the_matrix():
    """A route added under /api/ fails here until its expectations are written into EXPECTED."""
    assert _api_route_names() == set(EXPECTED)


@pytest.fixture
def world(db, settings):
    settings.PAYMENTS_DEV_CHECKOUT = True
    settings.DEBUG = True  # the development checkout: buying a ticket without Stripe
    artist, staff = ArtistFactory(), StaffFactory()
    users = {
        "viewer": UserFactory(),
        "ticket": UserFactory(),
        "other_artist": ArtistFactory(),
        "artist": artist,
        "moderator": UserFactory(),
        "staff": staff,
    }
    stream = stream_factory(artist=artist, status="live", is_pay_per_view=True)
    paid_ticket_factory(stream=stream, user=users["ticket"])
    chat_services.chat_moderator_add(stream_id=str(stream.id), user_id=users["moderator"].id, by_user=artist)
    victim = users["ticket"]
    message = chat_services.chat_message_send(stream_id=str(stream.id), user=victim, message="hi")
    chat_services.chat_ban_create(stream_id=str(stream.id), by_user=artist, user_id=users["viewer"].id)
    return {"stream": stream, "users": users, "victim": victim, "message": message}


def _body(name, method, world):
    stream = world["stream"]
    future = (timezone.now() + timezone.timedelta(days=3)).isoformat()
    new_stream = {"title": "Matrix", "scheduledStartTime": future}
    return {
        ("auth-register", "post"): {"username": "matrix_new", "password": "a-long-password-42"},
        ("auth-token", "post"): {"username": world["users"]["viewer"].username, "password": "a-long-test-password-42"},
        ("livestream-list", "post"): new_stream,
        ("livestream-detail", "put"): {
            "title": "Changed",
            "scheduledStartTime": stream.scheduled_start_time.isoformat(),
        },
        ("livestream-detail", "patch"): {"title": "Changed"},
        ("livestream-adapt-quality", "post"): {"maxQuality": "medium"},
        ("payments-confirm", "post"): {"paymentIntentId": "pi_nobody_has"},
        ("chat-bans", "post"): {"userId": world["victim"].id, "durationSeconds": 60},
        ("chat-settings", "patch"): {"slowModeSeconds": 5},
        ("chat-moderators", "post"): {"userId": world["victim"].id},
        ("chat-moderators", "delete"): {"userId": world["users"]["moderator"].id},
        ("quality-reports", "post"): {"sessionId": str(uuid.uuid4()), "watchMs": 10000, "rendition": "720p"},
    }.get((name, method))


def _path(template, world):
    users = world["users"]
    return template.format(
        stream=world["stream"].id,
        victim=users["viewer"].id,
        moderator=users["moderator"].id,
        artist=users["artist"].id,
        message=world["message"].id,
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_role_gets_what_the_matrix_says(name, world, client_for, anon_client):
    template, by_method = EXPECTED[name]
    path = _path(template, world)
    stream, got, expected = world["stream"], {}, {}
    for method in METHODS:
        for role in ROLES:
            user = world["users"].get(role)
            client = client_for(user) if user else anon_client
            body = _body(name, method, world)
            with transaction.atomic():  # each request on the same world: its writes are undone
                response = getattr(client, method)(
                    path, data=json.dumps(body) if body else None, content_type="application/json"
                )
                transaction.set_rollback(True)
            got[(method, role)] = response.status_code
            expected[(method, role)] = by_method.get(method, {}).get(role) or _unanswered(name, method, role)
            text = response.content.decode(errors="replace")
            others = [u.email for r, u in world["users"].items() if r != role]
            assert not any(email in text for email in others), f"{method} {path} as {role} shows another's e-mail"
            if role not in ("artist", "staff"):
                assert stream.stream_key not in text, f"{method} {path} as {role} shows the stream key"
    wrong = {key: (got[key], expected[key]) for key in got if got[key] != expected[key]}
    assert not wrong, f"{name}: (got, expected) {wrong}"
