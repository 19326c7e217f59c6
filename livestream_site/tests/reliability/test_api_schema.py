"""schemathesis against the live OpenAPI schema (/api/schema/), as the stream's artist and as a viewer.

For every operation of the schema, generated requests (valid and invalid, with random ids and with the ids
of real streams, messages and users) never get a 5xx, and every answer is one the schema documents: its
status code, its content type and its body. The Stripe webhook (POST /api/payments/webhook) is not an
operation of the schema (a plain Django view Stripe calls, verified by signature, so generated bodies could
only ever get `400 missing_signature`); payments/tests/test_webhook.py covers it. /api/schema and
/api/docs serve the schema itself and are left out of it (SERVE_INCLUDE_SCHEMA = False).
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.tests.factories import ArtistFactory, UserFactory, token_for
from chat import services as chat_services
from payments.tests.stripe_double import StripeDouble
from streams.tests.factories import stream_factory

from .conftest import examples

SCHEMA = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
MAX_EXAMPLES = examples(ci=20, long=400)


def test_the_schema_lists_the_api():
    """The parametrization below reads the schema: an API that lost its operations would test nothing."""
    assert len(OPERATIONS) >= 30
    assert "POST /api/livestreams/" in OPERATIONS


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI handler closes the database connection after each request (close_old_connections), which
    would end the test's transaction; Django's test client disconnects it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def stripe(settings):
    """Payments against the Stripe double of the payments tests (with no key, buying is a 503 by design)."""
    double = StripeDouble().start()
    settings.STRIPE_SECRET_KEY = double.api_key
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_double"
    settings.STRIPE_API_BASE = double.url
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    yield double
    double.stop()


@pytest.fixture
def world(db, wsgi_in_test_transaction, stripe):
    """The artist with a live free stream and a pay-per-view one, a viewer who chatted, another artist."""
    artist, viewer = ArtistFactory(), UserFactory()
    free = stream_factory(artist=artist, status="live")
    ppv = stream_factory(artist=artist, is_pay_per_view=True)
    others = stream_factory(artist=ArtistFactory(), status="live")
    message = chat_services.chat_message_send(stream_id=str(free.id), user=viewer, message="hello")
    return {
        "artist": artist,
        "viewer": viewer,
        "stream_ids": [str(free.id), str(ppv.id), str(others.id)],
        "message_id": getattr(message, "id", 1),
        "user_ids": [viewer.id, artist.id],
    }


def _real_ids(world, operation) -> st.SearchStrategy:
    """Path parameters that name things that exist, for the operations that take them."""
    names = {parameter.name for parameter in operation.path_parameters}
    values = {}
    if "id" in names:
        values["id"] = st.sampled_from(world["stream_ids"])
    if "streamId" in names:
        values["streamId"] = st.sampled_from(world["stream_ids"])
    if "messageId" in names:
        values["messageId"] = st.just(world["message_id"])
    if "userId" in names:
        values["userId"] = st.sampled_from(world["user_ids"])
    return st.fixed_dictionaries(values)


@pytest.mark.parametrize("role", ["artist", "viewer"])
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_operation_answers_as_documented(world, role, label):
    operation = OPERATIONS[label]
    headers = {"Authorization": f"Token {token_for(world[role])}"}
    real = _real_ids(world, operation)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
        real.flatmap(lambda ids: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=ids or None)),
        real.flatmap(lambda ids: operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=ids or None)),
    )

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases)
    def check(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
