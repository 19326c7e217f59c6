"""Real-time events for a stream's room, sent only after the surrounding transaction commits."""

import logging

from django.db import transaction

from . import realtime

logger = logging.getLogger(__name__)


def stream_event_send_now(*, stream_id, event: str, data: dict) -> bool:
    """Send `event` to the stream's room in every server process, encoded once, right now.

    Returns whether it went out: an unreachable Redis must not undo a committed change, so a failure
    is logged and reported, never raised."""
    try:
        # Through the module attribute, so a test that wraps realtime.room_publish sees every frame.
        realtime.room_publish(stream_id, realtime.frame_encode(event, data))
    except Exception as exc:
        logger.warning("could not send %s for stream %s: %r", event, stream_id, exc)
        return False
    return True


def stream_event_send_on_commit(*, stream_id, event: str, data: dict, sent=None) -> None:
    """Queue `event` for everyone in the stream's room once the current transaction commits.

    Nothing private may go into `data`: every member of the room receives it. `sent(bool)`, when
    given, is told after the commit whether the event went out (so a sender can be told it did not).
    """

    def send() -> None:
        went_out = stream_event_send_now(stream_id=stream_id, event=event, data=data)
        if sent is not None:
            sent(went_out)

    transaction.on_commit(send)


def stream_access_revoke_on_commit(*, stream_id, user_ids: list[int] | None, reason: str) -> None:
    """Once committed, tell every process that these users (None: every viewer) may have lost access to
    the stream: their connections check their access again and leave the room if it is gone (audit F7).

    A control message on the room's own fan-out, so it reaches each process after the frames sent before
    it; the connections concerned re-check in the database, so a user who still has access stays.
    """
    data = {"userIds": None if user_ids is None else [int(user_id) for user_id in user_ids], "reason": reason}

    def send() -> None:
        try:
            realtime.room_publish(stream_id, realtime.control_encode("revoke", data))
        except Exception as exc:  # Redis down: a viewer left in the room loses it at the next join check
            logger.warning("could not revoke access to stream %s: %r", stream_id, exc)

    transaction.on_commit(send)


def stream_room_changed_on_commit(*, stream_id, what: str) -> None:
    """Once committed, tell every process that something joins read about the stream changed without a
    frame to say so (a ban lifted): a control message, which ends the reuse of earlier reads (chat.joins)."""

    def send() -> None:
        try:
            realtime.room_publish(stream_id, realtime.control_encode("changed", {"what": what}))
        except Exception as exc:  # Redis down: the reuse ends by WS_JOIN_CACHE_SECONDS anyway
            logger.warning("could not announce a change of stream %s: %r", stream_id, exc)

    transaction.on_commit(send)


def stream_staff_room(stream_id) -> str:
    """The room of a stream's managers (its artist and staff): the consumer joins exempt users to it."""
    return f"{stream_id}:staff"


def stream_staff_event_send_on_commit(*, stream_id, event: str, data: dict) -> None:
    """Queue `event` for the stream's artist and staff only (never its viewers), after commit."""
    room = stream_staff_room(stream_id)
    transaction.on_commit(lambda: stream_event_send_now(stream_id=room, event=event, data=data))
