"""No overselling: concurrent purchases for the last seats, each thread with its own database connection."""

import threading

import pytest
from django.db import connection, connections

from accounts.tests.factories import UserFactory
from payments.models import LiveStreamPayment
from payments.selectors import stream_seats_taken

BUYERS = 8
SEATS = 3


@pytest.mark.django_db(transaction=True)
def test_concurrent_purchases_never_exceed_max_viewers(client_for, ppv_stream, stripe_double):
    if connection.vendor != "postgresql":
        pytest.skip("Row locks (SELECT ... FOR UPDATE) need PostgreSQL; SQLite serialises all writes anyway.")
    stream = ppv_stream(max_viewers=SEATS)
    buyers = [UserFactory() for _ in range(BUYERS)]
    clients = [client_for(user) for user in buyers]  # tokens made here, on the main connection
    barrier = threading.Barrier(BUYERS)
    results: list[tuple[int, str]] = []

    def purchase(client):
        try:
            barrier.wait(timeout=30)
            response = client.post(f"/api/livestreams/{stream.id}/payment")
            code = response.json().get("error", {}).get("code", "") if response.status_code != 201 else ""
            results.append((response.status_code, code))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=purchase, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(results) == [(201, "")] * SEATS + [(409, "sold_out")] * (BUYERS - SEATS)
    assert stream_seats_taken(stream=stream) == SEATS
    assert LiveStreamPayment.objects.filter(stream=stream).count() == SEATS
    assert len(stripe_double.intents) == SEATS
