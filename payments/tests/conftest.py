"""Fixtures of the payments tests: the Stripe double wired in through settings, signed webhooks, eager Celery."""

import pytest
from django.test import Client

from livestream_site.celery import app as celery_app
from streams.tests.factories import stream_factory

from .stripe_double import StripeDouble, stripe_event, stripe_signature

WEBHOOK_SECRET = "whsec_test_double_secret"


@pytest.fixture
def stripe_double(settings):
    double = StripeDouble().start()
    settings.STRIPE_SECRET_KEY = double.api_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_double"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = double.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.PAYMENTS_DEV_CHECKOUT = False
    yield double
    double.stop()


@pytest.fixture
def eager_celery():
    """Run tasks in-process (CI sets REDIS_URL, which otherwise queues them for a worker).

    Eager tasks retry in place only when errors do not propagate (Celery re-raises Retry otherwise);
    tests assert the outcome on the Stripe double and in the database, so nothing hides.
    """
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False
    yield celery_app
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = saved


@pytest.fixture
def ppv_stream(artist):
    def make(**fields):
        fields.setdefault("is_pay_per_view", True)
        return stream_factory(artist=fields.pop("artist", artist), **fields)

    return make


def webhook_post(event_type: str, obj: dict, *, event_id=None, timestamp=None, secret=WEBHOOK_SECRET, signature=True):
    """POST an event to the webhook the way Stripe does: no session, no CSRF token, a signed raw body."""
    payload = stripe_event(event_type, obj, event_id)
    headers = {}
    if signature:
        headers["HTTP_STRIPE_SIGNATURE"] = stripe_signature(payload, secret, timestamp)
    client = Client(enforce_csrf_checks=True)
    return client.post("/api/payments/webhook", data=payload, content_type="application/json", **headers)


@pytest.fixture
def buy(client_for, stripe_double):
    """Buy a ticket end to end: POST payment, the card is charged at Stripe, Stripe's webhook arrives."""

    def purchase(user, stream, *, pay=True):
        response = client_for(user).post(f"/api/livestreams/{stream.id}/payment")
        assert response.status_code == 201, response.json()
        body = response.json()
        if pay:
            intent = stripe_double.intent_succeed(body["paymentIntentId"])
            assert webhook_post("payment_intent.succeeded", intent).status_code == 200
        return body

    return purchase
