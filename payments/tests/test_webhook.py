"""The Stripe webhook: real signature verification, each event once, any order, unknown types acknowledged."""

import time

import pytest

from accounts.tests.factories import UserFactory
from payments.models import LiveStreamPayment, StripeWebhookEvent

from .conftest import webhook_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(client_for, viewer, ppv_stream, stripe_double):
    """A viewer's pending ticket and its PaymentIntent id."""
    stream = ppv_stream()
    intent_id = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    return stream, intent_id


def _status(intent_id) -> str:
    return LiveStreamPayment.objects.get(stripe_payment_intent_id=intent_id).status


def test_succeeded_makes_the_ticket_paid_and_opens_the_stream(client_for, viewer, pending, stripe_double):
    stream, intent_id = pending

    response = webhook_post("payment_intent.succeeded", stripe_double.intent_succeed(intent_id))

    assert response.status_code == 200 and response.json()["outcome"] == "processed"
    assert _status(intent_id) == "paid"
    access = client_for(viewer).get(f"/api/livestreams/{stream.id}/access").json()
    assert access == {"hasAccess": True, "reason": "ticket"}


def test_duplicate_event_is_applied_once(pending, stripe_double):
    stream, intent_id = pending
    intent = stripe_double.intent_succeed(intent_id)
    webhook_post("payment_intent.succeeded", intent, event_id="evt_same")
    charge = stripe_double.charge(intent_id)
    charge.update(amount_refunded=300)  # a partial refund Stripe reports, delivered twice
    first = webhook_post("charge.refunded", charge, event_id="evt_refund")
    again = webhook_post("charge.refunded", charge, event_id="evt_refund")
    succeeded_again = webhook_post("payment_intent.succeeded", intent, event_id="evt_same")

    assert (first.json()["outcome"], again.json()["outcome"]) == ("processed", "duplicate")
    assert succeeded_again.json()["outcome"] == "duplicate"
    payment = LiveStreamPayment.objects.get(stripe_payment_intent_id=intent_id)
    assert (payment.status, str(payment.refunded_amount)) == ("partially_refunded", "3.00")
    assert StripeWebhookEvent.objects.filter(event_id__in=["evt_same", "evt_refund"]).count() == 2


def test_missing_signature_is_400(pending, stripe_double):
    _, intent_id = pending
    response = webhook_post("payment_intent.succeeded", stripe_double.intent_succeed(intent_id), signature=False)
    assert response.status_code == 400 and response.json()["error"]["code"] == "missing_signature"
    assert _status(intent_id) == "pending"


