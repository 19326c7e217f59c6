"""Following artists: the API (POST/DELETE /api/artists/{id}/follow) and the artist page's follow button."""

import pytest

from accounts.models import Follow
from accounts.tests.factories import ArtistFactory, UserFactory
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db


def test_follow_and_unfollow_through_the_api(client_for, viewer, artist):
    api = client_for(viewer)
    path = f"/api/artists/{artist.id}/follow"
    response = api.post(path)
    assert response.status_code == 200
    assert response.json() == {"artistId": artist.id, "following": True, "followerCount": 1}
    assert api.post(path + "/").json()["followerCount"] == 1  # again: nothing changes
    assert client_for(UserFactory()).post(path).json()["followerCount"] == 2
    response = api.delete(path)
    assert response.status_code == 200
    assert response.json() == {"artistId": artist.id, "following": False, "followerCount": 1}
    assert api.delete(path).json()["followerCount"] == 1
    assert not Follow.objects.filter(fan=viewer, artist=artist).exists()


def test_follow_refusals(client_for, anon_client, viewer, artist):
    assert anon_client.post(f"/api/artists/{artist.id}/follow").status_code == 401
    oneself = client_for(artist).post(f"/api/artists/{artist.id}/follow")
    assert oneself.status_code == 400 and oneself.json()["error"]["code"] == "follow_oneself"
    fan = UserFactory()
    not_an_artist = client_for(viewer).post(f"/api/artists/{fan.id}/follow")
    assert not_an_artist.status_code == 404 and not_an_artist.json()["error"]["code"] == "not_found"
    assert client_for(viewer).post("/api/artists/99999999999999999999999/follow").status_code == 404
    assert Follow.objects.count() == 0


def test_the_artist_page_lists_their_shows_and_follows(client, artist):
    live = stream_factory(artist=artist, title="Live <i>Set</i>", status="live")
    upcoming = stream_factory(artist=artist, title="Next Week")
    past = stream_factory(artist=artist, title="Old Jam", status="ended")
    stream_factory(title="Someone Else's Show")
    page = client.get(f"/artists/{artist.username}/").content.decode()
    assert page.index(str(live.id)) < page.index(str(upcoming.id)) < page.index(str(past.id))
    assert "Live &lt;i&gt;Set&lt;/i&gt;" in page and "Someone Else" not in page
    assert "Sign in to follow" in page

    fan = UserFactory()
    client.force_login(fan)
    response = client.post(f"/artists/{artist.id}/follow/", {"next": f"/artists/{artist.username}/"})
    assert response.status_code == 302 and response["Location"] == f"/artists/{artist.username}/"
    page = client.get(f"/artists/{artist.id}/").content.decode()  # by id too
    assert 'aria-pressed="true"' in page and 'data-testid="follower-count">1<' in page
    assert artist.username in client.get("/accounts/").content.decode()  # listed on the account page
    client.post(f"/artists/{artist.id}/follow/", {"action": "unfollow", "next": "https://evil.example/"})
    assert not Follow.objects.filter(fan=fan, artist=artist).exists()


def test_the_artist_page_of_nobody_is_a_404(client, viewer):
    assert client.get("/artists/nobody-here/").status_code == 404
    assert client.get(f"/artists/{viewer.username}/").status_code == 404  # a fan has no artist page
    client.force_login(viewer)
    assert client.post(f"/artists/{viewer.id}/follow/").status_code == 404


def test_the_follow_button_needs_a_sign_in_and_a_post(client):
    artist = ArtistFactory()
    response = client.post(f"/artists/{artist.id}/follow/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    client.force_login(UserFactory())
    assert client.get(f"/artists/{artist.id}/follow/").status_code == 405
