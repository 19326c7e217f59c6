"""Chat fan-out benchmark: N WebSocket viewers of one room, R chat messages per second, one client process.

Servers measured in the same run, each in its own process:
  baseline  a minimal broadcast server written with the `websockets` library (no storage, no Redis)
  ours      the platform (daphne, ws/livestream/): messages stored, then fanned out through Redis
            (one subscription per stream per process, frame encoded once)
  raw-daphne  (optional) a raw ASGI broadcast app under daphne: what daphne's own write path costs
  tutorial  (optional) the Channels tutorial's design on the same daphne: one group_send per message
  ours-socketio  (optional) the platform over Socket.IO (/socket.io/, namespace /livestream, WebSocket
            transport): the same rooms and hub as `ours`, a Socket.IO packet encoded once per room
  socketio-minimal  (optional) a minimal python-socketio broadcast server under daphne (no storage,
            no Redis): enter_room on join, one sio.emit(room=...) per message
Viewers of the Socket.IO servers speak Engine.IO 4 / Socket.IO 5 on the WebSocket transport, as
socket.io-client does with transports: ['websocket'] (the load generator answers pings itself).

Usage:
  REDIS_URL=redis://127.0.0.1:6379/1 .venv/bin/python benchmarks/chat_fanout.py \
      --viewers 1000 --rate 20 --seconds 10 [--servers baseline,ours,tutorial]
  Socket.IO against the native protocol, in one run:  --servers ours,ours-socketio,socketio-minimal
DATABASE_URL defaults to a fresh SQLite file in a temporary folder (migrated here).
Messages are sent by `--senders` moderators (exempt from chat rate limits) at rate/senders each.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"


# --- Servers ------------------------------------------------------------------------------------
async def serve_baseline(port: int) -> None:
    """The baseline: broadcast every chat frame to every connection, encoded once."""
    import websockets

    connections = set()
    sequence = 0

    async def handler(websocket):
        nonlocal sequence
        connections.add(websocket)
        try:
            async for text in websocket:
                frame = json.loads(text)
                if frame.get("event") == "joinStream":
                    await websocket.send(json.dumps({"event": "joinedStream", "data": frame["data"]}))
                elif frame.get("event") == "sendChatMessage":
                    sequence += 1
                    data = {"id": sequence, "message": frame["data"]["message"]}
                    websockets.broadcast(connections, json.dumps({"event": "newChatMessage", "data": data}))
        finally:
            connections.discard(websocket)

    async with websockets.serve(handler, "127.0.0.1", port, max_queue=None):
        await asyncio.Future()


def tutorial_application():
    """The Channels tutorial's consumer (group_add on join, one group_send per message) as an ASGI app."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")
    django.setup()
    from channels.generic.websocket import AsyncWebsocketConsumer
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import re_path

    class TutorialConsumer(AsyncWebsocketConsumer):
        async def connect(self):
            await self.channel_layer.group_add("room", self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard("room", self.channel_name)

        async def receive(self, text_data=None, bytes_data=None):
            frame = json.loads(text_data)
            if frame["event"] == "joinStream":
                await self.send(text_data=json.dumps({"event": "joinedStream", "data": frame["data"]}))
            elif frame["event"] == "sendChatMessage":
                await self.channel_layer.group_send(
                    "room", {"type": "chat.message", "message": frame["data"]["message"]}
                )

        async def chat_message(self, event):
            await self.send(text_data=json.dumps({"event": "newChatMessage", "data": {"message": event["message"]}}))

    return ProtocolTypeRouter({"websocket": URLRouter([re_path(r"^ws/livestream/?$", TutorialConsumer.as_asgi())])})


def raw_application():
    """A raw ASGI broadcast app (no Channels, no storage): the floor of what daphne itself costs."""
    connections: set = set()
    sequence = 0

    async def app(scope, receive, send):
        nonlocal sequence
        if scope["type"] != "websocket":
            return
        while True:
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.accept"})
                connections.add(send)
            elif message["type"] == "websocket.disconnect":
                connections.discard(send)
                return
            else:
                frame = json.loads(message["text"])
                if frame["event"] == "joinStream":
                    await send({"type": "websocket.send", "text": json.dumps({"event": "joinedStream", "data": {}})})
                elif frame["event"] == "sendChatMessage":
                    sequence += 1
                    data = {"id": sequence, "message": frame["data"]["message"]}
                    out = {"type": "websocket.send", "text": json.dumps({"event": "newChatMessage", "data": data})}
                    for connection in list(connections):
                        await connection(out)

    return app


SOCKETIO_NAMESPACE = "/livestream"


def socketio_minimal_application():
    """A minimal python-socketio broadcast server: the room is python-socketio's, each message one emit."""
    import socketio

    server = socketio.AsyncServer(async_mode="asgi")
    sequence = 0

    @server.on("joinStream", namespace=SOCKETIO_NAMESPACE)
    async def join(sid, data):
        await server.enter_room(sid, "room", namespace=SOCKETIO_NAMESPACE)
        await server.emit("joinedStream", data, to=sid, namespace=SOCKETIO_NAMESPACE)

    @server.on("sendChatMessage", namespace=SOCKETIO_NAMESPACE)
    async def chat(sid, data):
        nonlocal sequence
        sequence += 1
        message = {"id": sequence, "message": data["message"]}
        await server.emit("newChatMessage", message, room="room", namespace=SOCKETIO_NAMESPACE)

    return socketio.ASGIApp(server)


def __getattr__(name):  # daphne imports benchmarks.chat_fanout:tutorial, :raw or :socketio_minimal
    if name == "tutorial":
        return tutorial_application()
    if name == "raw":
        return raw_application()
    if name == "socketio_minimal":
        return socketio_minimal_application()
    raise AttributeError(name)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited: " + (process.stderr.read() or b"").decode()[-2000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def platform_prepare(env: dict, senders: int) -> dict:
    """Migrate the database, create a live stream, an artist and `senders` moderators (in a subprocess)."""
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    script = f"""
import json, django
django.setup()
from accounts.tests.factories import ArtistFactory, UserFactory, token_for
from streams.tests.factories import stream_factory
from chat.services import chat_moderator_add
artist = ArtistFactory(username="bench-artist-" + __import__("uuid").uuid4().hex[:8])
stream = stream_factory(artist=artist, status="live", title="Benchmark")
senders = [UserFactory(username="bench-" + __import__("uuid").uuid4().hex[:10]) for _ in range({senders})]
for user in senders:
    chat_moderator_add(stream_id=stream.id, user_id=user.id, by_user=artist)
viewers = [UserFactory(username="bench-" + __import__("uuid").uuid4().hex[:10]) for _ in range(3)]
print(json.dumps({{"stream": str(stream.id), "senders": [token_for(u) for u in senders],
                  "viewers": [token_for(u) for u in viewers]}}))
"""
    output = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (the web tier's daphne and nginx processes), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


# --- The client ---------------------------------------------------------------------------------
class NativeProtocol:
    """ws/livestream/ frames: {"event", "data"}."""

    @staticmethod
    async def connect(url: str, token: str | None):
        import websockets

        return await websockets.connect(url + (f"?token={token}" if token else ""), max_queue=None, ping_interval=None)

    @staticmethod
    def frame(event: str, data: dict) -> str:
        return json.dumps({"event": event, "data": data})

    @staticmethod
    def event(text: str) -> tuple[str | None, dict | None]:
        frame = json.loads(text)
        return frame["event"], frame["data"]


class SocketIOProtocol:
    """Engine.IO 4 / Socket.IO 5 on the WebSocket transport, namespace /livestream: what socket.io-client
    sends with transports: ['websocket'], written out so the load generator costs little per message."""

    prefix = "42" + SOCKETIO_NAMESPACE + ","

    @staticmethod
    async def connect(url: str, token: str | None):
        import websockets

        websocket = await websockets.connect(url, max_queue=None, ping_interval=None)
        opened = await websocket.recv()
        assert opened.startswith("0{"), opened  # Engine.IO open
        auth = json.dumps({"token": token}) if token else ""
        await websocket.send("40" + SOCKETIO_NAMESPACE + "," + auth)  # Socket.IO connect, with auth
        connected = await websocket.recv()
        assert connected.startswith("40" + SOCKETIO_NAMESPACE + ","), connected
        return websocket

    @classmethod
    def frame(cls, event: str, data: dict) -> str:
        return cls.prefix + json.dumps([event, data])

    @classmethod
    def event(cls, text: str) -> tuple[str | None, dict | None]:
        if not text.startswith(cls.prefix):
            return None, None  # Engine.IO pings are answered by the caller
        event, data = json.loads(text[len(cls.prefix) :])[:2]
        return event, data


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), to compare servers' cost per delivery."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_clients(protocol, url, token_for_viewer, token_for_sender, stream_id, args, server_cpu) -> dict:
    import websockets

    total_messages = int(args.rate * args.seconds)
    received = [0] * args.viewers
    out_of_order = 0
    latencies: list[float] = []
    last_delivery = 0.0
    done = asyncio.Event()
    expected = total_messages * args.viewers
    delivered = 0
    join = protocol.frame("joinStream", {"streamId": stream_id})

    async def viewer(index: int, ready: asyncio.Semaphore, joined: list):
        nonlocal delivered, out_of_order, last_delivery
        async with ready:
            websocket = await protocol.connect(url, token_for_viewer(index))
            await websocket.send(join)
            while protocol.event(await websocket.recv())[0] != "joinedStream":
                pass
        joined.append(websocket)
        last_id = -1
        try:
            async for text in websocket:
                if '"newChatMessage"' not in text:
                    if text == "2":  # an Engine.IO ping
                        await websocket.send("3")
                    continue
                data = protocol.event(text)[1]
                _, sent = data["message"].split(" ")
                now = time.perf_counter()
                if index % 10 == 0:  # sample latencies from a tenth of the viewers
                    latencies.append(now - float(sent))
                # Every viewer must see the room's messages in the order the server assigned them.
                message_id = data.get("id", 0)
                if message_id < last_id:
                    out_of_order += 1
                last_id = message_id
                received[index] += 1
                delivered += 1
                last_delivery = now
                if delivered >= expected:
                    done.set()
        except websockets.ConnectionClosed:
            pass

    joined: list = []
    ready = asyncio.Semaphore(50)
    tasks = [asyncio.create_task(viewer(index, ready, joined)) for index in range(args.viewers)]
    join_started = time.perf_counter()
    while len(joined) < args.viewers:
        await asyncio.sleep(0.05)
        failed = [task for task in tasks if task.done() and task.exception()]
        if failed:
            raise failed[0].exception()
    join_seconds = time.perf_counter() - join_started

    senders = [await protocol.connect(url, token_for_sender(index)) for index in range(args.senders)]
    for websocket in senders:
        await websocket.send(join)
    await asyncio.sleep(1.5)  # let join storms' count updates settle

    cpu_before, client_cpu_before = server_cpu(), time.process_time()
    started = time.perf_counter()
    for seq in range(total_messages):
        target = started + seq / args.rate
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        data = {"streamId": stream_id, "message": f"{seq} {time.perf_counter():.6f}"}
        await senders[seq % len(senders)].send(protocol.frame("sendChatMessage", data))
    send_seconds = time.perf_counter() - started
    try:
        await asyncio.wait_for(done.wait(), timeout=args.drain)
    except TimeoutError:
        pass
    elapsed = max(last_delivery, started) - started
    server_cpu_s = server_cpu() - cpu_before
    client_cpu_s = time.process_time() - client_cpu_before
    for websocket in joined + senders:
        await websocket.close()
    for task in tasks:
        task.cancel()
    latencies.sort()
    return {
        "viewers": args.viewers,
        "messages": total_messages,
        "asked_per_s": round(expected / args.seconds),
        "join_s": round(join_seconds, 1),
        "send_s": round(send_seconds, 1),
        "delivered": delivered,
        "lost_pct": round(100 * (expected - delivered) / expected, 2),
        "deliveries_per_s": round(delivered / elapsed) if elapsed else 0,
        "p50_ms": round(1000 * statistics.median(latencies)) if latencies else None,
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99) - 1]) if latencies else None,
        "out_of_order": out_of_order,
        "server_cpu_s": round(server_cpu_s, 1),
        "server_cpu_us_per_delivery": round(1e6 * server_cpu_s / delivered, 1) if delivered else None,
        "client_cpu_s": round(client_cpu_s, 1),
    }


