"""The per-minute series as CSV (`GET /api/livestreams/{id}/analytics.csv`): the known show's minutes, the
same figures as the JSON answer, and who may download it."""

import csv
import io

import pytest

from analytics import rollups

from .conftest import end_show

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended_show(show):
    end_show(show)
    rollups.stream_final_rollup(stream_id=show.stream.id)
    return show


def _rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_csv_has_one_row_per_minute_with_the_json_figures(ended_show, client_for, artist):
    client = client_for(artist)
    response = client.get(f"/api/livestreams/{ended_show.stream.id}/analytics.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert f'filename="livestage-{ended_show.stream.id}-analytics.csv"' in response["Content-Disposition"]
    rows = _rows(response)
    assert list(rows[0]) == [
        "time",
        "concurrent_viewers",
        "peak_viewers",
        "joins",
        "watch_seconds",
        "chat_messages",
        "avg_bitrate_kbps",
        "rebuffer_ratio",
    ]
    # The show's first minute, as test_api.py's test_the_show_in_figures knows it.
    first = {key: value for key, value in rows[0].items() if key != "time"}
    assert first == {
        "concurrent_viewers": "1.0",
        "peak_viewers": "1",
        "joins": "1",
        "watch_seconds": "20",
        "chat_messages": "0",
        "avg_bitrate_kbps": "3000",
        "rebuffer_ratio": "0.025",
    }
    series = client.get(f"/api/livestreams/{ended_show.stream.id}/analytics").json()["series"]
    assert len(rows) == len(series) == 4
    assert [row["joins"] for row in rows] == [str(point["joins"]) for point in series]
    assert [row["chat_messages"] for row in rows] == [str(point["chatMessages"]) for point in series]
    assert rows[0]["time"].startswith(series[0]["time"][:16])
    # A minute without a measured bitrate is an empty cell, not "None".
    assert all(row["avg_bitrate_kbps"] != "None" for row in rows)


def test_only_the_artist_and_staff_download_it(show, client_for, anon_client, artist, other_artist, viewer, staff):
    path = f"/api/livestreams/{show.stream.id}/analytics.csv"
    assert anon_client.get(path).status_code == 401
    assert client_for(viewer).get(path).status_code == 403
    assert client_for(other_artist).get(path).status_code == 403
    assert client_for(staff).get(path).status_code == 200
    assert client_for(artist).get("/api/livestreams/not-a-stream/analytics.csv").status_code == 404


def test_a_bad_range_is_refused_in_words(show, client_for, artist):
    response = client_for(artist).get(
        f"/api/livestreams/{show.stream.id}/analytics.csv",
        {"from": "2030-01-02T00:00:00Z", "to": "2030-01-01T00:00:00Z"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"to": ["Must be after from."]}
