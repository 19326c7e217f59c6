"""Buying a ticket: PaymentIntents, double clicks, refusals with their own codes, holds, confirm."""

from decimal import Decimal

import pytest

from accounts.tests.factories import UserFactory
from payments.models import LiveStreamPayment
from streams.tests.factories import stream_factory

from .conftest import webhook_post

pytestmark = pytest.mark.django_db


def test_payment_creates_an_intent_for_the_price_in_cents(client_for, viewer, ppv_stream, stripe_double):
    stream = ppv_stream(ticket_price=Decimal("29.99"), currency="eur")

    response = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment")

    assert response.status_code == 201, response.json()
    body = response.json()
    intent = stripe_double.intents[body["paymentIntentId"]]
    assert (intent["amount"], intent["currency"]) == (2999, "eur")
    assert intent["metadata"]["streamId"] == str(stream.id)
    assert intent["metadata"]["userId"] == str(viewer.id)
    assert body["clientSecret"] == intent["client_secret"]
    assert body["publishableKey"] == "pk_test_double"
    assert (body["amount"], body["currency"], body["status"]) == (2999, "eur", "pending")
    payment = LiveStreamPayment.objects.get(stripe_payment_intent_id=body["paymentIntentId"])
    assert (payment.user, payment.stream, payment.amount) == (viewer, stream, Decimal("29.99"))
    assert stripe_double.requests[-1][2] == payment.idempotency_key


def test_zero_decimal_currency_is_charged_in_whole_yen(client_for, viewer, ppv_stream, stripe_double):
    stream = ppv_stream(ticket_price=Decimal("1500"), currency="jpy")

    body = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment").json()

    assert stripe_double.intents[body["paymentIntentId"]]["amount"] == 1500
    assert body["amount"] == 1500


def test_a_price_the_currency_cannot_express_is_refused(client_for, viewer, ppv_stream, stripe_double):
    stream = ppv_stream(ticket_price=Decimal("1500.50"), currency="jpy")

    response = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "amount_not_representable"
    assert stripe_double.intents == {}


def test_double_click_makes_one_intent(client_for, viewer, ppv_stream, stripe_double):
    stream = ppv_stream()
    client = client_for(viewer)

    first = client.post(f"/api/livestreams/{stream.id}/payment").json()
    second = client.post(f"/api/livestreams/{stream.id}/payment/").json()

    assert second["paymentIntentId"] == first["paymentIntentId"]
    assert second["clientSecret"] == first["clientSecret"]
    assert len(stripe_double.intents) == 1
    assert LiveStreamPayment.objects.filter(stream=stream).count() == 1


def test_retry_after_a_lost_answer_reuses_the_idempotency_key(client_for, viewer, ppv_stream, stripe_double):
    """Stripe created the intent but our side never saved its id: the retry gets the same intent."""
    stream = ppv_stream()
    client = client_for(viewer)
    first = client.post(f"/api/livestreams/{stream.id}/payment").json()
    LiveStreamPayment.objects.filter(stream=stream).update(stripe_payment_intent_id=None)

    second = client.post(f"/api/livestreams/{stream.id}/payment").json()

    assert second["paymentIntentId"] == first["paymentIntentId"]
    assert len(stripe_double.intents) == 1
    keys = [key for method, path, key in stripe_double.requests if path == "/v1/payment_intents"]
    assert len(keys) == 2 and keys[0] == keys[1]


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("free", 400, "stream_free"),
        ("own", 403, "own_stream"),
        ("ended", 409, "stream_ended"),
        ("cancelled", 409, "stream_cancelled"),
        ("sold_out", 409, "sold_out"),
        ("has_ticket", 409, "already_has_ticket"),
    ],
)
def test_refusals_have_their_own_codes(setup, status, code, client_for, viewer, artist, ppv_stream, buy):
    buyer = artist if setup == "own" else viewer
    if setup == "free":
        stream = stream_factory(artist=artist)
    elif setup in ("ended", "cancelled"):
        stream = ppv_stream(status=setup)
    elif setup == "sold_out":
        stream = ppv_stream(max_viewers=1)
        buy(UserFactory(), stream)
    else:
        stream = ppv_stream()
    if setup == "has_ticket":
        buy(viewer, stream)

    response = client_for(buyer).post(f"/api/livestreams/{stream.id}/payment")

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code


