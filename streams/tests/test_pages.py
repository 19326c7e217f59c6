"""The server-rendered pages, through Django's test client."""

import pytest

from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db


def test_catalogue_lists_live_upcoming_and_replays(client, artist):
    stream_factory(artist=artist, title="Now Playing", status="live")
    stream_factory(artist=artist, title="Tomorrow Show")
    stream_factory(artist=artist, title="Old Jam", status="ended")
    html = client.get("/").content.decode()
    live, upcoming, replays = html.index("Live now"), html.index("Upcoming"), html.index("Replays")
    assert live < html.index("Now Playing") < upcoming < html.index("Tomorrow Show") < replays < html.index("Old Jam")


def test_stream_page_never_shows_the_stream_key_even_to_its_artist(client, artist):
    stream = stream_factory(artist=artist, title="<script>alert(1)</script>")
    client.force_login(artist)
    html = client.get(f"/streams/{stream.id}/").content.decode()
    assert stream.stream_key not in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_stream_page_offers_a_ticket_to_a_viewer_without_one(client, viewer):
    stream = stream_factory(is_pay_per_view=True, status="live")
    client.force_login(viewer)
    html = client.get(f"/streams/{stream.id}/").content.decode()
    assert 'data-testid="buy"' in html and f'href="/streams/{stream.id}/buy/"' in html
    assert "A ticket is needed to watch this show." in html and "access: no_ticket" not in html


def test_unknown_stream_page_is_404(client):
    assert client.get("/streams/not-a-uuid/").status_code == 404


def test_dashboard_is_for_artists(client, artist, viewer):
    stream_factory(artist=artist, title="Mine")
    assert client.get("/dashboard/").status_code == 302  # sign in first
    client.force_login(viewer)
    assert client.get("/dashboard/").status_code == 403
    client.force_login(artist)
    html = client.get("/dashboard/").content.decode()
    assert "Mine" in html and "rtmp://" in html


@pytest.mark.parametrize("role,shown", [("artist", True), ("staff", True), ("viewer", False)])
def test_the_dashboard_link_is_shown_to_those_who_may_host(role, shown, request, client):
    client.force_login(request.getfixturevalue(role))
    html = client.get("/").content.decode()
    assert ('href="/dashboard/"' in html) is shown
