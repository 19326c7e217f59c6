"""What one WebSocket join costs (database queries, Redis round trips), and when a join reuses another's read."""

import asyncio

import pytest
import redis
import redis.asyncio
from channels.db import database_sync_to_async
from django.db.backends import utils as db_utils

from accounts.tests.factories import UserFactory
from livestream_site.realtime import frame_encode, room_publish
from payments.tests.factories import paid_ticket_factory
from streams.models import LiveStream

pytestmark = pytest.mark.django_db(transaction=True)


class Round:
    """Every database query (from any thread) and Redis command (async and blocking clients) made meanwhile."""

    def __init__(self, monkeypatch):
        self.queries: list[str] = []
        self.commands: list[tuple] = []
        self.recording = False
        queries, commands = self.queries, self.commands

        original_sql = db_utils.CursorWrapper._execute_with_wrappers

        def sql(cursor, sql, *args, **kwargs):
            if self.recording:
                queries.append(sql)
            return original_sql(cursor, sql, *args, **kwargs)

        original_async = redis.asyncio.Redis.execute_command

        async def async_command(client, *args, **options):
            if self.recording:
                commands.append(tuple(str(arg) for arg in args[:3]))
            return await original_async(client, *args, **options)

        original_sync = redis.Redis.execute_command

        def sync_command(client, *args, **options):
            if self.recording:
                commands.append(tuple(str(arg) for arg in args[:3]))
            return original_sync(client, *args, **options)

        monkeypatch.setattr(db_utils.CursorWrapper, "_execute_with_wrappers", sql)
        monkeypatch.setattr(redis.asyncio.Redis, "execute_command", async_command)
        monkeypatch.setattr(redis.Redis, "execute_command", sync_command)

    def start(self) -> None:
        self.queries.clear()
        self.commands.clear()
        self.recording = True

    def join_queries(self) -> list[str]:
        """The queries of the join itself: not the coalesced count update's write of a new peak."""
        return [sql for sql in self.queries if not (sql.startswith("UPDATE") and '"peak_viewers"' in sql)]

    def join_commands(self) -> list[str]:
        """The commands of the join itself: not those of the coalesced count update (keys rt:vc-...)."""
        self.recording = False
        return [args[0] for args in self.commands if not any(arg.startswith("rt:vc-") for arg in args)]


@pytest.fixture
def round_trips(settings, monkeypatch):
    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL: the production shape's round trips")
    settings.VIEWER_COUNT_INTERVAL_SECONDS = 60  # the count update waits for its slot: it stays out of the way
    return Round(monkeypatch)


async def test_a_join_to_a_room_in_use_costs_no_query_and_one_registry_script(ws, make_stream, viewer, round_trips):
    stream = await database_sync_to_async(make_stream)(status="live")
    first = await ws(headers=[(b"x-forwarded-for", b"203.0.113.1")])
    round_trips.start()
    await first.join(stream)
    # The first join of this process reads the stream (with its chat settings) and who is banned from its
    # room for good, in one trip to the database thread, and subscribes the room.
    assert len(round_trips.join_queries()) == 2
    assert round_trips.join_commands().count("EVALSHA") == 1
    # Its count update is a frame of the room, which ends the reuse of reads made before it.
    await first.expect("viewerCountUpdate", skip=())
    # A read made while the room is subscribed is reused by the joins after it (until the next frame).
    round_trips.start()
    await (await ws()).join(stream)
    assert len(round_trips.join_queries()) == 2

    for client in (await ws(), await ws(viewer)):  # an anonymous viewer and a signed-in one, free stream
        round_trips.start()
        joined = await client.join(stream)
        assert round_trips.join_queries() == []
        # One script registers the viewer (seat check, add, count); one write queues the viewer session.
        assert round_trips.join_commands() == ["EVALSHA", "XADD"]
        assert joined["sessionId"]


async def test_a_ticket_holder_s_join_reads_only_the_ticket(ws, make_stream, viewer, round_trips):
    stream = await database_sync_to_async(make_stream)(status="live", is_pay_per_view=True)
    await database_sync_to_async(paid_ticket_factory)(stream=stream, user=viewer)
    other = await database_sync_to_async(UserFactory)()
    await database_sync_to_async(paid_ticket_factory)(stream=stream, user=other)
    first = await ws(other)
    await first.join(stream)
    await first.expect("viewerCountUpdate", skip=())
    await (await ws(other)).join(stream)  # the read the next join reuses
    holder = await ws(viewer)
    round_trips.start()
    await holder.join(stream)
    assert len(round_trips.join_queries()) == 1 and "payment" in round_trips.join_queries()[0]
    assert round_trips.join_commands() == ["EVALSHA", "XADD"]
    # Without a ticket the same path refuses (the read is not reused across viewers).
    stranger = await ws(await database_sync_to_async(UserFactory)())
    await stranger.send("joinStream", {"streamId": str(stream.id)})
    await stranger.expect_error("payment_required")


async def test_a_join_sees_a_change_announced_to_the_room_by_another_process(ws, make_stream):
    """Another process's change reaches this one as a room frame only (no save here): the next join reads again."""
    stream = await database_sync_to_async(make_stream)(status="live")
    watcher = await ws()
    await watcher.join(stream)
    await (await ws()).join(stream)  # a join that the next may reuse

    await database_sync_to_async(LiveStream.objects.filter(pk=stream.id).update)(is_chat_enabled=False)
    await asyncio.to_thread(
        room_publish, stream.id, frame_encode("streamUpdate", {"id": str(stream.id), "isChatEnabled": False})
    )
    await watcher.expect("streamUpdate")
    assert (await (await ws()).join(stream))["isChatEnabled"] is False


async def test_a_join_sees_a_save_in_this_process_at_once(ws, make_stream):
    stream = await database_sync_to_async(make_stream)(status="live")
    await (await ws()).join(stream)
    await (await ws()).join(stream)

    def cancel_quietly():  # saved without any room frame: only this process's save signal tells
        row = LiveStream.objects.get(pk=stream.id)
        row.status = "cancelled"
        row.save(update_fields=["status"])

    await database_sync_to_async(cancel_quietly)()
    late = await ws()
    await late.send("joinStream", {"streamId": str(stream.id)})
    await late.expect_error("forbidden")
