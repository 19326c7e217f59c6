"""Join-storm benchmark: N viewers open a WebSocket and join one stream as fast as one client process can.

Servers measured in the same run, each in its own process(es):
  baseline  a minimal `websockets` server that answers each joinStream with joinedStream and a count,
            and announces the count at most once a second (no storage, no Redis, no access check)
  ours      the platform under daphne with Redis: the access check, the viewer registry, the room, the
            viewer session, coalesced viewerCountUpdate; `--web-processes N` runs N daphne processes
            behind the project's nginx (the production shape of `make run`)

Every viewer comes from its own address (X-Forwarded-For, honoured with TRUSTED_PROXY_COUNT=1), so
each is a distinct anonymous viewer and the count must reach N. Measured: joins/s (N / time from the
first connection to the last joinedStream), failures, time to joinedStream per viewer (from its
joinStream frame, and from the start of its connection), and how long after the last joinedStream a
viewerCountUpdate with the full count reached the viewers (the count settled).

Usage:
  REDIS_URL=redis://127.0.0.1:6379/1 DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_joins \\
      .venv/bin/python benchmarks/join_storm.py --viewers 2000 [--servers baseline,ours] [--web-processes 2]
DATABASE_URL defaults to a fresh SQLite file in a temporary folder. Results are printed as a table with
ratios to the baseline and written to benchmarks/results/join_storm-<viewers>.json.
"""

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.chat_fanout import (  # noqa: E402
    _free_port,
    _wait_for_port,
    platform_prepare,
    process_cpu_seconds,
    process_tree,
)
from livestream_site.web import daphne_command  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


# --- The baseline server ------------------------------------------------------------------------
async def serve_baseline(port: int) -> None:
    import websockets

    connections = set()
    viewers = 0
    announce: asyncio.Task | None = None

    async def announce_count() -> None:
        nonlocal announce
        await asyncio.sleep(1)
        announce = None
        text = json.dumps({"event": "viewerCountUpdate", "data": {"viewerCount": viewers}})
        websockets.broadcast(connections, text)

    async def handler(websocket):
        nonlocal viewers, announce
        connections.add(websocket)
        joined = False
        try:
            async for text in websocket:
                frame = json.loads(text)
                if frame.get("event") == "joinStream" and not joined:
                    joined = True
                    viewers += 1
                    data = {"streamId": frame["data"]["streamId"], "viewerCount": viewers}
                    await websocket.send(json.dumps({"event": "joinedStream", "data": data}))
                    if announce is None:
                        announce = asyncio.create_task(announce_count())
        finally:
            connections.discard(websocket)
            if joined:
                viewers -= 1

    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None, backlog=4096):
        await asyncio.Future()


# --- Servers as processes -----------------------------------------------------------------------
@contextmanager
def server_processes(name: str, args, env: dict):
    """Start a server; yield (websocket URL, stream id, a function giving its processes' CPU seconds)."""
    port = _free_port()
    processes: list[subprocess.Popen] = []
    RESULTS.mkdir(parents=True, exist_ok=True)
    stream = "00000000-0000-0000-0000-000000000001"
    try:
        if name == "baseline":
            command = [sys.executable, __file__, "--serve-baseline", str(port)]
            processes.append(subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE))
        else:
            stream = platform_prepare(env, 1)["stream"]
            if args.web_processes > 1:
                web_env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(args.web_processes)}
                command = [sys.executable, "-m", "livestream_site.web"]
            else:
                web_env = env
                # As `make run` starts one process (with the listen backlog of a storm: Twisted's default of
                # 50 dropped handshakes, which the clients retried after a second).
                command = daphne_command(host="127.0.0.1", port=port)
                if os.environ.get("BENCH_PROFILE"):  # a cProfile dump of the server, to see where its time goes
                    command[1:1] = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]]
            log = open(RESULTS / "join_storm-server.log", "wb")  # noqa: SIM115 (closed with the process)
            processes.append(subprocess.Popen(command, cwd=ROOT, env=web_env, stdout=log, stderr=log))
        _wait_for_port(port, processes[0])
        if name != "baseline" and args.web_processes > 1:
            time.sleep(3)  # every web process behind nginx is up (run_web waits for each before nginx)

        def cpu() -> float:
            return sum(process_cpu_seconds(pid) for pid in process_tree(processes[0].pid))

        yield f"ws://127.0.0.1:{port}/ws/livestream/", stream, cpu
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


