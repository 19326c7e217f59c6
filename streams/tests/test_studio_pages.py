"""The artist's studio over HTTP: who may open each page, what My shows lists and counts (with its query
count pinned), the show form's modes, the encoder setup read from the settings, and escaping."""

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.tests.factories import paid_ticket_factory
from streams.models import LiveStream
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db

PAGES = ["/studio/{id}/", "/studio/{id}/edit/", "/studio/{id}/analytics/", "/studio/new/?from={id}"]


def _section(html: str, testid: str) -> str:
    return html.split(f'data-testid="{testid}"')[1].split("</ul>")[0]


def test_signing_in_comes_first(client):
    response = client.get("/studio/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=/studio/")


def test_a_fan_is_told_the_studio_is_for_artists(client, viewer):
    stream = stream_factory()
    client.force_login(viewer)
    for path in ["/studio/", "/studio/new/", *(p.format(id=stream.id) for p in PAGES)]:
        response = client.get(path)
        assert response.status_code == 403, path
        html = response.content.decode()
        assert "The studio is for artists" in html and 'data-testid="for-artists"' in html
        assert stream.stream_key not in html


@pytest.mark.parametrize("template", PAGES)
def test_another_artists_show_is_refused(template, client, other_artist):
    stream = stream_factory(title="Not yours")
    client.force_login(other_artist)
    response = client.get(template.format(id=stream.id))
    assert response.status_code == 403
    assert "This show is not yours" in response.content.decode()


@pytest.mark.parametrize("template", PAGES)
def test_the_artist_and_staff_open_each_page(template, client, artist, staff):
    stream = stream_factory(artist=artist, status="live")
    for user in (artist, staff):
        client.force_login(user)
        assert client.get(template.format(id=stream.id)).status_code == 200


def test_an_unknown_show_is_404(client, artist):
    client.force_login(artist)
    assert client.get("/studio/not-a-stream/").status_code == 404
    assert client.get("/studio/00000000-0000-0000-0000-000000000000/analytics/").status_code == 404


def test_my_shows_lists_each_show_where_it_belongs_with_its_figures(client, artist, viewer):
    live = stream_factory(artist=artist, title="On air now", status="live")
    upcoming = stream_factory(artist=artist, title="Next week", is_pay_per_view=True)
    paid_ticket_factory(stream=upcoming, user=viewer)
    free = stream_factory(artist=artist, title="Free rehearsal")
    past = stream_factory(artist=artist, title="Last spring", status="ended")
    stream_factory(title="Someone else's show")
    client.force_login(artist)
    html = client.get("/studio/").content.decode()

    assert "On air now" in _section(html, "live-shows")
    assert "Next week" in _section(html, "upcoming-shows") and "Free rehearsal" in _section(html, "upcoming-shows")
    assert "Last spring" in _section(html, "past-shows")
    assert "Someone else" not in html

    row = html.split(f'data-stream-id="{upcoming.id}"')[1].split("</li>")[0]
    assert 'data-testid="tickets-sold">1<' in row and "10.00 USD" in row
    # Cancelling refunds the one ticket: the confirmation is told so. A show with a ticket is never deleted.
    assert 'data-action="cancel" data-refundable="1"' in row and 'data-action="delete"' not in row
    free_row = html.split(f'data-stream-id="{free.id}"')[1].split("</li>")[0]
    assert 'data-refundable="0"' in free_row and 'data-action="delete"' in free_row
    live_row = html.split(f'data-stream-id="{live.id}"')[1].split("</li>")[0]
    assert 'data-action="delete"' not in live_row and 'data-action="cancel"' not in live_row
    past_row = html.split(f'data-stream-id="{past.id}"')[1].split("</li>")[0]
    assert f'href="/studio/new/?from={past.id}"' in past_row and f'href="/studio/{past.id}/analytics/"' in past_row
    assert f'<time class="local-time" datetime="{upcoming.scheduled_start_time.isoformat()}' in html


