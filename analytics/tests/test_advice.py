"""The per-viewer quality advice rule (analytics.advice), report by report."""

import pytest

from analytics.advice import RECOVERY_REPORTS, Rung, advice_update, configured_ladder, quality_advice

LADDER = [Rung("1080p", 1080, 5160), Rung("360p", 360, 896), Rung("720p", 720, 2928)]  # any order


def advise(report, current=None):
    return quality_advice(report=report, renditions=LADDER, current=current)


def test_a_clean_report_advises_nothing():
    assert advise({"watch_ms": 10_000, "rebuffer_ms": 100, "rendition": "1080p", "bandwidth_kbps": 9000}) is None
    assert advise({"latency_ms": 3000}) is None  # nothing to judge


def test_bandwidth_under_the_headroom_caps_at_the_highest_rung_it_carries():
    # 1080p needs 5160 x 1.2 = 6192 kbps; 720p needs 3514; 4000 kbps carries 720p.
    assert advise({"rendition": "1080p", "bandwidth_kbps": 4000}) == {
        "maxRendition": "720p",
        "reason": "bandwidth",
        "cleanReports": 0,
    }
    assert advise({"rendition": "1080p", "bandwidth_kbps": 6192}) is None  # exactly enough
    assert advise({"rendition": "720p", "bandwidth_kbps": 500})["maxRendition"] == "360p"  # none fits: lowest
    # The player's own bitrate wins over the ladder's; an older report names the rendition `quality`.
    assert advise({"quality": "720p", "bitrate_kbps": 1000, "bandwidth_kbps": 1300}) is None
    assert advise({"quality": "720p", "bandwidth_kbps": 1300})["maxRendition"] == "360p"
    # The rung being played does not fit by its real bitrate (3221 x 1.2 > 3600) though the ladder's
    # figure would (2928 x 1.2 < 3600): the cap goes below it, never to it.
    assert advise({"rendition": "720p", "bitrate_kbps": 3221, "bandwidth_kbps": 3600})["maxRendition"] == "360p"


def test_rebuffering_over_two_percent_of_watch_time_steps_one_rung_down():
    bad = {"watch_ms": 10_000, "rebuffer_ms": 201, "rendition": "1080p"}
    assert advise(bad) == {"maxRendition": "720p", "reason": "rebuffering", "cleanReports": 0}
    assert advise({**bad, "rebuffer_ms": 200}) is None  # 2% is still fine
    assert advise({**bad, "watch_ms": 1_000, "rebuffer_ms": 900}) is None  # too short to judge
    assert advise({"watch_ms": 10_000, "buffering_ms": 5000, "rendition": "360p"})["maxRendition"] == "360p"
    # Both at once: the tighter cap, named after rebuffering.
    both = advise({**bad, "bandwidth_kbps": 1200})
    assert both == {"maxRendition": "360p", "reason": "rebuffering", "cleanReports": 0}


def test_a_cap_only_tightens_while_bad_and_lifts_after_clean_reports():
    capped = advise({"rendition": "720p", "bandwidth_kbps": 500})
    assert capped["maxRendition"] == "360p"
    # Playing 360p under the cap with a bandwidth that only carries 720p: still capped at 360p.
    worse = advise({"rendition": "1080p", "bandwidth_kbps": 4000}, capped)
    assert worse["maxRendition"] == "360p"

    state = capped
    for count in range(1, RECOVERY_REPORTS):
        state = advise({"watch_ms": 10_000, "rebuffer_ms": 0, "rendition": "360p", "bandwidth_kbps": 4000}, state)
        assert state == {**capped, "cleanReports": count}
    # A bandwidth that would not carry the rung above the cap (720p) is not clean: the count restarts.
    assert advise({"rendition": "360p", "bandwidth_kbps": 1100}, state)["cleanReports"] == 0
    assert advise({"rendition": "360p", "bandwidth_kbps": 4000}, state) is None


def test_advice_update_tells_only_changes_of_the_cap(settings):
    settings.HLS_LADDER = "360p:360:800:96,720p:720:2800:128"
    assert [rung.name for rung in configured_ladder()] == ["360p", "720p"]
    state, event = advice_update(report={"rendition": "720p", "bandwidth_kbps": 1500}, state=None)
    assert event == {"maxRendition": "360p", "reason": "bandwidth"}
    state, event = advice_update(report={"rendition": "360p", "bandwidth_kbps": 900}, state=state)
    assert event is None and state["maxRendition"] == "360p"
    for _ in range(RECOVERY_REPORTS - 1):
        state, event = advice_update(report={"rendition": "360p", "bandwidth_kbps": 9000}, state=state)
        assert event is None
    state, event = advice_update(report={"rendition": "360p", "bandwidth_kbps": 9000}, state=state)
    assert (state, event) == (None, {"maxRendition": None, "reason": "recovered"})


@pytest.mark.parametrize(
    "report", [{"rendition": "720p", "bandwidth_kbps": 1}, {"watch_ms": 5000, "rebuffer_ms": 5000}]
)
def test_an_empty_ladder_advises_nothing(report):
    assert quality_advice(report=report, renditions=[], current=None) is None