def measure(name: str, args, env: dict) -> dict:
    port = _free_port()
    setup = {"stream": "00000000-0000-0000-0000-000000000001", "senders": [], "viewers": []}
    if name == "baseline":
        command = [sys.executable, __file__, "--serve-baseline", str(port)]
    else:
        if name not in ("raw-daphne", "socketio-minimal"):
            setup = platform_prepare(env, args.senders)
        app = {
            "ours": "livestream_site.asgi:application",
            "ours-socketio": "livestream_site.asgi:application",
            "tutorial": "benchmarks.chat_fanout:tutorial",
            "raw-daphne": "benchmarks.chat_fanout:raw",
            "socketio-minimal": "benchmarks.chat_fanout:socketio_minimal",
        }[name]
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
        if name == "ours" and args.web_processes > 1:  # the production shape: daphne processes behind nginx
            command = [sys.executable, "-m", "livestream_site.web"]
            env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(args.web_processes)}
        elif os.environ.get("BENCH_PROFILE"):  # a cProfile dump of the server, to see where its time goes
            command[1:1] = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, server)
        if name in ("ours-socketio", "socketio-minimal"):
            protocol, url = SocketIOProtocol, f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        else:
            protocol, url = NativeProtocol, f"ws://127.0.0.1:{port}/ws/livestream/"

        def viewer_token(index):  # three signed-in viewers, the rest anonymous (like a public concert)
            return setup["viewers"][index] if index < len(setup["viewers"]) else None

        def sender_token(index):
            return setup["senders"][index] if setup["senders"] else None

        if name == "ours" and args.web_processes > 1:
            time.sleep(3)  # nginx answers once every web process does; let the tier settle

        def server_cpu() -> float:
            return sum(process_cpu_seconds(pid) for pid in process_tree(server.pid))

        result = asyncio.run(run_clients(protocol, url, viewer_token, sender_token, setup["stream"], args, server_cpu))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
    label = f"ours x{args.web_processes}" if name == "ours" and args.web_processes > 1 else name
    return {"server": label, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20, help="chat messages per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--drain", type=float, default=30, help="seconds to wait for late deliveries")
    parser.add_argument("--servers", default="baseline,ours")
    parser.add_argument("--web-processes", type=int, default=1, help="ours: daphne processes behind nginx")
    parser.add_argument("--serve-baseline", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_baseline:
        asyncio.run(serve_baseline(args.serve_baseline))
        return

    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "livestream_site.settings", "LOG_LEVEL": "warning"}
    # Every simulated viewer connects from 127.0.0.1: lift the per-address cap of anonymous sockets.
    env["WS_ANONYMOUS_CONNECTIONS_PER_ADDRESS"] = "100000"
    env["PYTHONPATH"] = str(ROOT)
    tmp = tempfile.TemporaryDirectory()
    env.setdefault("DATABASE_URL", f"sqlite:///{tmp.name}/bench.sqlite3")
    env.setdefault("RUN_DIR", f"{tmp.name}/run")
    if not env.get("REDIS_URL"):
        print("REDIS_URL is not set: 'ours' runs the in-process fan-out (one server process only).")
    results = [measure(name, args, env) for name in args.servers.split(",")]
    columns = list(results[0])
    print(" | ".join(columns))
    for result in results:
        print(" | ".join(str(result[column]) for column in columns))
    baseline = next((r for r in results if r["server"] == "baseline"), None)
    ratios = {}
    if baseline:
        for result in results:
            if result is baseline:
                continue
            ratio = result["deliveries_per_s"] / baseline["deliveries_per_s"] if baseline["deliveries_per_s"] else 0
            p99 = (result["p99_ms"] or 0) / (baseline["p99_ms"] or 1)
            print(f"{result['server']} / baseline: deliveries/s x{ratio:.2f}, p99 latency x{p99:.2f}")
            ratios[result["server"]] = {"deliveries_per_s": round(ratio, 2), "p99": round(p99, 2)}
    # The Socket.IO goal is measured against the native protocol of the same platform in the same run.
    native = next((r for r in results if r["server"] == "ours"), None)
    if native and native["deliveries_per_s"]:
        for result in results:
            if result["server"] in ("ours-socketio", "socketio-minimal"):
                ratio = result["deliveries_per_s"] / native["deliveries_per_s"]
                cpu = (result["server_cpu_us_per_delivery"] or 0) / (native["server_cpu_us_per_delivery"] or 1)
                print(
                    f"{result['server']} / ours (native): deliveries/s x{ratio:.2f}, "
                    f"server CPU per delivery x{cpu:.2f}, lost {result['lost_pct']}%"
                )
                ratios[f"{result['server']}/ours"] = {
                    "deliveries_per_s": round(ratio, 2),
                    "cpu_per_delivery": round(cpu, 2),
                }
    # ... and against a minimal python-socketio broadcast server, when both ran.
    ours_socketio = next((r for r in results if r["server"] == "ours-socketio"), None)
    minimal = next((r for r in results if r["server"] == "socketio-minimal"), None)
    if ours_socketio and minimal and minimal["deliveries_per_s"]:
        ratio = ours_socketio["deliveries_per_s"] / minimal["deliveries_per_s"]
        cpu = (ours_socketio["server_cpu_us_per_delivery"] or 0) / (minimal["server_cpu_us_per_delivery"] or 1)
        p99 = (ours_socketio["p99_ms"] or 0) / (minimal["p99_ms"] or 1)
        print(f"ours-socketio / socketio-minimal: deliveries/s x{ratio:.2f}, p99 x{p99:.2f}, CPU x{cpu:.2f}")
        ratios["ours-socketio/socketio-minimal"] = {
            "deliveries_per_s": round(ratio, 2),
            "p99": round(p99, 2),
            "cpu_per_delivery": round(cpu, 2),
        }
    RESULTS.mkdir(parents=True, exist_ok=True)
    shape = f"-x{args.web_processes}" if args.web_processes > 1 else ""
    # The Socket.IO run keeps its own file (not the native run's, which it would overwrite).
    shape += "-socketio" if any("socketio" in name for name in args.servers.split(",")) else ""
    path = RESULTS / f"chat_fanout-{args.viewers}{shape}.json"
    payload = {"benchmark": "chat_fanout", "at": time.time(), "load_average": os.getloadavg(), "results": results}
    path.write_text(json.dumps({**payload, "ratios_to_baseline": ratios}, indent=2) + "\n")
    print(f"written {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
