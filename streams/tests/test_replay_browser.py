"""The replay page in Chromium: the recording plays from nginx (signed), there is no live count and no chat
box, and the show's chat appears beside the video at the moment each message was sent."""

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.tests.factories import UserFactory
from chat.models import LiveStreamChat
from livestream_site.testing.browser import chromium
from livestream_site.testing.processes import daphne_server, free_port
from streams.media.tests.media_support import media_env, media_server, needs_media
from streams.models import LiveStream, LiveStreamRecording
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.browser, pytest.mark.media, needs_media, pytest.mark.django_db(transaction=True)]

REPLAY_SECONDS = 60


def test_the_replay_plays_with_its_chat_at_the_moments_it_was_sent(settings, tmp_path, artist):
    settings.MEDIA_SIGNING_SECRET = "replay-test-signing-secret"
    port = free_port()
    with media_server(settings, tmp_path, f"http://127.0.0.1:{port}") as media:
        stream = stream_factory(artist=artist, title="Last Night Live", status="ended")
        started = timezone.now() - timedelta(hours=2)
        LiveStream.objects.filter(pk=stream.pk).update(started_at=started)
        name = f"recordings/{stream.id}/replay.mp4"
        target = Path(media.MEDIA_ROOT) / name
        target.parent.mkdir(parents=True)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"testsrc=size=320x180:rate=10:duration={REPLAY_SECONDS}"]
            + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-movflags", "+faststart", str(target)],
            check=True,
        )
        LiveStreamRecording.objects.create(stream=stream, status="ready", file=name, duration_seconds=REPLAY_SECONDS)
        fan = UserFactory(username="early_bird")
        for seconds, text in ((1, "first song!"), (45, "encore please")):
            message = LiveStreamChat.objects.create(stream=stream, user=fan, message=text)
            LiveStreamChat.objects.filter(pk=message.pk).update(created_at=started + timedelta(seconds=seconds))

        env = media_env(media)
        with daphne_server(env=env, port=port) as server, chromium() as browser:
            page = browser.new_page()
            page.goto(f"{server.url}/streams/{stream.id}/")
            expect(page.get_by_test_id("viewer-count")).to_have_count(0)  # no live count on a replay
            expect(page.locator("#chat-form")).to_have_count(0)  # and no chat box
            page.wait_for_function("document.getElementById('video').src.includes('/vod/')", timeout=15_000)
            messages = page.get_by_test_id("messages")
            expect(messages).to_have_text("")  # nothing before the video reaches a message
            page.evaluate("document.getElementById('video').play()")
            page.wait_for_function("document.getElementById('video').currentTime > 1.5", timeout=20_000)
            expect(messages).to_contain_text("first song!")
            expect(messages).to_contain_text("0:01")
            assert "encore please" not in messages.inner_text()
            page.evaluate("document.getElementById('video').currentTime = 46")
            expect(messages).to_contain_text("encore please", timeout=10_000)
            page.evaluate("document.getElementById('video').currentTime = 0.2")  # seeking back takes it away
            expect(messages).not_to_contain_text("encore please", timeout=10_000)
            expect(messages).not_to_contain_text("first song!")
