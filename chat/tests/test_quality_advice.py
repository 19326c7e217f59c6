"""Per-viewer quality advice over ws/livestream/: a bad report caps its reporter, nobody else."""

import pytest

from analytics.advice import RECOVERY_REPORTS

pytestmark = pytest.mark.django_db(transaction=True)


async def no_advice(client) -> bool:
    """Nothing but viewer counts arrives for a moment (a frame waited for, not a time measured)."""
    while not await client.nothing():
        frame = await client.receive()
        assert frame["event"] == "viewerCountUpdate", frame
    return True


async def test_a_bad_report_advises_its_reporter_only_until_it_recovers(ws, live_stream, viewer, settings):
    settings.HLS_LADDER = "360p:360:800:96,720p:720:2800:128"
    stream_id = str(live_stream.id)
    reporter, neighbour = await ws(viewer), await ws()
    await reporter.join(live_stream)
    await neighbour.join(live_stream)

    # Bandwidth of 1500 kbps does not carry 720p (2928 kbps x 1.2): cap at 360p.
    await reporter.send("reportQuality", {"streamId": stream_id, "quality": "720p", "bandwidthKbps": 1500})
    await reporter.expect("qualityReported")
    advice = await reporter.expect("qualityAdvice")
    assert advice == {"streamId": stream_id, "maxRendition": "360p", "reason": "bandwidth"}
    assert await no_advice(neighbour)

    # The same advice is not repeated; clean reports lift it after RECOVERY_REPORTS of them.
    await reporter.send("reportQuality", {"streamId": stream_id, "quality": "360p", "bandwidthKbps": 1000})
    await reporter.expect("qualityReported")
    assert await no_advice(reporter)
    for _ in range(RECOVERY_REPORTS):
        await reporter.send("reportQuality", {"streamId": stream_id, "quality": "360p", "bandwidthKbps": 8000})
        await reporter.expect("qualityReported")
    lifted = await reporter.expect("qualityAdvice")
    assert lifted == {"streamId": stream_id, "maxRendition": None, "reason": "recovered"}
    assert await no_advice(neighbour)


async def test_a_refused_report_gives_no_advice(ws, live_stream, viewer):
    client = await ws(viewer)
    await client.join(live_stream)
    await client.send("reportQuality", {"streamId": str(live_stream.id), "quality": "720p", "bandwidthKbps": -5})
    error = await client.expect_error("bad_request")
    assert "bandwidthKbps" in error["fields"]
    assert await no_advice(client)
