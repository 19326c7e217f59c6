"""Refunds: every ticket of a cancelled show, in a retried idempotent task; staff refunds from the admin."""

from decimal import Decimal

import pytest

from accounts.tests.factories import PASSWORD, UserFactory
from payments import receivers
from payments.models import LiveStreamPayment
from payments.selectors import stream_viewer_access
from payments.tasks import payment_refund_task, stream_tickets_refund_task
from streams.models import LiveStream
from streams.signals import stream_cancelled

from .conftest import webhook_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def sold_show(ppv_stream, buy):
    """A show with three paid tickets and one viewer still paying."""
    stream = ppv_stream(ticket_price=Decimal("25.00"))
    for _ in range(3):
        buy(UserFactory(), stream)
    buy(UserFactory(), stream, pay=False)
    return stream


def test_cancelling_refunds_every_paid_ticket_despite_a_stripe_error(
    client_for, artist, sold_show, stripe_double, eager_celery, django_capture_on_commit_callbacks
):
    stripe_double.fail_next_refunds(1)  # Stripe answers the first refund with 429 Too Many Requests

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(artist).post(f"/api/livestreams/{sold_show.id}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    payments = LiveStreamPayment.objects.filter(stream=sold_show)
    assert sorted(p.status for p in payments) == ["pending", "refunded", "refunded", "refunded"]
    assert stripe_double.count("POST", "/v1/refunds") == 4  # one failed, retried, then two more
    assert sorted(r["amount"] for r in stripe_double.refunds.values()) == [2500, 2500, 2500]
    for payment in payments.filter(status="refunded"):
        assert payment.refunded_amount == Decimal("25.00")
        assert payment.stripe_refund_ids == [
            r["id"] for r in stripe_double.refunds.values() if r["payment_intent"] == payment.stripe_payment_intent_id
        ]


REFUND_RECEIVER = "payments.stream_cancelled_tickets_refund"  # the dispatch_uid payments.apps connects it with


@pytest.fixture
def failing_receiver_first():
    """Another app's receiver of stream_cancelled that raises, heard before the payments receiver."""

    def broken(sender, **kwargs):
        raise RuntimeError("a receiver that fails")

    stream_cancelled.disconnect(dispatch_uid=REFUND_RECEIVER)
    stream_cancelled.connect(broken, dispatch_uid="test-broken")
    stream_cancelled.connect(receivers.stream_cancelled_tickets_refund, dispatch_uid=REFUND_RECEIVER)
    yield
    stream_cancelled.disconnect(dispatch_uid="test-broken")


def test_a_failing_receiver_neither_breaks_the_cancellation_nor_stops_the_refunds(
    client_for,
    artist,
    sold_show,
    stripe_double,
    eager_celery,
    django_capture_on_commit_callbacks,
    caplog,
    failing_receiver_first,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(artist).post(f"/api/livestreams/{sold_show.id}/cancel")

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert LiveStream.objects.get(pk=sold_show.id).status == "cancelled"
    assert len(stripe_double.refunds) == 3
    assert "a receiver that fails" in caplog.text  # logged, not hidden


def test_the_cancellation_reaches_payments_only_through_the_stream_cancelled_signal(
    client_for, artist, sold_show, stripe_double, eager_celery, django_capture_on_commit_callbacks
):
    stream_cancelled.disconnect(dispatch_uid=REFUND_RECEIVER)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client_for(artist).post(f"/api/livestreams/{sold_show.id}/cancel")
    finally:
        stream_cancelled.connect(receivers.stream_cancelled_tickets_refund, dispatch_uid=REFUND_RECEIVER)

    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert stripe_double.refunds == {}  # streams itself knows nothing of tickets


def test_running_the_refund_tasks_twice_refunds_nothing_twice(sold_show, stripe_double, eager_celery):
    stream_tickets_refund_task.delay(str(sold_show.id))
    refunds_after_first_run = dict(stripe_double.refunds)

    stream_tickets_refund_task.delay(str(sold_show.id))
    for payment in LiveStreamPayment.objects.filter(stream=sold_show):
        if payment.paid_at:
            payment_refund_task.delay(str(payment.id), "stream_cancelled")

    assert len(refunds_after_first_run) == 3
    assert stripe_double.refunds == refunds_after_first_run


def test_a_refund_lost_on_the_way_back_is_found_again_by_its_idempotency_key(ppv_stream, buy, stripe_double):
    """Stripe refunded but our side never recorded it (a crash): the retry gets the same Stripe refund."""
    from payments.services import payment_refund

    payment_id = buy(UserFactory(), ppv_stream())["paymentId"]
    payment_refund(payment_id=payment_id)
    LiveStreamPayment.objects.filter(pk=payment_id).update(
        status="paid", refunded_amount=0, stripe_refund_ids=[], refunded_at=None
    )

    payment = payment_refund(payment_id=payment_id)

    assert len(stripe_double.refunds) == 1
    assert payment.status == "refunded" and payment.stripe_refund_ids == list(stripe_double.refunds)


def test_refund_webhook_after_the_service_changes_nothing(ppv_stream, buy, stripe_double):
    from payments.services import payment_refund

    body = buy(UserFactory(), ppv_stream())
    payment_refund(payment_id=body["paymentId"], amount=Decimal("4.00"))
    webhook_post("charge.refunded", stripe_double.charge(body["paymentIntentId"]))

    payment = LiveStreamPayment.objects.get(pk=body["paymentId"])
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("4.00"))
    assert len(payment.stripe_refund_ids) == 1


def _admin_client(client, staff):
    staff.is_superuser = True
    staff.save()
    assert client.login(username=staff.username, password=PASSWORD)
    return client


def test_staff_refunds_part_of_a_ticket_from_the_admin(client, staff, viewer, ppv_stream, buy, stripe_double):
    body = buy(viewer, ppv_stream())
    admin = _admin_client(client, staff)
    url = "/admin/payments/livestreampayment/"

    form = admin.post(url, {"action": "refund", "_selected_action": [body["paymentId"]]})
    done = admin.post(
        url, {"action": "refund", "_selected_action": [body["paymentId"]], "apply": "1", "amount": "2.50"}
    )

    assert form.status_code == 200 and b"Refund" in form.content
    assert done.status_code == 302
    payment = LiveStreamPayment.objects.get(pk=body["paymentId"])
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", Decimal("2.50"))
    assert [r["amount"] for r in stripe_double.refunds.values()] == [250]
    # A partial refund is a goodwill gesture: the ticket still lets its viewer in.
    assert stream_viewer_access(user=viewer, stream=payment.stream).reason == "ticket"


def test_admin_refuses_a_refund_above_what_is_left(client, staff, viewer, ppv_stream, buy, stripe_double):
    body = buy(viewer, ppv_stream())
    admin = _admin_client(client, staff)

    response = admin.post(
        "/admin/payments/livestreampayment/",
        {"action": "refund", "_selected_action": [body["paymentId"]], "apply": "1", "amount": "10.01"},
        follow=True,
    )

    assert b"at most 10.00" in response.content
    assert stripe_double.refunds == {}
    assert LiveStreamPayment.objects.get(pk=body["paymentId"]).status == "paid"


def test_admin_shows_the_refund_services_refusal_of_a_zero_amount(
    client, staff, viewer, ppv_stream, buy, stripe_double
):
    body = buy(viewer, ppv_stream())
    admin = _admin_client(client, staff)

    response = admin.post(
        "/admin/payments/livestreampayment/",
        {"action": "refund", "_selected_action": [body["paymentId"]], "apply": "1", "amount": "0"},
        follow=True,
    )

    assert b"The refund must be above 0 and at most 10.00 USD." in response.content
    assert stripe_double.refunds == {}
    assert LiveStreamPayment.objects.get(pk=body["paymentId"]).status == "paid"


def test_admin_lists_filters_and_searches_payments(client, staff, viewer, ppv_stream, buy, stripe_double):
    body = buy(viewer, ppv_stream())
    buy(UserFactory(), ppv_stream(), pay=False)
    admin = _admin_client(client, staff)

    by_intent = admin.get("/admin/payments/livestreampayment/", {"q": body["paymentIntentId"]})
    by_user = admin.get("/admin/payments/livestreampayment/", {"q": viewer.username})
    pending = admin.get("/admin/payments/livestreampayment/", {"status__exact": "pending"})

    assert by_intent.context["cl"].result_count == 1
    assert by_user.context["cl"].result_count == 1
    assert pending.context["cl"].result_count == 1
