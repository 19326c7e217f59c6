"""A fan's whole evening in Chromium, as issue 12 tells it, against a real daphne, nginx-rtmp, an ffmpeg
encoder and the Stripe double: sign up on the page, find the show on the home page, follow the artist,
buy a ticket through the confirmation and the checkout, see it under My tickets, watch the live picture
play, chat, see a refusal when slow mode is on, and after the show watch the replay with its chat replay;
a second fan without a ticket sees the buy button and no player; the follower's mail holds the go-live
e-mail exactly once. Screenshots of each page at desktop and phone size go to var/screenshots/."""

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.factories import PASSWORD, UserFactory, token_for
from accounts.tests.test_browser import _shoot
from livestream_site.testing.browser import chromium, in_thread
from livestream_site.testing.processes import daphne_server, free_port
from payments.tests.conftest import WEBHOOK_SECRET
from payments.tests.stripe_double import StripeDouble
from streams.media.tests.media_support import media_env, media_server, needs_media, publisher, wait_for
from streams.models import LiveStream, LiveStreamRecording
from streams.tests.factories import stream_factory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.media,
    pytest.mark.slow,
    needs_media,
    pytest.mark.django_db(transaction=True),
]


def _api(page, method: str, path: str, token: str, body=None) -> int:
    """A call of the REST API as the artist's API client would make it (from the page's context)."""
    return page.evaluate(
        """async ([method, path, token, body]) => (await fetch(path, {method, headers: {
            "Authorization": `Token ${token}`, "Content-Type": "application/json"},
            body: body === null ? undefined : JSON.stringify(body)})).status""",
        [method, path, token, body],
    )


