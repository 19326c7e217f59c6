"""Viewers on other players: nginx's JSON log of live HLS requests (the format of nginx.conf.template),
folded into viewer sessions by the periodic task."""

import json
import os
from datetime import timedelta
from urllib.parse import quote

import factory
import pytest
from django.utils import timezone

from analytics.hls_log import cmcd_parse
from analytics.hls_log_tasks import hls_log_fold_task
from analytics.models import ViewerSession
from streams.tests.factories import stream_factory

pytestmark = pytest.mark.django_db

VLC = "VLC/3.0.20 LibVLC/3.0.20"


class PageSessionFactory(factory.django.DjangoModelFactory):
    """A watch page's session, as the page's WebSocket join opens it."""

    class Meta:
        model = ViewerSession

    viewer_key = factory.Sequence(lambda n: f"u{n}")
    source = ViewerSession.Source.PAGE
    started_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyAttribute(lambda session: session.started_at)


@pytest.fixture
def log(settings, tmp_path):
    settings.RUN_DIR = tmp_path
    settings.HLS_SEGMENT_SECONDS = 2.0
    settings.ANALYTICS_HLS_IDLE_SECONDS = 60
    path = tmp_path / "logs" / "hls-access.log"
    path.parent.mkdir()
    path.touch()

    class Log:
        def __init__(self):
            self.path = path
            # The log's time 0: recent, so that a session is idle only where a test makes it so.
            self.t0 = timezone.now().replace(microsecond=0) - timedelta(seconds=30)

        def write(self, stream, seconds, file, *, addr="203.0.113.7", ua=VLC, rendition="720p", status=200, cmcd=""):
            """A line as nginx's hls_json format writes it (CMCD percent-encoded, as hls.js sends it)."""
            uri = f"/hls/{'A' * 22}/1999999999/{stream.id}/{rendition}/{file}"
            entry = {
                "time": (self.t0 + timedelta(seconds=seconds)).timestamp(),
                "remote_addr": addr,
                "user_agent": ua,
                "uri": uri,
                "status": status,
                "bytes": 1234,
                "cmcd": quote(cmcd, safe=""),
            }
            with self.path.open("a") as handle:
                handle.write(json.dumps(entry) + "\n")

    return Log()


def fold():
    hls_log_fold_task.apply().get()  # the task as the worker runs it, in this process


def test_cmcd_query_data_is_parsed():
    data = cmcd_parse(quote('bl=21300,br=3200,bs,cid="s,1",d=4004,ot=v,sf=h,sid="6e2f-11"', safe=""))
    assert data == {
        "bl": "21300",
        "br": "3200",
        "bs": True,
        "cid": "s,1",
        "d": "4004",
        "ot": "v",
        "sf": "h",
        "sid": "6e2f-11",
    }
    assert cmcd_parse("") == {}


def test_a_player_without_cmcd_is_one_viewer_by_address_and_user_agent(log):
    stream = stream_factory(status="live")
    log.write(stream, 0, "index.m3u8")
    for n in range(5):
        log.write(stream, 2 * n, f"seg_{n}.ts")
    log.write(stream, 9, "seg_4.ts")  # a retry of the same segment counts once
    log.write(stream, 10, "seg_5.ts", rendition="360p")
    log.write(stream, 11, "seg_6.ts", status=403)  # refused: not watched
    log.write(stream, 3, "seg_0.ts", ua="Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0)")  # another viewer, same address
    fold()

    sessions = ViewerSession.objects.filter(stream=stream).order_by("watch_seconds")
    assert [(s.source, s.watch_seconds, s.renditions) for s in sessions] == [
        ("hls", 2.0, {"720p": 2.0}),
        ("hls", 12.0, {"720p": 10.0, "360p": 2.0}),
    ]
    vlc = sessions[1]
    assert (vlc.started_at, vlc.last_seen_at, vlc.ended_at) == (log.t0, log.t0 + timedelta(seconds=10), None)
    assert vlc.viewer_key.startswith("a") and vlc.viewer_key != sessions[0].viewer_key
    # Device and country as for page viewers: from the player's user agent and address.
    assert (vlc.device_class, vlc.browser, vlc.country) == ("other", "VLC", "ZZ")  # a documentation address
    assert (sessions[0].device_class, sessions[0].os) == ("tv", "Tizen")

    # Later lines extend the same session; the lines already read are not counted again.
    log.write(stream, 40, "seg_20.ts")
    fold()
    vlc.refresh_from_db()
    assert (vlc.watch_seconds, vlc.last_seen_at) == (14.0, log.t0 + timedelta(seconds=40))
    fold()
    vlc.refresh_from_db()
    assert vlc.watch_seconds == 14.0
    assert ViewerSession.objects.filter(stream=stream).count() == 2