def test_signature_with_another_secret_is_400(pending, stripe_double):
    _, intent_id = pending
    response = webhook_post(
        "payment_intent.succeeded", stripe_double.intent_succeed(intent_id), secret="whsec_someone_else"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_signature"
    assert _status(intent_id) == "pending"


def test_old_signature_outside_the_tolerance_is_400(pending, stripe_double, settings):
    _, intent_id = pending
    old = int(time.time()) - settings.STRIPE_WEBHOOK_TOLERANCE - 60
    response = webhook_post("payment_intent.succeeded", stripe_double.intent_succeed(intent_id), timestamp=old)
    assert response.status_code == 400 and response.json()["error"]["code"] == "bad_signature"
    assert _status(intent_id) == "pending"


def test_tampered_body_is_400(pending, stripe_double):
    from django.test import Client

    from .stripe_double import stripe_event, stripe_signature

    _, intent_id = pending
    payload = stripe_event("payment_intent.succeeded", stripe_double.intent_succeed(intent_id))
    header = stripe_signature(payload, "whsec_test_double_secret")
    response = Client().post(
        "/api/payments/webhook",
        data=payload.replace('"livemode": false', '"livemode": true'),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=header,
    )
    assert response.status_code == 400
    assert _status(intent_id) == "pending"


def test_unknown_event_types_are_acknowledged(stripe_double):
    response = webhook_post("customer.created", {"id": "cus_1", "object": "customer"})
    assert response.status_code == 200 and response.json()["outcome"] == "ignored"


def test_late_failure_does_not_undo_a_paid_ticket(pending, stripe_double):
    _, intent_id = pending
    failed_earlier = stripe_double.intent_fail(intent_id)
    succeeded = stripe_double.intent_succeed(intent_id)

    webhook_post("payment_intent.succeeded", succeeded)
    webhook_post("payment_intent.payment_failed", failed_earlier)
    webhook_post("payment_intent.canceled", {**failed_earlier, "status": "canceled"})

    assert _status(intent_id) == "paid"


def test_refund_arriving_before_succeeded_stays_refunded(client_for, viewer, pending, stripe_double):
    stream, intent_id = pending
    succeeded = stripe_double.intent_succeed(intent_id)
    charge = {**stripe_double.charge(intent_id), "amount_refunded": 1000, "refunded": True}

    webhook_post("charge.refunded", charge)
    webhook_post("payment_intent.succeeded", succeeded)

    payment = LiveStreamPayment.objects.get(stripe_payment_intent_id=intent_id)
    assert payment.status == "refunded" and payment.paid_at is not None
    access = client_for(viewer).get(f"/api/livestreams/{stream.id}/access").json()
    assert access == {"hasAccess": False, "reason": "no_ticket"}


def test_failure_then_retry_with_another_card_succeeds(pending, stripe_double):
    _, intent_id = pending

    webhook_post("payment_intent.payment_failed", stripe_double.intent_fail(intent_id))
    failed = _status(intent_id)
    webhook_post("payment_intent.succeeded", stripe_double.intent_succeed(intent_id))

    assert (failed, _status(intent_id)) == ("failed", "paid")


def test_canceled_intent_releases_the_seat(client_for, ppv_stream, stripe_double):
    stream = ppv_stream(max_viewers=1)
    intent_id = client_for(UserFactory()).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]

    webhook_post("payment_intent.canceled", {**stripe_double.intents[intent_id], "status": "canceled"})
    other = client_for(UserFactory()).post(f"/api/livestreams/{stream.id}/payment")

    assert _status(intent_id) == "canceled"
    assert other.status_code == 201


def test_amount_mismatch_never_grants_a_ticket(pending, stripe_double):
    _, intent_id = pending
    intent = {**stripe_double.intent_succeed(intent_id), "amount_received": 1}

    webhook_post("payment_intent.succeeded", intent)

    assert _status(intent_id) == "pending"


def test_event_for_an_unknown_intent_is_acknowledged(stripe_double):
    response = webhook_post(
        "payment_intent.succeeded",
        {"id": "pi_unknown", "object": "payment_intent", "amount_received": 100, "currency": "usd", "metadata": {}},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "obj",
    [
        {"object": "payment_intent"},
        {"id": "pi_x", "object": "payment_intent", "currency": None, "amount_received": 1000},
        {"id": "pi_x", "object": "payment_intent", "currency": "usd", "amount_received": "lots"},
    ],
)
def test_event_with_missing_or_wrong_fields_is_400_not_500(pending, stripe_double, obj):
    _, intent_id = pending
    response = webhook_post("payment_intent.succeeded", {**obj, "id": intent_id} if "id" in obj else obj)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_event"
    assert not StripeWebhookEvent.objects.exists()  # not recorded: Stripe's retry may apply it once fixed


def test_webhook_refuses_get(client):
    response = client.get("/api/payments/webhook")
    assert response.status_code == 405 and response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.parametrize("bad_id", [None, "", 42, ["pi_x"]])
@pytest.mark.parametrize("event_type", ["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded"])
def test_an_event_without_a_string_id_is_400_and_matches_no_payment(bad_id, event_type, pending, stripe_double):
    """Audit F12: `filter(stripe_payment_intent_id=None)` is IS NULL, which matched an unrelated payment
    whose intent id was never saved."""
    _, intent_id = pending
    payment = LiveStreamPayment.objects.get(stripe_payment_intent_id=intent_id)
    LiveStreamPayment.objects.filter(pk=payment.pk).update(stripe_payment_intent_id=None)
    if event_type == "charge.refunded":
        obj = {**stripe_double.charge(intent_id), "payment_intent": bad_id}
    else:
        obj = {**stripe_double.intent_succeed(intent_id), "id": bad_id, "metadata": {}}
    response = webhook_post(event_type, obj)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_event"
    payment.refresh_from_db()
    assert payment.status == "pending" and payment.stripe_payment_intent_id is None
    assert not StripeWebhookEvent.objects.exists()