def test_signed_out_visitor_cannot_buy(anon_client, ppv_stream, stripe_double):
    response = anon_client.post(f"/api/livestreams/{ppv_stream().id}/payment")
    assert response.status_code == 401


def test_unknown_stream_is_404(client_for, viewer, stripe_double):
    response = client_for(viewer).post("/api/livestreams/not-a-uuid/payment")
    assert response.status_code == 404


def test_a_pending_hold_takes_the_last_seat_until_it_expires(client_for, ppv_stream, stripe_double, settings):
    held, lapsed = ppv_stream(max_viewers=1), ppv_stream(max_viewers=1)
    first, second = UserFactory(), UserFactory()
    client_for(first).post(f"/api/livestreams/{held.id}/payment")
    settings.PAYMENT_HOLD_SECONDS = 0  # this hold lapses at once
    client_for(first).post(f"/api/livestreams/{lapsed.id}/payment")
    settings.PAYMENT_HOLD_SECONDS = 600

    refused = client_for(second).post(f"/api/livestreams/{held.id}/payment")
    accepted = client_for(second).post(f"/api/livestreams/{lapsed.id}/payment")
    first_again = client_for(first).post(f"/api/livestreams/{lapsed.id}/payment")

    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sold_out"
    assert accepted.status_code == 201
    assert first_again.status_code == 409 and first_again.json()["error"]["code"] == "sold_out"


def test_paying_after_the_hold_lapsed_and_the_seat_went_is_refunded(
    client_for, ppv_stream, stripe_double, settings, eager_celery, django_capture_on_commit_callbacks
):
    stream = ppv_stream(max_viewers=1)
    late, punctual = UserFactory(), UserFactory()
    settings.PAYMENT_HOLD_SECONDS = 0
    late_intent = client_for(late).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    settings.PAYMENT_HOLD_SECONDS = 600
    punctual_intent = client_for(punctual).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    webhook_post("payment_intent.succeeded", stripe_double.intent_succeed(punctual_intent))

    with django_capture_on_commit_callbacks(execute=True):
        webhook_post("payment_intent.succeeded", stripe_double.intent_succeed(late_intent))

    late_payment = LiveStreamPayment.objects.get(stripe_payment_intent_id=late_intent)
    assert late_payment.status == "refunded"
    assert [r["amount"] for r in stripe_double.refunds.values()] == [1000]
    access = client_for(late).get(f"/api/livestreams/{stream.id}/access").json()
    assert access == {"hasAccess": False, "reason": "sold_out"}


def test_confirm_applies_what_stripe_says_not_the_client(client_for, viewer, ppv_stream, stripe_double):
    stream = ppv_stream()
    client = client_for(viewer)
    intent_id = client.post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]

    unpaid = client.post("/api/payments/confirm", {"paymentIntentId": intent_id})
    stripe_double.intent_succeed(intent_id)
    paid = client.post("/api/payments/confirm/", {"paymentIntentId": intent_id})

    assert unpaid.status_code == 200 and unpaid.json()["status"] == "pending"
    assert unpaid.json()["hasAccess"] is False
    assert paid.json()["status"] == "paid" and paid.json()["hasAccess"] is True


def test_confirm_of_a_declined_card_marks_the_payment_failed(client_for, viewer, ppv_stream, stripe_double):
    client = client_for(viewer)
    intent_id = client.post(f"/api/livestreams/{ppv_stream().id}/payment").json()["paymentIntentId"]
    stripe_double.intent_fail(intent_id, "Your card was declined.")

    body = client.post("/api/payments/confirm", {"paymentIntentId": intent_id}).json()

    assert body["status"] == "failed"
    assert LiveStreamPayment.objects.get(stripe_payment_intent_id=intent_id).failure_reason == "Your card was declined."


