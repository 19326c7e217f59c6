"""Real browsers on the stream page, through a real daphne process: chat, moderation, viewer counts, tickets."""

import pytest
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD, UserFactory
from livestream_site.testing.browser import chromium
from livestream_site.testing.processes import daphne_server
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(browser, base: str, username: str, path: str):
    page = browser.new_context().new_page()
    page.goto(f"{base}/accounts/login/?next={path}")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")
    return page


def test_two_viewers_chat_and_the_artist_moderates(artist):
    stream = stream_factory(artist=artist, title="Browser Jam", status="live")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    path = f"/streams/{stream.id}/"
    with daphne_server() as server, chromium() as browser:
        alice_page = _sign_in(browser, server.url, alice.username, path)
        bob_page = _sign_in(browser, server.url, bob.username, path)
        artist_page = _sign_in(browser, server.url, artist.username, path)

        # The artist watches their own show but is not counted as a viewer.
        for page in (alice_page, bob_page, artist_page):
            expect(page.get_by_test_id("viewer-count")).to_have_text("2", timeout=15_000)

        alice_page.get_by_test_id("chat-input").fill("<b>hello</b> from alice")
        alice_page.get_by_test_id("chat-send").click()
        line = bob_page.get_by_test_id("messages").locator("li", has_text="from alice")
        expect(line).to_contain_text("<b>hello</b> from alice", timeout=10_000)  # shown as text, not HTML
        expect(bob_page.locator("#messages b", has_text="hello")).to_have_count(0)

        artist_line = artist_page.get_by_test_id("messages").locator("li", has_text="from alice")
        artist_line.get_by_role("button", name="delete").click()
        expect(line).to_have_count(0, timeout=10_000)

        bob_page.close()
        expect(alice_page.get_by_test_id("viewer-count")).to_have_text("1", timeout=15_000)

        # The artist turns slow mode on (through the chat API, with the page's session): the label of a
        # page already open follows chatSettingsUpdate, and a page opened afterwards gets it on joining.
        slow_mode = alice_page.get_by_test_id("slow-mode")
        expect(slow_mode).to_have_text("")
        settings_path = f"/api/livestreams/{stream.id}/chat/settings"
        status = artist_page.evaluate(
            "async (path) => (await Livestage.api('PATCH', path, {slowModeSeconds: 30})).status", settings_path
        )
        assert status == 200
        expect(slow_mode).to_have_text("slow mode: 30s", timeout=10_000)
        expect(alice_page.get_by_test_id("messages")).to_contain_text("one message every 30 seconds")
        alice_page.reload()
        expect(alice_page.get_by_test_id("slow-mode")).to_have_text("slow mode: 30s", timeout=15_000)
        artist_page.evaluate("async (path) => Livestage.api('PATCH', path, {slowModeSeconds: 0})", settings_path)
        expect(alice_page.get_by_test_id("slow-mode")).to_have_text("", timeout=10_000)


def test_a_fan_buys_a_ticket_on_the_stream_page_and_gets_in(artist):
    """Pay-per-view through the pages: the price confirmation, then the local development checkout (DEBUG
    on, no Stripe keys), the receipt, and back to the show with access."""
    stream = stream_factory(artist=artist, title="Ticketed Show", status="live", is_pay_per_view=True)
    fan = UserFactory(username="fan")
    path = f"/streams/{stream.id}/"
    with daphne_server(env={"STRIPE_SECRET_KEY": ""}) as server, chromium() as browser:
        page = _sign_in(browser, server.url, fan.username, path)
        expect(page.get_by_test_id("access")).to_have_text("A ticket is needed to watch this show.")
        page.get_by_test_id("buy").click()
        expect(page.get_by_test_id("price")).to_contain_text(f"{stream.ticket_price} {stream.currency.upper()}")
        page.get_by_test_id("pay").click()
        expect(page.get_by_test_id("receipt-status")).to_contain_text("Paid", timeout=15_000)
        page.get_by_test_id("go-to-show").click()
        expect(page.get_by_test_id("access")).to_have_text("You have a ticket.", timeout=15_000)
        expect(page.get_by_test_id("buy")).to_have_count(0)
        expect(page.get_by_test_id("viewer-count")).to_have_text("1", timeout=15_000)
    assert stream.payments.get(user=fan).status == "paid"
