"""The catalogue's viewer counts: read from the viewer registry the rooms keep, at page load and by the
page's refresh (/streams/live-counts.json)."""

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from accounts.tests.factories import UserFactory
from chat.tests.conftest import ws  # noqa: F401 (the WebSocket client fixture)
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db(transaction=True)


async def test_live_shows_carry_their_viewer_count(ws, artist):  # noqa: F811
    busy = await database_sync_to_async(stream_factory)(artist=artist, status="live", title="Busy Show")
    quiet = await database_sync_to_async(stream_factory)(artist=artist, status="live", title="Quiet Show")
    for user in (await database_sync_to_async(UserFactory)(), await database_sync_to_async(UserFactory)()):
        await (await ws(user)).join(busy)
    await (await ws(artist)).join(busy)  # the artist is not the audience

    def page():
        return Client().get("/").content.decode(), Client().get("/streams/live-counts.json").json()

    html, counts = await database_sync_to_async(page)()
    assert counts == {str(busy.id): 2, str(quiet.id): 0}
    assert f'<span data-viewers="{busy.id}">2</span> watching' in html
    assert f'<span data-viewers="{quiet.id}">0</span> watching' in html