def test_a_fan_s_evening(settings, tmp_path, artist):
    settings.HLS_X264_PRESET = "ultrafast"
    settings.HLS_SEGMENT_SECONDS = 1.0
    settings.MEDIA_SIGNING_SECRET = "fan-story-signing-secret"
    settings.MEDIA_CALLBACK_SECRET = "fan-story-callback-secret"
    settings.STREAM_RECONNECT_WINDOW_SECONDS = 2
    mail = tmp_path / "mail"
    port = free_port()
    double = StripeDouble().start()
    stream = stream_factory(
        artist=artist,
        title="Midnight Session",
        is_pay_per_view=True,
        is_recording_enabled=True,
        max_quality="low",
        scheduled_start_time=timezone.now() + timedelta(minutes=2),
    )
    artist_token = token_for(artist)
    other_fan = UserFactory(username="no_ticket_fan")
    name = f"fan{uuid.uuid4().hex[:6]}"
    try:
        with media_server(settings, tmp_path, f"http://127.0.0.1:{port}") as media:
            env = media_env(media, "STREAM_RECONNECT_WINDOW_SECONDS")
            env.update(
                CELERY_TASK_ALWAYS_EAGER="true",
                EMAIL_URL=f"filemail:///{mail}",  # environ drops the first slash of the path
                STRIPE_SECRET_KEY=double.api_key,
                STRIPE_PUBLISHABLE_KEY="pk_test_double",
                STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                STRIPE_API_BASE=double.url,
                STRIPE_MAX_NETWORK_RETRIES="0",
            )
            with daphne_server(env=env, port=port) as server, chromium() as browser:
                double.webhook_url, double.webhook_secret = f"{server.url}/api/payments/webhook", WEBHOOK_SECRET
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()

                # Sign up on the page (a fan), nothing confirmed by hand.
                page.goto(f"{server.url}/accounts/signup/")
                page.get_by_label("Username").fill(name)
                page.get_by_label("Email").fill(f"{name}@example.com")
                page.get_by_label("Password", exact=True).fill("a-Long-pass-9911")
                page.get_by_label("Password (again)").fill("a-Long-pass-9911")
                page.get_by_label("Password (again)").press("Enter")
                expect(page.get_by_test_id("who")).to_have_text(name, timeout=15_000)

                # The home page lists the show; the fan follows its artist.
                _shoot(page, "story-home")
                card = page.get_by_test_id("stream-card").filter(has_text="Midnight Session")
                card.get_by_role("link", name=artist.username).click()
                page.get_by_test_id("follow").click()
                expect(page.get_by_test_id("follow")).to_have_attribute("aria-pressed", "true", timeout=15_000)
                _shoot(page, "story-artist")

                # A ticket: the show's page, the price confirmation, Stripe's checkout, My tickets.
                page.goto(f"{server.url}/streams/{stream.id}/")
                expect(page.get_by_test_id("access")).to_have_text("A ticket is needed to watch this show.")
                _shoot(page, "story-show-before-ticket")
                page.get_by_test_id("buy").click()
                expect(page.get_by_test_id("price")).to_contain_text(str(stream.ticket_price))
                _shoot(page, "story-buy")
                page.get_by_test_id("pay").click()
                page.get_by_test_id("stripe-pay").click()
                expect(page.locator('[data-status="paid"]')).to_have_count(1, timeout=15_000)
                expect(page.get_by_test_id("tickets-upcoming")).to_contain_text("Midnight Session")
                _shoot(page, "story-tickets")

                # The artist goes live; the follower is told once.
                encoder = publisher(media, stream.stream_key, seconds=40, size="640x360")
                try:
                    wait_for(
                        lambda: in_thread(LiveStream.objects.filter(pk=stream.pk, status="live").exists),
                        timeout=30,
                        message="the show to go live",
                    )
                    page.goto(f"{server.url}/streams/{stream.id}/")
                    page.wait_for_function("document.getElementById('video').currentTime > 1", timeout=40_000)
                    started = page.evaluate("document.getElementById('video').currentTime")
                    page.wait_for_function(
                        f"document.getElementById('video').currentTime > {started + 1}", timeout=20_000
                    )
                    page.get_by_test_id("chat-input").fill("what a night")
                    page.get_by_test_id("chat-send").click()
                    expect(page.get_by_test_id("messages")).to_contain_text("what a night", timeout=10_000)
                    # Slow mode from the artist: the fan's next message is refused, visibly.
                    assert (
                        _api(
                            page,
                            "PATCH",
                            f"/api/livestreams/{stream.id}/chat/settings",
                            artist_token,
                            {"slowModeSeconds": 60},
                        )
                        == 200
                    )
                    expect(page.get_by_test_id("slow-mode")).to_have_text("slow mode: 60s", timeout=10_000)
                    for text in ("and another", "one more"):  # one message a minute: the second is refused
                        page.get_by_test_id("chat-input").fill(text)
                        page.get_by_test_id("chat-send").click()
                    expect(page.get_by_test_id("messages")).to_contain_text("and another", timeout=10_000)
                    expect(page.get_by_test_id("chat-error")).to_contain_text("Slow mode", timeout=10_000)
                    _shoot(page, "story-live")

                    # A second fan without a ticket: the buy button, no player.
                    other = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                    other.goto(f"{server.url}/accounts/login/")
                    other.fill("input[name=login]", other_fan.username)
                    other.fill("input[name=password]", PASSWORD)
                    other.click("button[type=submit]")
                    other.goto(f"{server.url}/streams/{stream.id}/")
                    expect(other.get_by_test_id("buy")).to_be_visible()
                    expect(other.get_by_test_id("video-message")).to_have_text("A ticket is needed to watch this show.")
                    assert other.evaluate("document.getElementById('video').currentSrc") == ""
                finally:
                    encoder.kill()
                    encoder.wait()

                # The show ends; its recording becomes the replay, with the chat beside it.
                assert _api(page, "POST", f"/api/livestreams/{stream.id}/end", artist_token) == 200
                wait_for(
                    lambda: in_thread(LiveStreamRecording.objects.filter(stream=stream, status="ready").exists),
                    timeout=60,
                    message="the replay",
                )
                page.goto(f"{server.url}/streams/{stream.id}/")
                page.wait_for_function("document.getElementById('video').src.includes('/vod/')", timeout=15_000)
                page.evaluate("document.getElementById('video').play()")
                message_at = page.evaluate(
                    """() => fetch(location.pathname.replace('/streams/', '/api/livestreams/') + 'chat')
                        .then(r => r.json()).then(d => d.results.length)"""
                )
                assert message_at == 2
                video_seconds = page.evaluate("document.getElementById('video').duration")
                page.evaluate(f"document.getElementById('video').currentTime = {video_seconds - 0.5}")
                expect(page.get_by_test_id("messages")).to_contain_text("what a night", timeout=15_000)
                _shoot(page, "story-replay")
    finally:
        double.stop()

    # The follower's mail: the go-live e-mail, exactly once.
    sent = [path.read_text() for path in Path(mail).glob("*")] if mail.exists() else []
    live = [text for text in sent if "is live" in text.lower() and f"{name}@example.com" in text]
    assert len(live) == 1, [text[:300] for text in sent]
