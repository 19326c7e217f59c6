"""The server-rendered pages, through Django's test client."""

from datetime import timedelta

import pytest
from django.utils import timezone

from streams.models import LiveStream, LiveStreamRecording
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


def test_the_old_dashboard_address_leads_to_the_studio(client, artist):
    client.force_login(artist)
    response = client.get("/dashboard/")
    assert response.status_code == 301 and response["Location"] == "/studio/"


@pytest.mark.parametrize("role,shown", [("artist", True), ("staff", True), ("viewer", False)])
def test_the_studio_link_is_shown_to_those_who_may_host(role, shown, request, client):
    client.force_login(request.getfixturevalue(role))
    html = client.get("/").content.decode()
    assert ('href="/studio/"' in html) is shown


def test_home_lists_a_scheduled_show_until_it_starts_or_is_cancelled(client):
    late = stream_factory(title="Running late")
    LiveStream.objects.filter(pk=late.pk).update(scheduled_start_time=timezone.now() - timedelta(minutes=20))
    cancelled = stream_factory(title="Called off", status="cancelled")
    html = client.get("/").content.decode()
    upcoming = html.split('data-testid="upcoming"')[1].split('data-testid="replays"')[0]
    assert "Running late" in upcoming  # its start time passed, but it can still go live
    assert cancelled.title not in html
    assert f'href="/streams/{late.id}/calendar.ics"' in upcoming and 'class="countdown"' in upcoming


def test_home_searches_titles_and_artists_and_filters_by_type(client, artist):
    stream_factory(artist=artist, title="Jazz Night", type="concert")
    stream_factory(artist=artist, title="Mixing Session", type="studio_session")
    stream_factory(title="Questions", type="artist_interaction")
    assert "Jazz Night" in client.get("/?q=jazz").content.decode()
    assert "Mixing Session" not in client.get("/?q=jazz").content.decode()
    by_artist = client.get(f"/?q={artist.username}").content.decode()
    assert "Jazz Night" in by_artist and "Mixing Session" in by_artist and "Questions" not in by_artist
    studio = client.get("/?type=studio_session").content.decode()
    assert "Mixing Session" in studio and "Jazz Night" not in studio
    assert client.get("/?type=nonsense&q=" + "x" * 500).status_code == 200  # ignored / trimmed, never a 500


def test_replays_show_their_thumbnail_and_duration(client, artist, settings):
    stream = stream_factory(artist=artist, title="Last Night", status="ended")
    LiveStreamRecording.objects.create(
        stream=stream, status="ready", duration_seconds=754.2, thumbnail="thumbnails/x.jpg", file="recordings/x.mp4"
    )
    stream_factory(artist=artist, title="No Video Yet", status="ended")
    html = client.get("/").content.decode()
    replays = html.split('data-testid="replays"')[1]
    assert 'alt="Picture from Last Night"' in replays and "thumbnails/x.jpg" in replays and "754 s" in replays


def test_a_show_can_be_added_to_a_calendar(client, artist):
    stream = stream_factory(artist=artist, title="Live, at last; really\\nreally", description="Bring friends")
    response = client.get(f"/streams/{stream.id}/calendar.ics")
    body = response.content.decode()
    assert response.status_code == 200 and response["Content-Type"].startswith("text/calendar")
    assert body.startswith("BEGIN:VCALENDAR\r\n") and body.endswith("END:VCALENDAR\r\n")
    assert f"UID:{stream.id}@livestage" in body
    assert "SUMMARY:Live\\, at last\\; really\\\\nreally" in body.replace("\r\n ", "")
    assert stream.scheduled_start_time.strftime("DTSTART:%Y%m%dT%H%M%SZ") in body
    assert all(len(line.encode()) <= 75 for line in body.split("\r\n"))
    assert client.get("/streams/nope/calendar.ics").status_code == 404
