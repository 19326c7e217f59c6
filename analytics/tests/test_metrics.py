"""/metrics through HTTP: it parses as Prometheus text, its counters move after real actions (a chat message
over the WebSocket, a webhook, a task), its access rules hold, and two server processes add up."""

import subprocess
import urllib.request
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from chat.tests.conftest import ws  # noqa: F401 (the WebSocket client fixture)
from livestream_site.testing.processes import daphne_server
from payments.tests.conftest import WEBHOOK_SECRET, ppv_stream, stripe_double, webhook_post  # noqa: F401
from streams.tests.factories import stream_factory

from ..monitoring_tasks import ingest_sample_task


def scrape(client: Client | None = None, **headers) -> str:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def value(text: str, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


@pytest.mark.django_db
def test_metrics_parse_and_name_every_family():
    families = {family.name for family in text_string_to_metric_families(scrape())}
    for name in (
        "livestage_live_streams",
        "livestage_beacon_backlog",
        "livestage_ingest_bitrate_kbps",
        "livestage_transcoder_speed",
        "livestage_stream_alerts",
    ):
        assert name in families


@pytest.mark.django_db
def test_http_requests_are_labelled_by_url_name_and_status_class_never_the_raw_path():
    before = scrape()
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/no-such-path-42").status_code == 404
    after = scrape()
    labels = {"method": "GET", "view": "healthz", "status": "2xx"}
    assert (
        value(after, "livestage_http_requests_total", **labels)
        == value(before, "livestage_http_requests_total", **labels) + 1
    )
    unresolved = {"method": "GET", "view": "<unresolved>", "status": "4xx"}
    assert (
        value(after, "livestage_http_requests_total", **unresolved)
        == value(before, "livestage_http_requests_total", **unresolved) + 1
    )
    assert "no-such-path-42" not in after
    assert value(after, "livestage_http_request_duration_seconds_count", method="GET", view="healthz") >= 1


@pytest.mark.django_db(transaction=True)
async def test_chat_message_websockets_viewers_and_refusals_move_the_counters(ws, artist, viewer):  # noqa: F811
    stream = await database_sync_to_async(stream_factory)(artist=artist, status="live")
    before = await database_sync_to_async(scrape)()
    fan = await ws(viewer)
    await fan.join(stream)
    await fan.send("sendChatMessage", {"streamId": str(stream.id), "message": "encore"})
    await fan.expect("newChatMessage")
    await fan.send("noSuchEvent", {})
    await fan.expect_error("unknown_event")
    during = await database_sync_to_async(scrape)()

    assert value(during, "livestage_chat_messages_total") == value(before, "livestage_chat_messages_total") + 1
    assert value(during, "livestage_websockets_connected") == value(before, "livestage_websockets_connected") + 1
    assert value(during, "livestage_stream_viewers", stream=str(stream.id)) == 1
    assert value(during, "livestage_viewers") == value(before, "livestage_viewers") + 1
    refused = "livestage_refused_events_total"
    assert value(during, refused, code="unknown_event") == value(before, refused, code="unknown_event") + 1
    assert f'user="{viewer.id}"' not in during and viewer.username not in during

    await fan.communicator.disconnect()
    after = await database_sync_to_async(scrape)()
    assert value(after, "livestage_websockets_connected") == value(before, "livestage_websockets_connected")
    # A stream nobody watches any more has no viewer series at all.
    assert f'stream="{stream.id}"' not in [line for line in after.splitlines() if "stream_viewers{" in line]


@pytest.mark.django_db(transaction=True)  # counted once the ban commits
def test_moderation_actions_are_counted_by_action(client_for, artist, viewer):
    stream = stream_factory(artist=artist, status="live")
    before = scrape()
    banned = client_for(artist).post(f"/api/livestreams/{stream.id}/chat/bans", {"userId": viewer.id})
    assert banned.status_code in (200, 201), banned.content
    after = scrape()
    name = "livestage_moderation_actions_total"
    assert value(after, name, action="ban") == value(before, name, action="ban") + 1


@pytest.mark.django_db
def test_webhook_events_are_counted_by_outcome(settings):
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    before = scrape()
    assert webhook_post("customer.created", {"id": "cus_1", "object": "customer"}).status_code == 200
    assert webhook_post("customer.created", {"id": "cus_2"}, secret="whsec_wrong").status_code == 400
    after = scrape()
    name = "livestage_webhook_events_total"
    assert value(after, name, outcome="ignored") == value(before, name, outcome="ignored") + 1
    assert value(after, name, outcome="bad_signature") == value(before, name, outcome="bad_signature") + 1


@pytest.mark.django_db
def test_celery_task_runs_are_counted_by_task_name():
    name = "analytics.monitoring_tasks.ingest_sample_task"
    before = scrape()
    ingest_sample_task.apply()
    after = scrape()
    assert (
        value(after, "livestage_celery_task_runs_total", task=name)
        == value(before, "livestage_celery_task_runs_total", task=name) + 1
    )
    assert (
        value(after, "livestage_celery_task_successes_total", task=name)
        == value(before, "livestage_celery_task_successes_total", task=name) + 1
    )


@pytest.mark.django_db
def test_with_a_token_metrics_need_it(settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    client = Client()
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "not_authenticated"
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "forbidden"
    # With the token, any address may read them.
    remote = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", REMOTE_ADDR="203.0.113.9")
    assert remote.status_code == 200 and b"livestage_live_streams" in remote.content


@pytest.mark.django_db
def test_without_a_token_only_loopback_clients_read_metrics(settings):
    settings.METRICS_TOKEN = ""
    refused = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_server_processes_sharing_a_directory_add_up(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "METRICS_TOKEN": ""}
    with daphne_server(env=env) as first, daphne_server(env=env) as second:
        labels = {"method": "GET", "view": "healthz", "status": "2xx"}
        name = "livestage_http_requests_total"
        before = value(_get(f"{first.url}/metrics"), name, **labels)
        for _ in range(2):
            _get(f"{first.url}/healthz")
        for _ in range(3):
            _get(f"{second.url}/healthz")
        # Either process serves the sum of both.
        assert value(_get(f"{first.url}/metrics"), name, **labels) == before + 5
        assert value(_get(f"{second.url}/metrics"), name, **labels) == before + 5
        second_pid = second.process.pid
    # After both exit, their counters still count (files stay); their live gauges are gone.
    files = sorted(path.name for path in tmp_path.iterdir())
    assert any(str(second_pid) in name for name in files), files
    assert not any(name.startswith("gauge_live") for name in files), files


@pytest.mark.django_db(transaction=True)  # counted once the payment commits
def test_payments_are_counted_by_outcome(client_for, viewer, ppv_stream, stripe_double):  # noqa: F811
    stream = ppv_stream()
    before = scrape()
    intent_id = client_for(viewer).post(f"/api/livestreams/{stream.id}/payment").json()["paymentIntentId"]
    intent = stripe_double.intent_succeed(intent_id)
    assert webhook_post("payment_intent.succeeded", intent).json()["outcome"] == "processed"
    charge = stripe_double.charge(intent_id)
    charge.update(amount_refunded=charge["amount"])
    assert webhook_post("charge.refunded", charge).json()["outcome"] == "processed"
    after = scrape()
    name = "livestage_payments_total"
    for outcome in ("succeeded", "refunded"):
        assert value(after, name, outcome=outcome) == value(before, name, outcome=outcome) + 1
    assert value(after, name, outcome="failed") == value(before, name, outcome="failed")
    assert value(after, "livestage_webhook_events_total", outcome="processed") == (
        value(before, "livestage_webhook_events_total", outcome="processed") + 2
    )


def test_metrics_reset_empties_the_multiprocess_directory_of_earlier_runs(settings, tmp_path):
    settings.PROMETHEUS_MULTIPROC_DIR = tmp_path
    (tmp_path / "counter_12345.db").write_bytes(b"stale")
    (tmp_path / "gauge_livesum_12345.db").write_bytes(b"stale")
    (tmp_path / "keep.txt").write_text("not a metrics file")
    call_command("metrics_reset")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.txt"]


def test_make_run_resets_the_metrics_before_it_starts_the_processes():
    base = Path(__file__).resolve().parents[2]
    dry_run = subprocess.run(["make", "-n", "run"], cwd=base, capture_output=True, text=True, timeout=60).stdout
    lines = dry_run.splitlines()
    reset = next(index for index, line in enumerate(lines) if "metrics_reset" in line)
    start = next(index for index, line in enumerate(lines) if "honcho start" in line)
    assert reset < start
