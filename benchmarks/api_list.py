"""API benchmark: `GET /api/livestreams?pageSize=50` against a plain Django JsonResponse view over the same rows.

Both are served by the same daphne process (the platform's settings with DJANGO_DEBUG=false, plus the
baseline's URL, benchmarks/api_urls.py), and measured alternately for `--seconds` each, `--rounds`
times, by one client process keeping `--connections` HTTP/1.1 keep-alive connections busy. The page
of 50 is the catalogue's first page (anonymous); the baseline selects the same rows and fields with
`.values()` and returns them with JsonResponse (no DRF, no serializer, no pagination class).

Usage (PostgreSQL required; the database is created and migrated when missing):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_api .venv/bin/python benchmarks/api_list.py
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

RESULTS = ROOT / "benchmarks" / "results"
PATHS = {"baseline": "/bench/plain-streams", "ours": "/api/livestreams?pageSize=50"}


def prepare(env: dict, streams: int) -> None:
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    script = f"""
import django
django.setup()
from accounts.tests.factories import ArtistFactory
from streams.models import LiveStream
from streams.tests.factories import stream_factory
missing = {streams} - LiveStream.objects.count()
for index in range(max(0, missing)):
    stream_factory(artist=ArtistFactory(), title=f"Benchmark {{index}}")
"""
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)


async def _get(reader, writer, path: str) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    status = int((await reader.readline()).split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def load(port: int, path: str, seconds: float, connections: int) -> dict:
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        deadline = time.perf_counter() + seconds
        while (started := time.perf_counter()) < deadline:
            if await _get(reader, writer, path) != 200:
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
    prepare(env, args.streams)
    port = _free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "livestream_site.asgi:application"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    totals: dict[str, list[dict]] = {"baseline": [], "ours": []}
    try:
        _wait_for_port(port, server)
        for name in PATHS:  # warm both up (imports, connections)
            asyncio.run(load(port, PATHS[name], 1, 2))
        for _ in range(args.rounds):
            for name, path in PATHS.items():
                cpu = process_cpu_seconds(server.pid)
                result = asyncio.run(load(port, path, args.seconds, args.connections))
                result["server_cpu_ms_per_request"] = round(
                    1000 * (process_cpu_seconds(server.pid) - cpu) / max(1, result["requests"]), 2
                )
                totals[name].append(result)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    results = []
    for name, runs in totals.items():
        best = max(runs, key=lambda run: run["requests_per_s"])
        results.append({"server": name, "path": PATHS[name], **best, "runs_per_s": [r["requests_per_s"] for r in runs]})
    columns = list(results[0])
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
    ratio = round(results[1]["requests_per_s"] / results[0]["requests_per_s"], 2)
    print(f"ours / baseline: requests/s x{ratio} (best round of each; the rounds alternate)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "api_list.json"
    payload = {"benchmark": "api_list", "at": time.time(), "load_average": os.getloadavg(), "results": results}
    path.write_text(json.dumps({**payload, "ratios_to_baseline": {"ours": ratio}}, indent=2) + "\n")
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
