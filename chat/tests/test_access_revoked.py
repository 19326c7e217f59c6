"""Losing access closes what is open (audit F7): a refund, a ban without end or a cancellation takes the
viewer's open connections out of the stream's room on every process, and nobody else."""

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from accounts.tests.factories import UserFactory
from chat import services as chat_services
from livestream_site.events import stream_access_revoke_on_commit
from payments import services as payment_services
from payments.money import to_minor_units
from payments.tests.factories import paid_ticket_factory
from streams import services as stream_services

from .conftest import SKIPPED

pytestmark = pytest.mark.django_db(transaction=True)


async def _say(client, stream, message):
    await client.send("sendChatMessage", {"streamId": str(stream.id), "message": message})


async def _quiet(client, seconds: float = 0.5) -> bool:
    """No frame but viewer counts for `seconds`."""
    while not await client.nothing(seconds):
        frame = await client.receive()
        assert frame["event"] in SKIPPED, f"unexpected frame {frame}"
    return True


async def _removed(client, stream, code: str) -> None:
    """The error naming why, then leftStream: the client knows it is out of the room."""
    error = await client.expect_error(code)
    assert error["streamId"] == str(stream.id) and "no longer" in error["message"]
    assert await client.expect("leftStream") == {"streamId": str(stream.id), "reason": code}


@pytest.fixture
def ppv_stream(make_stream):
    return make_stream(status="live", is_pay_per_view=True)


async def test_a_refunded_viewer_leaves_the_pay_per_view_room_and_other_ticket_holders_stay(ws, ppv_stream, artist):
    refunded_fan, other_fan = await database_sync_to_async(UserFactory)(), await database_sync_to_async(UserFactory)()
    payment = await database_sync_to_async(paid_ticket_factory)(stream=ppv_stream, user=refunded_fan)
    await database_sync_to_async(paid_ticket_factory)(stream=ppv_stream, user=other_fan)
    refunded, other, host = await ws(refunded_fan), await ws(other_fan), await ws(artist)
    for client in (refunded, other, host):
        await client.join(ppv_stream)

    # Stripe says the charge is refunded in full (the webhook's service; a refund from the API ends there too).
    await database_sync_to_async(payment_services.charge_refunded)(
        intent_id=payment.stripe_payment_intent_id,
        amount_refunded_minor=to_minor_units(payment.amount, payment.currency),
        currency=payment.currency,
        refund_ids=["re_test_1"],
    )
    await _removed(refunded, ppv_stream, "payment_required")

    await _say(host, ppv_stream, "after the refund")
    assert (await other.expect("newChatMessage"))["message"] == "after the refund"
    assert await _quiet(refunded)  # no more frames of the room
    # Out for good: joining again needs a ticket.
    await refunded.send("joinStream", {"streamId": str(ppv_stream.id)})
    await refunded.expect_error("payment_required")


async def test_a_partial_refund_keeps_the_ticket_and_the_room(ws, ppv_stream):
    fan = await database_sync_to_async(UserFactory)()
    payment = await database_sync_to_async(paid_ticket_factory)(stream=ppv_stream, user=fan)
    client = await ws(fan)
    await client.join(ppv_stream)
    await database_sync_to_async(payment_services.charge_refunded)(
        intent_id=payment.stripe_payment_intent_id,
        amount_refunded_minor=100,
        currency=payment.currency,
        refund_ids=["re_test_partial"],
    )
    await _say(client, ppv_stream, "still here")
    assert (await client.expect("newChatMessage"))["message"] == "still here"


async def test_a_ban_without_end_removes_the_viewer_and_a_timeout_only_silences(ws, live_stream, viewer, artist):
    fan, host = await ws(viewer), await ws(artist)
    await fan.join(live_stream)
    await host.join(live_stream)
    await host.send("banUser", {"streamId": str(live_stream.id), "userId": viewer.id, "durationSeconds": 60})
    await host.expect("moderationApplied")
    assert await _quiet(fan)  # a timeout: still in the room
    await _say(host, live_stream, "during the timeout")
    assert (await fan.expect("newChatMessage"))["message"] == "during the timeout"
    await host.expect("newChatMessage")

    await host.send("banUser", {"streamId": str(live_stream.id), "userId": viewer.id})
    await host.expect("moderationApplied")
    await _removed(fan, live_stream, "banned")
    await fan.send("joinStream", {"streamId": str(live_stream.id)})
    await fan.expect_error("banned")

    await host.send("unbanUser", {"streamId": str(live_stream.id), "userId": viewer.id})
    await host.expect("moderationApplied")
    assert (await fan.join(live_stream))["streamId"] == str(live_stream.id)


async def test_a_cancelled_stream_sends_its_viewers_out_but_not_its_artist(ws, make_stream, viewer, artist):
    stream = await database_sync_to_async(make_stream)(status="scheduled")
    fan, host = await ws(viewer), await ws(artist)
    await fan.join(stream)
    await host.join(stream)
    await database_sync_to_async(stream_services.stream_cancel)(stream_id=stream.id)
    assert (await fan.expect("streamUpdate"))["status"] == "cancelled"
    await _removed(fan, stream, "forbidden")
    assert (await host.expect("streamUpdate"))["status"] == "cancelled"
    assert await _quiet(host)  # the artist stays in the room


async def test_a_revoke_for_a_viewer_who_still_has_access_changes_nothing(ws, ppv_stream):
    fan = await database_sync_to_async(UserFactory)()
    await database_sync_to_async(paid_ticket_factory)(stream=ppv_stream, user=fan)
    client = await ws(fan)
    await client.join(ppv_stream)

    def revoke():
        with transaction.atomic():
            stream_access_revoke_on_commit(stream_id=ppv_stream.id, user_ids=[fan.id], reason="refunded")

    await database_sync_to_async(revoke)()
    assert await _quiet(client)
    await _say(client, ppv_stream, "my ticket still holds")
    assert (await client.expect("newChatMessage"))["message"] == "my ticket still holds"


async def test_a_ban_made_through_the_rest_api_reaches_the_open_socket(ws, live_stream, viewer, artist):
    fan = await ws(viewer)
    await fan.join(live_stream)
    await database_sync_to_async(chat_services.chat_ban_create)(
        stream_id=live_stream.id, user_id=viewer.id, by_user=artist
    )
    await _removed(fan, live_stream, "banned")