# --- The client ---------------------------------------------------------------------------------
async def storm(url: str, stream_id: str, args, server_cpu) -> dict:
    import websockets

    join = json.dumps({"event": "joinStream", "data": {"streamId": stream_id}})
    opening = asyncio.Semaphore(args.handshakes)  # handshakes in flight, as many browsers would pace
    to_joined: list[float] = []  # joinStream sent -> joinedStream
    from_connect: list[float] = []  # connection started -> joinedStream
    failures: list[str] = []
    joined_at: list[float] = []
    full_count_at: list[float] = []
    sockets = []
    all_joined = asyncio.Event()

    async def viewer(index: int) -> None:
        address = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        try:
            async with opening:
                started = time.perf_counter()
                websocket = await websockets.connect(
                    url,
                    additional_headers={"X-Forwarded-For": address},
                    max_queue=None,
                    ping_interval=None,
                    open_timeout=60,
                )
            sockets.append(websocket)
            sent = time.perf_counter()
            await websocket.send(join)
            while True:
                frame = json.loads(await asyncio.wait_for(websocket.recv(), 60))
                if frame["event"] == "joinedStream":
                    break
                if frame["event"] == "error":
                    raise RuntimeError(frame["data"]["code"])
        except Exception as error:  # a failed join is counted, not fatal
            failures.append(f"{type(error).__name__}: {error}"[:200])
            if len(failures) + len(joined_at) == args.viewers:
                all_joined.set()
            return
        now = time.perf_counter()
        to_joined.append(now - sent)
        from_connect.append(now - started)
        joined_at.append(now)
        if len(failures) + len(joined_at) == args.viewers:
            all_joined.set()
        try:
            async for text in websocket:
                if '"viewerCountUpdate"' in text and json.loads(text)["data"]["viewerCount"] >= args.viewers:
                    full_count_at.append(time.perf_counter())
        except websockets.ConnectionClosed:
            pass

    cpu_before = server_cpu()
    began = time.perf_counter()
    tasks = [asyncio.create_task(viewer(index)) for index in range(args.viewers)]
    try:
        await asyncio.wait_for(all_joined.wait(), args.timeout)
    except TimeoutError:
        failures.append(f"timeout: {args.viewers - len(joined_at) - len(failures)} viewers not answered")
    last_join = max(joined_at) if joined_at else began
    # The count has settled when a viewerCountUpdate with every viewer reached the viewers.
    settle_deadline = time.perf_counter() + args.settle_timeout
    while not full_count_at and time.perf_counter() < settle_deadline and not failures:
        await asyncio.sleep(0.05)
    server_cpu_s = server_cpu() - cpu_before
    for websocket in sockets:
        await websocket.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    to_joined.sort()
    from_connect.sort()
    seconds = last_join - began
    return {
        "viewers": args.viewers,
        "joined": len(joined_at),
        "failed": len(failures),
        "failure_sample": failures[:3],
        "joins_per_s": round(len(joined_at) / seconds) if seconds > 0 else None,
        "storm_s": round(seconds, 2),
        "join_p50_ms": round(1000 * statistics.median(to_joined)) if to_joined else None,
        "join_p99_ms": round(1000 * to_joined[int(len(to_joined) * 0.99) - 1]) if to_joined else None,
        "join_max_ms": round(1000 * to_joined[-1]) if to_joined else None,
        "connect_to_joined_max_ms": round(1000 * from_connect[-1]) if from_connect else None,
        "count_settled_s": round(max(0.0, min(full_count_at) - last_join), 2) if full_count_at else None,
        "server_cpu_s": round(server_cpu_s, 1),
        "server_cpu_ms_per_join": round(1000 * server_cpu_s / len(joined_at), 2) if joined_at else None,
    }


def measure(name: str, args, env: dict) -> dict:
    with server_processes(name, args, env) as (url, stream, cpu):
        result = asyncio.run(storm(url, stream, args, cpu))
    label = name if name == "baseline" else f"ours x{args.web_processes}" if args.web_processes > 1 else "ours"
    return {"server": label, **result}


def report(results: list[dict], args) -> None:
    columns = [column for column in results[0] if column != "failure_sample"]
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
        if result["failure_sample"]:
            print("   failures, e.g.:", "; ".join(result["failure_sample"]))
    baseline = next((r for r in results if r["server"] == "baseline"), None)
    ratios = {}
    for result in results:
        if baseline is None or result is baseline or not baseline["joins_per_s"]:
            continue
        ratio = (result["joins_per_s"] or 0) / baseline["joins_per_s"]
        ratios[result["server"]] = round(ratio, 2)
        print(f"{result['server']} / baseline: joins/s x{ratio:.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    shape = f"-x{args.web_processes}" if args.web_processes > 1 else ""
    path = RESULTS / f"join_storm-{args.viewers}{shape}.json"
    load = os.getloadavg()
    payload = {"benchmark": "join_storm", "at": time.time(), "load_average": load, "results": results}
    path.write_text(json.dumps({**payload, "ratios_to_baseline": ratios}, indent=2) + "\n")
    print(f"written {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=2000)
    parser.add_argument("--servers", default="baseline,ours")
    parser.add_argument("--web-processes", type=int, default=1, help="ours: daphne processes behind nginx")
    parser.add_argument("--handshakes", type=int, default=200, help="WebSocket handshakes in flight at once")
    parser.add_argument("--timeout", type=float, default=180, help="seconds for the whole storm")
    parser.add_argument("--settle-timeout", type=float, default=15, help="seconds to wait for the full count")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        asyncio.run(serve_baseline(args.serve_baseline))
        return
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "livestream_site.settings", "LOG_LEVEL": "warning"}
    env.update(
        {
            "WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS": "100000",
            "TRUSTED_PROXY_COUNT": "1",  # each simulated viewer's address comes in X-Forwarded-For
            "PYTHONPATH": str(ROOT),
        }
    )
    tmp = tempfile.TemporaryDirectory()
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp.name}/bench.sqlite3")
    env.setdefault("RUN_DIR", f"{tmp.name}/run")
    if not env.get("REDIS_URL"):
        print("REDIS_URL is not set: 'ours' runs the in-process registry (one server process only).")
    results = [measure(name, args, env) for name in args.servers.split(",")]
    report(results, args)


if __name__ == "__main__":
    main()
