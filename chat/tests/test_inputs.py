"""The quality report's shortcut for well-formed data gives what DRF's validation gives, or defers to it."""

import random
import uuid

import pytest
from rest_framework import serializers

from chat import inputs
from chat.inputs import QUALITY_FLAGS, QUALITY_NUMBERS, QUALITY_STRINGS, QualityReportInput
from livestream_site.errors import ApplicationError


def _drf(values: dict) -> dict | None:
    try:
        return inputs.input_valid(QualityReportInput, values, frame=True)
    except serializers.ValidationError:
        return None


def _value(rng: random.Random, name: str):
    """A value for a field: mostly well-formed, often at or past a bound, sometimes of the wrong kind."""
    odd = [None, True, False, "7", [], {}, float("nan"), float("inf"), -0.0, 10**30, "\x00", "é" * 3, "\ud800"]
    if rng.random() < 0.25:
        return rng.choice(odd)
    if name in QUALITY_NUMBERS:
        low, high = QUALITY_NUMBERS[name]
        return rng.choice([low, high, high + 1, low - 1, rng.randint(low, high), rng.uniform(low, high), 0.5])
    if name in QUALITY_STRINGS:
        size = QUALITY_STRINGS[name]
        return rng.choice(["", "720p", "x" * size, "x" * (size + 1), " padded ", "hls_fatal"])
    if name in QUALITY_FLAGS:
        return rng.choice([True, False])
    return rng.choice([str(uuid.UUID(int=rng.getrandbits(128))), uuid.uuid4().hex, "nope", ""])


def test_the_shortcut_gives_drfs_values_or_defers_to_it():
    rng = random.Random(20261201)
    names = [*QUALITY_NUMBERS, *QUALITY_STRINGS, *QUALITY_FLAGS, "session_id"]
    taken = 0
    for _ in range(4000):
        values = {name: _value(rng, name) for name in rng.sample(names, rng.randint(0, 6))}
        fast = QualityReportInput.fast_valid(values)
        if fast is not None:
            taken += 1
            assert fast == _drf(values), values
            assert {name: type(value) for name, value in fast.items()} == {
                name: type(value) for name, value in _drf(values).items()
            }
    assert taken > 500  # the shortcut does serve well-formed reports


def test_a_players_usual_report_takes_the_shortcut():
    report = {
        "session_id": str(uuid.uuid4()),
        "watch_ms": 10_000,
        "rendition": "720p",
        "bitrate_kbps": 2800,
        "bandwidth_kbps": 9000.5,
        "latency_ms": 4000,
        "rebuffer_count": 0,
        "rebuffer_ms": 0,
        "dropped_frames": 1,
        "player_width": 1280,
        "player_height": 720,
        "startup_time_ms": 812,
        "exit_before_video_start": False,
    }
    assert QualityReportInput.fast_valid(report) == _drf(report) is not None


@pytest.mark.parametrize(
    "data",
    [
        {"sessionId": "nope", "watchMs": 1000},
        {"watchMs": True},
        {"latencyMs": None},
        {"rendition": "x" * 17},
        {"cpu": 3},
        {"sessionId": str(uuid.uuid4())},
    ],
)
def test_what_the_shortcut_defers_is_refused_in_drfs_words(data):
    with pytest.raises(ApplicationError) as refused:
        inputs.frames_input(QualityReportInput, [{"watchMs": 1}, data])
    assert refused.value.index == 1
    with pytest.raises(ApplicationError) as alone:
        inputs.frame_input(QualityReportInput, data)
    assert (alone.value.message, alone.value.fields) == (refused.value.message, refused.value.fields)


def test_a_beacon_of_well_formed_reports_skips_drfs_field_machinery(monkeypatch):
    def refuse(self, data):
        raise AssertionError("DRF's validation ran")

    monkeypatch.setattr(QualityReportInput, "run_validation", refuse)
    reports = [{"sessionId": str(uuid.uuid4()), "watchMs": 10_000, "rendition": "720p"}] * 20
    assert len(inputs.frames_input(QualityReportInput, reports)) == 20
    assert inputs.frame_input(QualityReportInput, reports[0])["watch_ms"] == 10_000.0