def test_confirm_of_someone_elses_payment_is_404(client_for, viewer, ppv_stream, stripe_double):
    intent_id = client_for(viewer).post(f"/api/livestreams/{ppv_stream().id}/payment").json()["paymentIntentId"]

    response = client_for(UserFactory()).post("/api/payments/confirm", {"paymentIntentId": intent_id})
    missing = client_for(viewer).post("/api/payments/confirm", {})

    assert response.status_code == 404
    assert missing.status_code == 400 and "paymentIntentId" in missing.json()["error"]["fields"]


def test_stripe_down_is_a_502_and_a_retry_works(client_for, viewer, ppv_stream, stripe_double, settings):
    stream = ppv_stream()
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    down = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment")
    settings.STRIPE_API_BASE = stripe_double.url
    retried = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment")

    assert down.status_code == 502 and down.json()["error"]["code"] == "payment_provider_error"
    assert retried.status_code == 201
    assert len(stripe_double.intents) == 1


def test_dev_checkout_completes_a_purchase_without_stripe_in_debug(client_for, viewer, ppv_stream, settings):
    settings.DEBUG = True
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_DEV_CHECKOUT = True
    stream = ppv_stream()
    client = client_for(viewer)

    body = client.post(f"/api/livestreams/{stream.id}/payment").json()
    confirmed = client.post("/api/payments/confirm", {"paymentIntentId": body["paymentIntentId"]}).json()

    assert body["devCheckout"] is True and body["paymentIntentId"].startswith("dev_pi_")
    assert confirmed["status"] == "paid"
    assert client.get(f"/api/livestreams/{stream.id}/access").json() == {"hasAccess": True, "reason": "ticket"}


def test_dev_checkout_is_refused_when_debug_is_off(client_for, viewer, ppv_stream, settings):
    settings.DEBUG = True
    settings.STRIPE_SECRET_KEY = ""
    settings.PAYMENTS_DEV_CHECKOUT = True
    stream = ppv_stream()
    client = client_for(viewer)
    intent_id = client.post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    settings.DEBUG = False

    confirmed = client.post("/api/payments/confirm", {"paymentIntentId": intent_id})
    other = client_for(UserFactory()).post(f"/api/livestreams/{stream.id}/payment")

    assert confirmed.status_code == 403 and confirmed.json()["error"]["code"] == "dev_checkout_disabled"
    assert other.status_code == 503 and other.json()["error"]["code"] == "payments_unavailable"
    assert LiveStreamPayment.objects.get(stripe_payment_intent_id=intent_id).status == "pending"


def test_lapsed_holds_are_cancelled_at_stripe_and_a_paid_one_is_kept(
    client_for, ppv_stream, stripe_double, settings, eager_celery
):
    from payments.tasks import payment_holds_release_task

    stream = ppv_stream()
    settings.PAYMENT_HOLD_SECONDS = 0
    abandoned = client_for(UserFactory()).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    paid_late = client_for(UserFactory()).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    stripe_double.intent_succeed(paid_late)  # paid just as the hold lapsed; the webhook has not come yet
    settings.PAYMENT_HOLD_SECONDS = 600
    waiting = client_for(UserFactory()).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]

    released = payment_holds_release_task.delay().get()
    payment_holds_release_task.delay()  # again: nothing left to do

    statuses = {
        i: p.status
        for i, p in (
            (i, LiveStreamPayment.objects.get(stripe_payment_intent_id=i)) for i in (abandoned, paid_late, waiting)
        )
    }
    assert released == 2
    assert statuses == {abandoned: "canceled", paid_late: "paid", waiting: "pending"}
    assert stripe_double.intents[abandoned]["status"] == "canceled"
    assert stripe_double.count("POST", "/v1/payment_intents/") == 2


def test_buying_again_after_stripe_cancelled_the_intent_gets_a_new_one(client_for, viewer, ppv_stream, stripe_double):
    stream = ppv_stream()
    client = client_for(viewer)
    first = client.post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    stripe_double.intents[first]["status"] = "canceled"  # cancelled from the Stripe dashboard

    second = client.post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]

    assert second != first and stripe_double.intents[second]["status"] == "requires_payment_method"
    assert LiveStreamPayment.objects.get(stripe_payment_intent_id=first).status == "canceled"
