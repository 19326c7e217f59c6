"""Chat writes racing a stream's deletion end in a clear answer, never a 500 (audit F5)."""

import threading

import pytest
from django.db import connection, connections

from accounts.tests.factories import UserFactory
from streams.tests.factories import stream_factory

ROUNDS = 8

WRITES = {
    "settings": lambda client, stream_id: client.patch(
        f"/api/livestreams/{stream_id}/chat/settings", {"slowModeSeconds": 5}, format="json"
    ),
    "ban": lambda client, stream_id, user_id: client.post(
        f"/api/livestreams/{stream_id}/chat/bans", {"userId": user_id, "durationSeconds": 60}, format="json"
    ),
    "moderator": lambda client, stream_id, user_id: client.post(
        f"/api/livestreams/{stream_id}/chat/moderators", {"userId": user_id}, format="json"
    ),
}


def _race(requests, answers: list) -> None:
    """Send the requests at the same instant, each from its own thread and database connection."""
    barrier = threading.Barrier(len(requests))

    def run(request):
        try:
            barrier.wait(timeout=30)
            answers.append(request().status_code)
        except Exception as exc:  # the test client re-raises what would have been a 500
            answers.append(f"500 {type(exc).__name__}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(request,)) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write", sorted(WRITES))
def test_chat_writes_racing_a_delete_never_fail_with_a_server_error(write, client_for, artist):
    if connection.vendor != "postgresql":
        pytest.skip("The race is between two PostgreSQL transactions.")
    fan = UserFactory()
    client = client_for(artist)
    answers: list[int | str] = []
    for _ in range(ROUNDS):
        stream_id = stream_factory(artist=artist).id
        args = (client, stream_id) if write == "settings" else (client, stream_id, fan.id)
        requests = [
            lambda args=args: WRITES[write](*args),
            lambda stream_id=stream_id: client.delete(f"/api/livestreams/{stream_id}"),
        ]
        _race(requests, answers)
    assert len(answers) == 2 * ROUNDS
    assert all(answer in (200, 201, 204, 404) for answer in answers), answers


@pytest.mark.django_db(transaction=True)
def test_a_message_sent_as_its_stream_is_deleted_is_a_404(monkeypatch, artist):
    if connection.vendor != "postgresql":
        pytest.skip("The race is between two PostgreSQL transactions.")
    from chat import services
    from livestream_site.errors import NotFound
    from streams.models import LiveStream

    stream = stream_factory(artist=artist, status="live")
    create = services.LiveStreamChat.objects.create

    def create_after_the_delete(**fields):
        # Another connection deletes the stream between the checks and the insert.
        def delete():
            LiveStream.objects.filter(pk=stream.id).delete()
            connections.close_all()

        deleter = threading.Thread(target=delete)
        deleter.start()
        deleter.join(timeout=30)
        return create(**fields)

    monkeypatch.setattr(services.LiveStreamChat.objects, "create", create_after_the_delete)
    with pytest.raises(NotFound):
        services.chat_message_send(stream_id=stream.id, user=artist, message="still there?")
