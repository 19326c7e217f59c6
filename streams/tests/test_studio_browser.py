"""The artist's studio in Chromium, against a real daphne and a real nginx-rtmp fed by ffmpeg: a whole show
run from the studio, from the form to the analytics and its CSV. Screenshots of each studio page, at desktop
and phone size, are saved to var/screenshots/ (git-ignored)."""

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.tests.factories import UserFactory
from analytics import rollups
from analytics import services as analytics_services
from chat.tests.test_browser import _sign_in
from livestream_site.testing.browser import chromium, in_thread
from livestream_site.testing.processes import daphne_server, free_port
from payments.tests.factories import paid_ticket_factory
from streams.media.tests.media_support import media_env, media_server, needs_media, publisher
from streams.models import LiveStream
from streams.tests.factories import stream_factory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def servers(settings, tmp_path):
    """nginx-rtmp and daphne sharing one configuration."""
    settings.HLS_X264_PRESET = "ultrafast"
    settings.HLS_SEGMENT_SECONDS = 1.0
    settings.MEDIA_SIGNING_SECRET = "studio-test-signing-secret"
    settings.MEDIA_CALLBACK_SECRET = "studio-test-callback-secret"
    port = free_port()
    with media_server(settings, tmp_path, f"http://127.0.0.1:{port}") as media:
        env = media_env(media)
        # Tasks eager (the final rollup runs on the end); the fans' players report often, so their watch time counts.
        env.update(CELERY_TASK_ALWAYS_EAGER="true", ANALYTICS_REPORT_SECONDS="2")
        with daphne_server(env=env, port=port) as daphne:
            yield daphne, media


def _stream_of(artist_id) -> LiveStream:
    return LiveStream.objects.filter(artist_id=artist_id).get()


def _analytics_catch_up(stream_id) -> None:
    while analytics_services.events_write_batch():
        pass
    rollups.stream_final_rollup(stream_id=stream_id)


