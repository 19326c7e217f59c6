"""A fan in Chromium, through a real daphne: signs up on the page, finds an artist, follows them; the account
pages are usable by keyboard and at 390 px. Screenshots of each page at desktop and phone size are saved in
var/screenshots/ (a test artifact, not committed)."""

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import Follow, User
from livestream_site.testing.browser import chromium
from livestream_site.testing.processes import daphne_server
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def _shoot(page, name: str) -> None:
    """Both sizes of the page, and no sideways scrolling at 390 px."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for size, viewport in SIZES.items():
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)
        if size == "phone":
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name} overflows at 390 px by {overflow} px"
    page.set_viewport_size(SIZES["desktop"])


def test_a_fan_signs_up_and_follows_an_artist(artist):
    stream = stream_factory(artist=artist, title="Friday Session")
    name = f"fan{uuid.uuid4().hex[:6]}"
    env = {"CELERY_TASK_ALWAYS_EAGER": "true", "ALLOW_ARTIST_SIGNUP": "true"}
    with daphne_server(env=env) as server, chromium() as browser:
        page = browser.new_context(viewport=SIZES["desktop"]).new_page()
        page.goto(f"{server.url}/accounts/login/")
        _shoot(page, "login")
        page.get_by_role("link", name="Create an account").click()
        _shoot(page, "signup")
        # By keyboard: each field is reached with Tab, in order, and the form is sent with Enter.
        page.get_by_label("Username").focus()
        page.keyboard.type(name)
        page.keyboard.press("Tab")
        expect(page.get_by_label("Email")).to_be_focused()
        page.keyboard.type(f"{name}@example.com")
        expect(page.get_by_label("Fan: watch shows, buy tickets, follow artists")).to_be_checked()
        page.get_by_label("Password", exact=True).fill("a-Long-pass-9911")
        page.get_by_label("Password (again)").fill("a-Long-pass-9911")
        page.get_by_label("Password (again)").press("Enter")
        expect(page.get_by_test_id("who")).to_have_text(name, timeout=15_000)
        # Signed in, on the home page, which lists the artist's show.
        card = page.get_by_test_id("stream-card").filter(has_text="Friday Session")
        expect(card.locator("a.card-link")).to_have_attribute("href", f"/streams/{stream.id}/")

        page.goto(f"{server.url}/artists/{artist.username}/")
        expect(page.get_by_test_id("artist-name")).to_have_text(artist.username)
        expect(page.get_by_test_id("stream-card")).to_contain_text("Friday Session")
        page.get_by_test_id("follow").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("follow")).to_have_attribute("aria-pressed", "true", timeout=15_000)
        expect(page.get_by_test_id("follower-count")).to_have_text("1")
        _shoot(page, "artist")

        page.get_by_test_id("who").click()
        expect(page.get_by_test_id("follows")).to_contain_text(artist.username)
        page.get_by_test_id("token-create").click()
        token = page.get_by_test_id("api-token").inner_text()
        _shoot(page, "account")
        page.goto(f"{server.url}/accounts/password/reset/")
        _shoot(page, "password-reset")
        page.goto(f"{server.url}/accounts/email/")
        _shoot(page, "email")
        response = page.goto(f"{server.url}/no-such-page/")
        assert response.status == 404
        _shoot(page, "404")
    # What the pages did, in the database (the ORM is not for Playwright's event loop).
    fan = User.objects.get(username=name)
    assert fan.role == User.Role.VIEWER and fan.email == f"{name}@example.com"
    assert Follow.objects.filter(fan=fan, artist=artist).exists()
    assert fan.auth_token.key == token
