"""The real npm socket.io-client, run with Node, as a test client: chat/tests/socketio/driver.js behind a Python API."""

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).resolve().parent / "socketio" / "driver.js"
ORIGINAL_EXAMPLE = Path(__file__).resolve().parent / "socketio" / "original_example.js"


def node_required() -> str:
    """Node and the npm socket.io-client are part of the test setup (`npm ci`): without them the test fails."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node is not installed: the Socket.IO tests run the npm socket.io-client with Node")
    if not (BASE_DIR / "node_modules" / "socket.io-client" / "package.json").exists():
        pytest.fail("node_modules/socket.io-client is missing: run `npm ci` first")
    return node


class NodeSocketIO:
    """Socket.IO clients in one Node process; every record it reports is kept, and `expect` consumes them."""

    def __init__(self):
        self.process = subprocess.Popen(
            [node_required(), str(DRIVER)],
            cwd=BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.records: list[dict] = []
        self.consumed: set[int] = set()
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.expect(None, "ready")

    def _read(self) -> None:
        for line in self.process.stdout:
            record = json.loads(line)
            with self.changed:
                self.records.append(record)
                self.changed.notify_all()

    def _command(self, **command) -> None:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def connect(self, name: str, url: str, **opts) -> None:
        """io(url, opts) as `name`; url is the namespace's (http://host:port/livestream)."""
        self._command(cmd="connect", name=name, url=url, opts=opts)

    def emit(self, name: str, event: str, *args, ack: str | None = None) -> None:
        self._command(cmd="emit", name=name, event=event, args=list(args), ack=ack)

    def disconnect(self, name: str) -> None:
        self._command(cmd="disconnect", name=name)

    def run_example(self, name: str, base: str, code: str, **opts) -> None:
        """Run browser code whose io('/livestream') connects to `base`, with `opts` as the client's defaults."""
        self._command(cmd="example", name=name, base=base, opts=opts, code=code)

    def expect(self, name, kind, event=None, where=lambda record: True, timeout: float = 10) -> dict:
        """The first record not yet consumed of `name` and `kind` (and `event`) for which `where` holds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for index, record in enumerate(self.records):
                    if index in self.consumed or record.get("name") != name or record["kind"] != kind:
                        continue
                    if event is not None and record.get("event") != event:
                        continue
                    if where(record):
                        self.consumed.add(index)
                        return record
                for record in self.records:
                    assert record["kind"] != "driver_error", record
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    seen = [record for record in self.records if record.get("name") == name][-15:]
                    raise AssertionError(f"{name}: no {kind} {event or ''} within {timeout}s; last seen: {seen}")
                self.changed.wait(min(left, 0.5))

    def event(self, name: str, event: str, where=lambda data: True, timeout: float = 10):
        """The data of the next `event` that `name` received for which `where(data)` holds."""
        return self.expect(name, "event", event, lambda record: where(record["data"]), timeout)["data"]

    def ack(self, name: str, ack: str, timeout: float = 10):
        return self.expect(name, "ack", where=lambda record: record["id"] == ack, timeout=timeout)["data"]

    def received(self, name: str, event: str) -> list:
        """Every `event` that `name` received so far (consumed or not)."""
        with self.changed:
            return [r["data"] for r in self.records if r.get("name") == name and r.get("event") == event]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def node_socketio():
    clients = NodeSocketIO()
    yield clients
    clients.close()