def test_my_shows_costs_the_same_queries_for_two_shows_or_twelve(client, artist, viewer, django_assert_num_queries):
    def add(count):
        for index in range(count):
            stream = stream_factory(artist=artist, title=f"Show {index}", is_pay_per_view=True)
            paid_ticket_factory(stream=stream, user=viewer)
        stream_factory(artist=artist, status="ended")

    client.force_login(artist)
    add(2)
    with django_assert_num_queries(5):  # session, user, the shows, ticket sales, payment counts
        assert client.get("/studio/").status_code == 200
    add(10)
    with django_assert_num_queries(5):
        html = client.get("/studio/").content.decode()
    assert html.count('data-testid="show"') == 14


def test_every_user_text_is_escaped(client, artist):
    stream_factory(artist=artist, title='<img src=x onerror="alert(1)">')
    client.force_login(artist)
    html = client.get("/studio/").content.decode()
    assert "<img src=x" not in html and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_the_control_room_shows_the_server_but_never_the_key(client, artist):
    stream = stream_factory(artist=artist)
    client.force_login(artist)
    html = client.get(f"/studio/{stream.id}/").content.decode()
    assert 'data-testid="ingest-url">rtmp://' in html
    assert stream.stream_key not in html  # asked from /ingest when the artist reveals it


def test_the_obs_settings_follow_the_ladder_and_the_segment_length(client, artist, settings):
    settings.HLS_LADDER = "240p:240:400:64,540p:540:1800:96,1440p:1440:9000:192"
    settings.HLS_SEGMENT_SECONDS = 4.0
    settings.HLS_X264_PRESET = "faster"
    medium = stream_factory(artist=artist, max_quality="medium", stream_settings={"fps": 25})
    client.force_login(artist)
    html = client.get(f"/studio/{medium.id}/").content.decode()
    # maxQuality medium allows up to 720 lines: the 540p rung is the highest the encoder needs to send.
    assert 'data-testid="obs-resolution">960x540<' in html
    assert 'data-testid="obs-bitrate">1800 kbps<' in html
    assert 'data-testid="obs-keyframe">4 s' in html and "100 frames at 25 fps" in html
    assert 'data-testid="obs-preset">faster<' in html
    high = stream_factory(artist=artist, max_quality="high")
    html = client.get(f"/studio/{high.id}/").content.decode()
    assert 'data-testid="obs-resolution">960x540<' in html  # 1440p is above high's 1080 lines


def test_the_edit_form_marks_what_a_started_show_can_no_longer_change(client, artist):
    scheduled = stream_factory(artist=artist)
    live = stream_factory(artist=artist, status="live")
    client.force_login(artist)
    html = client.get(f"/studio/{scheduled.id}/edit/").content.decode()
    assert 'data-testid="frozen-note"' not in html and " disabled>" not in html
    html = client.get(f"/studio/{live.id}/edit/").content.decode()
    assert 'data-testid="frozen-note"' in html
    for name in ("scheduledStartTime", "ticketPrice", "currency", "maxViewers", "isPayPerView"):
        tag = html.split(f'name="{name}"')[1].split(">")[0]
        assert "disabled" in tag, name
    assert "disabled" not in html.split('name="title"')[1].split(">")[0]
    assert '"frozen": ["currency", "isPayPerView", "maxViewers", "scheduledStartTime", "ticketPrice"]' in html


def test_duplicating_copies_everything_but_the_start_time(client, artist):
    past = stream_factory(artist=artist, title="Spring tour", description="Songs", status="ended", max_viewers=50)
    LiveStream.objects.filter(pk=past.pk).update(scheduled_start_time=timezone.now() - timedelta(days=30))
    client.force_login(artist)
    html = client.get(f"/studio/new/?from={past.id}").content.decode()
    assert "Schedule “Spring tour” again" in html
    assert '"title": "Spring tour"' in html and '"maxViewers": 50' in html and '"scheduledStartTime": null' in html
    assert '"streamId": null' in html  # saved as a new show
    assert " disabled>" not in html


@pytest.mark.django_db
def test_the_form_offers_the_encoder_test_before_the_show(client, artist):
    client.force_login(artist)
    html = client.get("/studio/new/").content.decode()
    assert 'name="goLiveOnPublish"' in html and "a test only you see" in html
    stream = stream_factory(artist=artist, go_live_on_publish=False)
    edit = client.get(f"/studio/{stream.id}/edit/").content.decode()
    assert '"goLiveOnPublish": false' in edit  # the form starts from the show's own setting
