"""Start a real daphne server on a free loopback port, pointed at the test database."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

from .settings import TEST_PROCESS_ENV

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database the test run is using (it must be a server database, not SQLite)."""
    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise RuntimeError("tests with real server processes need PostgreSQL (set DATABASE_URL)")
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    port: int
    process: subprocess.Popen


def process_env(env: dict | None = None) -> dict:
    """The environment of a platform process a test starts: the test database, DEBUG on, the test
    settings of TEST_PROCESS_ENV, then `env`."""
    return {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "DJANGO_DEBUG": "true",
        **TEST_PROCESS_ENV,
        **(env or {}),
    }


@contextmanager
def _served(command: list[str], *, port: int, env: dict, name: str, start_seconds: float, stop_seconds: float):
    """Start `command`, wait until it answers /healthz on `port`, yield it as a Server; stop it afterwards."""
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: {process.stderr.read().decode()[-2000:]}")
                time.sleep(0.2)
        yield Server(url=base, port=port, process=process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=stop_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def daphne_server(*, env: dict | None = None, port: int | None = None):
    """Yield a daphne process serving the platform (a Server); stop it afterwards."""
    port = port or free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "livestream_site.asgi:application"]
    with _served(command, port=port, env=process_env(env), name="daphne", start_seconds=30, stop_seconds=10) as server:
        yield server


@contextmanager
def web_tier(*, run_dir: Path, env: dict | None = None, processes: int = 2):
    """Yield the web tier of `make run` (livestream_site.web: daphne processes behind nginx) as a Server."""
    port = free_port()
    tier = {"HOST": "127.0.0.1", "PORT": str(port), "RUN_DIR": str(run_dir), "WEB_CONCURRENCY": str(processes)}
    command = [sys.executable, "-m", "livestream_site.web"]
    environment = process_env({**tier, **(env or {})})
    with _served(command, port=port, env=environment, name="the web tier", start_seconds=60, stop_seconds=20) as server:
        yield server


class RedisServer:
    """A Redis server of the test's own on a free loopback port, which the test may kill and start again
    (never the shared one: other tests and processes use it)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            command, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """Die at once, as a crash would: everything it held is gone (it keeps nothing on disk)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@contextmanager
def redis_server(directory: Path):
    """Yield a started RedisServer of the test's own; stop it afterwards."""
    server = RedisServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.kill()


class CeleryWorker:
    """A Celery worker process (its own session: kill() takes its pool children with it, as a crash of
    the machine or an OOM kill of the whole worker would)."""

    def __init__(self, env: dict):
        self.env = process_env({"CELERY_TASK_ALWAYS_EAGER": "false", **env})
        self.process: subprocess.Popen | None = None
        self.output: list[str] = []

    def start(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "livestream_site", "worker", "--concurrency", "1"]
        command += ["--loglevel", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        self.process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        ready = threading.Event()

        def read() -> None:
            for line in self.process.stdout:
                self.output.append(line)
                if " ready." in line:
                    ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(30):
            self.kill()
            raise RuntimeError("celery worker did not start:\n" + "".join(self.output[-40:]))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextmanager
def celery_worker(env: dict):
    """Yield a started CeleryWorker with `env` (its broker: env's REDIS_URL); kill it afterwards."""
    worker = CeleryWorker(env)
    worker.start()
    try:
        yield worker
    finally:
        worker.kill()
