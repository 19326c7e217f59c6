"""API benchmark: the platform's API views against plain Django JsonResponse views over the same rows.

  list    `GET /api/livestreams?pageSize=50`, the catalogue's first page (anonymous); the baseline selects
          the same rows and fields with `.values()` and returns them with JsonResponse (no DRF, no
          serializer, no pagination class)
  access  `GET /api/livestreams/{id}/access` of a pay-per-view stream for a signed-in viewer (a session
          cookie) with a paid ticket; the baseline reads the same rows (the stream, the viewer's ticket)
          and answers the same JSON with JsonResponse

All are served by the same daphne process (the platform's settings with DJANGO_DEBUG=false, plus the
baselines' URLs, benchmarks/api_urls.py), and each pair is measured alternately for `--seconds` each,
`--rounds` times, by one client process keeping `--connections` HTTP/1.1 keep-alive connections busy.
The queries of one request of each (Django's test client, after one request to warm up) go in the JSON.
Results: benchmarks/results/api_list.json and api_access.json.

Usage (PostgreSQL required; the database is created and migrated when missing):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_api .venv/bin/python benchmarks/api_list.py \
      [--workloads list,access]
"""

import argparse
import asyncio
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.analytics_ingest import database_ensure  # noqa: E402
from benchmarks.chat_fanout import _free_port, _wait_for_port, process_cpu_seconds  # noqa: E402
from benchmarks.report import results_write  # noqa: E402

# Each workload: the baseline's path and ours ({stream} is the pay-per-view stream of the viewer's ticket).
WORKLOADS = {
    "list": {"baseline": "/bench/plain-streams", "ours": "/api/livestreams?pageSize=50"},
    "access": {"baseline": "/bench/plain-access/{stream}", "ours": "/api/livestreams/{stream}/access"},
}


def prepare(env: dict, streams: int) -> dict:
    """Migrate, create the streams and the viewer with a ticket (once), sign the viewer in; returns
    {"stream", "cookie", "queries": {path: queries of one request}}."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    # As the load runs them: the list anonymous, /access signed in.
    paths = {name: list(workload.values()) for name, workload in WORKLOADS.items()}
    script = f"""
import json
import django
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from accounts.models import User
from accounts.tests.factories import ArtistFactory
from payments.tests.factories import paid_ticket_factory
from streams.models import LiveStream
from streams.tests.factories import stream_factory
missing = {streams} - LiveStream.objects.filter(is_pay_per_view=False).count()
for index in range(max(0, missing)):
    stream_factory(artist=ArtistFactory(), title=f"Benchmark {{index}}")
viewer, created = User.objects.get_or_create(username="bench-viewer", defaults={{"role": User.Role.VIEWER}})
stream = LiveStream.objects.filter(is_pay_per_view=True, title="Benchmark access").first()
if stream is None:
    stream = stream_factory(artist=ArtistFactory(), title="Benchmark access", is_pay_per_view=True)
    paid_ticket_factory(stream=stream, user=viewer)
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(viewer)
clients = {{"list": Client(HTTP_HOST="127.0.0.1"), "access": client}}
queries = {{}}
for name, workload in {paths!r}.items():
    for path in workload:
        path = path.format(stream=stream.id)
        assert clients[name].get(path).status_code == 200, path
        with CaptureQueriesContext(connection) as captured:
            clients[name].get(path)
        queries[path] = len(captured.captured_queries)
answers = [client.get(path.format(stream=stream.id)).json() for path in {list(WORKLOADS["access"].values())!r}]
assert answers[0] == answers[1] == {{"hasAccess": True, "reason": "ticket"}}, answers
print(json.dumps({{"stream": str(stream.id), "cookie": client.cookies["sessionid"].value, "queries": queries}}))
"""
    output = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True)
    return json.loads(output.stdout.decode().strip().splitlines()[-1])


async def _get(reader, writer, path: str, headers: str = "") -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(port: int, path: str, seconds: float, connections: int, headers: str = "") -> dict:
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        deadline = time.perf_counter() + seconds
        while (started := time.perf_counter()) < deadline:
            if await _get(reader, writer, path, headers) != 200:
                errors += 1
            latencies.append(time.perf_counter() - started)
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "requests_per_s": round(len(latencies) / elapsed),
        "p50_ms": round(1000 * statistics.median(latencies), 1),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99) - 1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--workloads", default="list,access", help="of: " + ",".join(WORKLOADS))
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL (the production shape)")
    database_ensure(url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "benchmarks.api_settings",
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "warning",
    }
    setup = prepare(env, args.streams)
    workloads = {
        name: {server: path.format(stream=setup["stream"]) for server, path in WORKLOADS[name].items()}
        for name in args.workloads.split(",")
    }
    # Only the access workload is signed in (the list is the anonymous catalogue).
    headers = {"list": "", "access": f"Cookie: sessionid={setup['cookie']}\r\n"}
    port = _free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "livestream_site.asgi:application"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    totals: dict[str, dict[str, list[dict]]] = {name: {"baseline": [], "ours": []} for name in workloads}
    try:
        _wait_for_port(port, server)
        for name, paths in workloads.items():
            for path in paths.values():  # warm both up (imports, connections)
                asyncio.run(load(port, path, 1, 2, headers[name]))
            for _ in range(args.rounds):
                for kind, path in paths.items():
                    cpu = process_cpu_seconds(server.pid)
                    result = asyncio.run(load(port, path, args.seconds, args.connections, headers[name]))
                    result["server_cpu_ms_per_request"] = round(
                        1000 * (process_cpu_seconds(server.pid) - cpu) / max(1, result["requests"]), 2
                    )
                    totals[name][kind].append(result)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    for name, paths in workloads.items():
        workload_report(name, paths, totals[name], setup["queries"])


def workload_report(name: str, paths: dict, totals: dict[str, list[dict]], queries: dict) -> None:
    results = []
    for kind, runs in totals.items():
        best = max(runs, key=lambda run: run["requests_per_s"])
        path = paths[kind]
        results.append(
            {
                "server": kind,
                "path": path,
                **best,
                "queries_per_request": queries[path],
                "runs_per_s": [r["requests_per_s"] for r in runs],
            }
        )
    columns = list(results[0])
    print(f"== {name}")
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
    ratio = round(results[1]["requests_per_s"] / results[0]["requests_per_s"], 2)
    print(f"ours / baseline: requests/s x{ratio} (best round of each; the rounds alternate)")
    results_write(f"api_{name}", "api", results, {"ours": ratio})


if __name__ == "__main__":
    main()