def _shoot(page, name: str) -> None:
    """The page at desktop and at phone size; at 390 px nothing may be wider than the screen."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(300)  # the charts redraw at the new size
        if label == "phone":
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} is {width} px wide on a 390 px phone"
        page.screenshot(path=str(SCREENSHOTS / f"studio-{name}-{label}.png"), full_page=True)
    page.set_viewport_size(original)


def _confirm(page) -> None:
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("confirm-yes").click()
    expect(dialog).to_be_hidden()


def _chart_drawn(page, canvas_selector: str) -> bool:
    """The Chart.js chart on this canvas has data, and the canvas has painted pixels."""
    return page.evaluate(
        """(selector) => {
            const canvas = document.querySelector(selector);
            const chart = canvas && Chart.getChart(canvas);
            if (!chart || !chart.data.datasets[0].data.length) return false;
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) return true;
            return false;
        }""",
        canvas_selector,
    )


@pytest.mark.media
@needs_media
def test_an_artist_runs_a_whole_show_from_the_studio(servers, artist):
    daphne, media = servers
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    with chromium() as browser:
        studio = _sign_in(browser, daphne.url, artist.username, "/studio/")
        studio.set_viewport_size(DESKTOP)
        studio.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=daphne.url)
        expect(studio.get_by_test_id("upcoming-shows")).to_contain_text("Nothing scheduled")

        # The form: a start time in the past is refused next to its field, then the show is saved.
        studio.get_by_test_id("new-show").click()
        studio.fill("input[name=title]", "Night <b>Session</b>")
        studio.fill("textarea[name=description]", "Songs from the new record.")
        studio.fill("input[name=scheduledStartTime]", "2020-01-01T20:00")
        studio.get_by_test_id("save").click()
        start_error = studio.locator('[data-error-for="scheduledStartTime"]')
        expect(start_error).to_have_text("Must be in the future.")
        expect(studio.locator("input[name=scheduledStartTime]")).to_have_attribute("aria-invalid", "true")
        expect(studio.get_by_test_id("form-error")).not_to_contain_text("{")
        _shoot(studio, "form")
        soon = studio.evaluate(
            """() => { const d = new Date(Date.now() + 10 * 60 * 1000); const p = (n) => String(n).padStart(2, "0");
                return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`; }"""
        )
        studio.fill("input[name=scheduledStartTime]", soon)
        studio.get_by_test_id("save").click()
        studio.wait_for_url(re.compile(r"/studio/[0-9a-f-]{36}/$"))
        stream = in_thread(_stream_of, artist.id)
        assert stream.title == "Night <b>Session</b>" and stream.description == "Songs from the new record."
        expect(studio.locator("h1")).to_have_text("Night <b>Session</b>")  # text, not markup

        # Encoder setup: the key is hidden until revealed, then copied to the clipboard.
        key = studio.get_by_test_id("stream-key")
        expect(key).not_to_contain_text(stream.stream_key)
        assert stream.stream_key not in studio.content()
        studio.get_by_test_id("reveal-key").click()
        expect(key).to_have_text(stream.stream_key)
        studio.get_by_test_id("copy-key").click()
        expect(studio.get_by_test_id("key-note")).to_have_text("Stream key copied.")
        assert studio.evaluate("navigator.clipboard.readText()") == stream.stream_key
        studio.get_by_test_id("reveal-key").click()  # hidden again before the screenshots
        expect(studio.get_by_test_id("signal")).to_contain_text("No signal yet")

        # Going live asks first; then the encoder's signal arrives and the preview plays.
        studio.get_by_test_id("go-live").click()
        _confirm(studio)
        expect(studio.get_by_test_id("status")).to_have_text("Live", timeout=10_000)
        encoder = publisher(media, stream.stream_key, seconds=180)
        try:
            expect(studio.get_by_test_id("signal")).to_contain_text("Receiving your signal", timeout=30_000)
            studio.wait_for_function("document.getElementById('preview').currentTime > 0.5", timeout=45_000)
            expect(studio.get_by_test_id("h-bitrate")).to_contain_text("kbps", timeout=15_000)
            expect(studio.get_by_test_id("h-renditions")).to_contain_text("p", timeout=15_000)

            # Two fans watch and chat; the control room counts them and moderates.
            path = f"/streams/{stream.id}/"
            alice_page = _sign_in(browser, daphne.url, alice.username, path)
            bob_page = _sign_in(browser, daphne.url, bob.username, path)
            expect(studio.get_by_test_id("viewers")).to_have_text("2", timeout=15_000)
            assert studio.evaluate(
                "Chart.getChart(document.getElementById('viewers-chart')).data.datasets[0].data.includes(2)"
            )
            for fan_page in (alice_page, bob_page):
                assert stream.stream_key not in fan_page.content()

            alice_page.get_by_test_id("chat-input").fill("hello from alice")
            alice_page.get_by_test_id("chat-send").click()
            line = studio.get_by_test_id("messages").locator("li", has_text="hello from alice")
            expect(line).to_be_visible(timeout=10_000)
            expect(bob_page.get_by_test_id("messages")).to_contain_text("hello from alice", timeout=10_000)
            line.get_by_role("button", name="delete").click()
            expect(line).to_have_count(0, timeout=10_000)
            expect(bob_page.get_by_test_id("messages")).not_to_contain_text("hello from alice", timeout=10_000)

            bob_page.get_by_test_id("chat-input").fill("buy my mixtape")
            bob_page.get_by_test_id("chat-send").click()
            bob_line = studio.get_by_test_id("messages").locator("li", has_text="buy my mixtape")
            bob_line.get_by_role("button", name="time out").click()
            expect(studio.get_by_test_id("mod-note")).to_have_text("bob is timed out for 10 minutes.", timeout=10_000)
            bob_page.get_by_test_id("chat-input").fill("one more")
            bob_page.get_by_test_id("chat-send").click()
            expect(bob_page.get_by_test_id("chat-error")).to_contain_text("until", timeout=10_000)
            _shoot(studio, "control-room")

            # Ending asks first.
            studio.get_by_test_id("end-show").click()
            _confirm(studio)
            expect(studio.get_by_test_id("status")).to_have_text("Ended", timeout=10_000)
        finally:
            encoder.kill()
            encoder.wait()

        # My shows: the show is past, with its peak.
        studio.goto(f"{daphne.url}/studio/")
        past = studio.get_by_test_id("past-shows")
        expect(past).to_contain_text("Night <b>Session</b>")
        expect(past.get_by_test_id("peak-viewers")).to_have_text("2")
        _shoot(studio, "shows")

        # What the worker does meanwhile: write the buffered viewing events, roll the show up.
        in_thread(_analytics_catch_up, stream.id)

        # The analytics: charts drawn, totals as the API gives them, and the per-minute CSV.
        studio.goto(f"{daphne.url}/studio/{stream.id}/analytics/")
        studio.wait_for_function("window.Livestage.analytics !== undefined", timeout=15_000)
        api = studio.evaluate(
            f"(async () => (await Livestage.api('GET', '/api/livestreams/{stream.id}/analytics')).data)()"
        )
        assert api["totals"]["uniqueViewers"] == 2 and api["totals"]["chatMessages"] == 1  # alice's was deleted
        totals = studio.get_by_test_id("totals")
        expect(totals.locator('[data-total="uniqueViewers"]')).to_have_text("2")
        expect(totals.locator('[data-total="chatMessages"]')).to_have_text(str(api["totals"]["chatMessages"]))
        expect(totals.locator('[data-total="peakConcurrentViewers"]')).to_have_text(
            str(api["totals"]["peakConcurrentViewers"])
        )
        for canvas in ("#chart-viewers", "#chart-joins", "#chart-chat", "#chart-devices"):
            assert _chart_drawn(studio, canvas), canvas
        _shoot(studio, "analytics")
        with studio.expect_download() as download:
            studio.get_by_test_id("csv").click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert len(rows) == len(api["series"]) >= 1
        assert sum(int(row["joins"]) for row in rows) == sum(point["joins"] for point in api["series"]) >= 2


def _stream_key(stream_id) -> str:
    return LiveStream.objects.get(pk=stream_id).stream_key


def _stream_status(stream_id) -> str | None:
    stream = LiveStream.objects.filter(pk=stream_id).first()
    return stream.status if stream else None


def test_what_cannot_be_undone_is_confirmed_first(artist, viewer):
    sold = stream_factory(artist=artist, title="Sold show", is_pay_per_view=True)
    paid_ticket_factory(stream=sold, user=viewer)
    spare = stream_factory(artist=artist, title="Spare date")
    with daphne_server() as server, chromium() as browser:
        studio = _sign_in(browser, server.url, artist.username, "/studio/")
        # Editing sends what changed; a bad price is refused next to its field.
        studio.locator(f'[data-stream-id="{spare.id}"]').get_by_role("link", name="Edit").click()
        studio.fill("input[name=title]", "Spare date (acoustic)")
        studio.check("input[name=isPayPerView]")
        studio.get_by_test_id("save").click()
        expect(studio.locator('[data-error-for="ticketPrice"]')).to_have_text(
            "A pay-per-view stream needs a ticket price above zero."
        )
        studio.fill("input[name=ticketPrice]", "-3")
        studio.get_by_test_id("save").click()
        expect(studio.locator('[data-error-for="ticketPrice"]')).to_contain_text("greater than or equal to 0")
        studio.uncheck("input[name=isPayPerView]")
        studio.fill("input[name=ticketPrice]", "")
        studio.get_by_test_id("save").click()
        studio.wait_for_url(f"{server.url}/studio/{spare.id}/")
        expect(studio.locator("h1")).to_have_text("Spare date (acoustic)")
        studio.goto(f"{server.url}/studio/")

        row = studio.locator(f'[data-stream-id="{sold.id}"]')
        assert row.locator('[data-action="delete"]').count() == 0  # a show with a ticket is cancelled, not deleted

        # Cancelling says how many tickets it refunds; "Keep it" (or Escape) changes nothing.
        row.locator('[data-action="cancel"]').click()
        dialog = studio.get_by_test_id("confirm-dialog")
        expect(dialog).to_contain_text("1 ticket will be refunded in full.")
        studio.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        assert in_thread(_stream_status, sold.id) == "scheduled"
        row.locator('[data-action="cancel"]').click()
        _confirm(studio)
        expect(studio.locator(f'[data-stream-id="{sold.id}"] [data-testid="show-status"]')).to_have_text("Cancelled")
        assert in_thread(_stream_status, sold.id) == "cancelled"

        studio.locator(f'[data-stream-id="{spare.id}"] [data-action="delete"]').click()
        expect(dialog).to_contain_text("Delete “Spare date (acoustic)”?")
        _confirm(studio)
        expect(studio.locator(f'[data-stream-id="{spare.id}"]')).to_have_count(0)
        assert in_thread(_stream_status, spare.id) is None

        # A new key, after a confirmation; the old one stops being the stream's.
        studio.goto(f"{server.url}/studio/{sold.id}/")
        old_key = in_thread(_stream_key, sold.id)
        studio.get_by_test_id("rotate-key").click()
        expect(dialog).to_contain_text("Make a new stream key?")
        _confirm(studio)
        expect(studio.get_by_test_id("key-note")).to_have_text("A new key was made: update your encoder.")
        new_key = in_thread(_stream_key, sold.id)
        assert new_key != old_key
        studio.get_by_test_id("reveal-key").click()
        expect(studio.get_by_test_id("stream-key")).to_have_text(new_key)