def test_an_other_players_country_comes_from_its_address(log):
    stream = stream_factory(status="live")
    log.write(stream, 0, "seg_0.ts", addr="81.2.69.160")
    fold()
    assert ViewerSession.objects.get(stream=stream).country == "GB"


def test_a_viewer_back_after_the_idle_time_is_a_new_session_and_the_old_one_closes(log):
    stream = stream_factory(status="live")
    log.t0 -= timedelta(seconds=100)
    log.write(stream, 0, "seg_0.ts")
    log.write(stream, 100, "seg_50.ts")  # 100 s later: over ANALYTICS_HLS_IDLE_SECONDS
    fold()
    first, second = ViewerSession.objects.filter(stream=stream).order_by("started_at")
    assert first.ended_at == first.last_seen_at == log.t0  # closed at its last request
    assert (second.started_at, second.ended_at) == (log.t0 + timedelta(seconds=100), None)
    assert first.viewer_key == second.viewer_key


def test_cmcd_sid_of_a_page_session_only_keeps_that_session_alive(log):
    stream = stream_factory(status="live")
    page = PageSessionFactory(stream=stream, started_at=log.t0, watch_seconds=30.0, renditions={"720p": 30.0})
    for n in range(3):
        log.write(stream, 20 + 2 * n, f"seg_{n}.ts", ua="Mozilla/5.0 Chrome/130", cmcd=f'ot=v,sf=h,sid="{page.id}"')
    # hls.js in someone's own embed, with a sid that is no page session of ours: a viewer by that sid.
    for n in range(2):
        log.write(stream, 2 * n, f"seg_{n}.ts", addr=f"198.51.100.{n}", cmcd='sid="embed-42"')
    fold()

    page.refresh_from_db()
    assert page.last_seen_at == log.t0 + timedelta(seconds=24)
    assert (page.watch_seconds, page.renditions, page.source) == (30.0, {"720p": 30.0}, "page")
    others = ViewerSession.objects.filter(stream=stream, source="hls")
    assert [(s.watch_seconds, s.started_at) for s in others] == [(4.0, log.t0)]  # two addresses, one sid: one viewer


def test_unknown_streams_and_unreadable_lines_are_skipped(log):
    stream = stream_factory(status="live")
    gone = stream_factory(status="live")
    log.write(gone, 0, "seg_0.ts")
    gone.delete()
    with log.path.open("a") as handle:
        handle.write("not json\n")
        handle.write(json.dumps({"time": 1, "uri": "/hls/x.m3u8", "status": 403}) + "\n")
    log.write(stream, 0, "seg_0.ts")
    fold()
    assert list(ViewerSession.objects.values_list("stream_id", "watch_seconds")) == [(stream.id, 2.0)]


def test_a_rotated_log_is_finished_then_the_new_one_read_from_its_start(log):
    stream = stream_factory(status="live")
    log.write(stream, 0, "seg_0.ts")
    fold()
    log.write(stream, 2, "seg_1.ts")  # written before the rotation, not read yet
    os.rename(log.path, log.path.with_name("hls-access.log.1"))
    log.write(stream, 4, "seg_2.ts")  # nginx reopened its log
    fold()
    session = ViewerSession.objects.get(stream=stream)
    assert session.watch_seconds == 6.0

    # copytruncate: the same file, shorter than where the last read stopped.
    log.path.write_text("")
    log.write(stream, 6, "seg_3.ts")
    fold()
    session.refresh_from_db()
    assert session.watch_seconds == 8.0


def test_a_line_being_written_waits_for_the_next_fold(log):
    stream = stream_factory(status="live")
    log.write(stream, 0, "seg_0.ts")
    text = log.path.read_text()
    log.path.write_text(text[:-20])  # nginx has not finished the line
    fold()
    assert not ViewerSession.objects.exists()
    log.path.write_text(text)
    fold()
    assert ViewerSession.objects.get().watch_seconds == 2.0


def test_no_log_yet_is_no_error(settings, tmp_path):
    settings.RUN_DIR = tmp_path
    fold()
    assert not ViewerSession.objects.exists()


def test_open_sessions_of_other_players_close_when_idle(log, settings):
    stream = stream_factory(status="live")
    log.write(stream, 0, "seg_0.ts")
    fold()
    session = ViewerSession.objects.get()
    assert session.ended_at is None  # seen 30 s ago: still watching
    settings.ANALYTICS_HLS_IDLE_SECONDS = 10
    fold()  # nothing new in the log: the silence closes it, at its last request
    session.refresh_from_db()
    assert session.ended_at == session.last_seen_at == log.t0
