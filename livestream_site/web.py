"""The web tier of `make run`: one daphne on HOST:PORT, or with Redis WEB_CONCURRENCY daphne processes behind nginx.

    python -m livestream_site.web

Without REDIS_URL (the embedded default) rooms, counts and rate limits live in the one process, so this
runs a single daphne in its place (exec). With REDIS_URL every core serves viewers: WEB_CONCURRENCY
daphne processes listen on unix sockets under RUN_DIR/web and a private nginx listens on HOST:PORT in
front of them (HTTP and WebSocket; Socket.IO's /socket.io/ sticky by client). A web process that dies
is started again; when nginx dies, everything stops (honcho then stops the other processes too).
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
TEMPLATE = Path(__file__).with_name("web_nginx.conf.template")
APPLICATION = "livestream_site.asgi:application"
# Connections waiting to be accepted, per listener: a join storm opens thousands at once.
BACKLOG = 4096


def socket_paths(run_dir: Path, count: int) -> list[Path]:
    return [run_dir / "web" / f"web-{index}.sock" for index in range(count)]


def daphne_command(*, unix_socket: Path | None = None, host: str = "", port: int = 0) -> list[str]:
    """daphne serving the platform on a unix socket behind nginx, or on host:port alone."""
    daphne = [sys.executable, "-m", "daphne"]
    if unix_socket is None:
        interface = host.replace(":", "\\:")  # an IPv6 address, escaped for the Twisted endpoint
        return [*daphne, "-e", f"tcp:port={port}:interface={interface}:backlog={BACKLOG}", APPLICATION]
    if ":" in str(unix_socket):
        raise ValueError("RUN_DIR must not contain ':' (a Twisted endpoint separator)")
    endpoint = f"unix:{unix_socket}:backlog={BACKLOG}"
    return [*daphne, "-e", endpoint, "--proxy-headers", "--proxy-headers-host", "X-Real-IP", APPLICATION]


def nginx_config_render(*, run_dir: Path, host: str, port: int, sockets: list[Path]) -> Path:
    """Write RUN_DIR/web/nginx.conf; return its path."""
    from django.conf import settings
    from django.template import Context, Engine

    directory = run_dir / "web"
    for sub in ("tmp", "logs"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    context = {
        "user": pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else "",
        "workers": "auto",
        "open_files": 65536,
        "connections": 16384,
        "dir": str(directory),
        "host": host,
        "port": port,
        "sockets": [str(path) for path in sockets],
        "trusted_proxies": settings.TRUSTED_PROXY_COUNT > 0,
        "client_regex": client_address_regex(settings.TRUSTED_PROXY_COUNT),
        # Django refuses larger bodies itself (with the API's error shape); nginx lets them reach it.
        "max_body": "100m",
    }
    for key in ("dir", "host"):
        if any(char.isspace() or char in ";{}" for char in str(context[key])):
            raise ValueError(f"web config: {key} must not contain spaces, ';' or braces")
    text = Engine(autoescape=False).from_string(TEMPLATE.read_text()).render(Context(context))
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def client_address_regex(hops: int) -> str:
    """A regex whose first group is the entry `hops` from the end of X-Forwarded-For ("" for none)."""
    if hops <= 0:
        return ""
    entry = r"[^,\s]+"
    later = r"\s*,\s*" + entry
    return r"(?:^|,)\s*(" + entry + ")" + later * (hops - 1) + r"\s*$"


def _answering(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def processes_answering(run_dir: Path, count: int) -> int:
    """How many of the web processes accept connections on their sockets (for /healthz)."""
    return sum(_answering(path) for path in socket_paths(run_dir, count))


class WebTier:
    """WEB_CONCURRENCY daphne processes and the nginx in front of them, kept running until told to stop."""

    def __init__(self, *, run_dir: Path, host: str, port: int, count: int, nginx: str):
        self.run_dir = run_dir
        self.host = host
        self.port = port
        self.sockets = socket_paths(run_dir, count)
        self.nginx_program = nginx
        self.web: list[subprocess.Popen | None] = [None] * count
        self.nginx: subprocess.Popen | None = None
        self.stopping = False

    def _web_start(self, index: int) -> None:
        path = self.sockets[index]
        path.unlink(missing_ok=True)
        env = {**os.environ, "WEB_PROCESS_INDEX": str(index)}
        self.web[index] = subprocess.Popen(daphne_command(unix_socket=path), cwd=BASE_DIR, env=env)

    def _wait_answering(self, index: int, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not _answering(self.sockets[index]):
            process = self.web[index]
            if process is None or process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"web process {index} did not start")
            time.sleep(0.1)

    def start(self) -> None:
        (self.run_dir / "web").mkdir(parents=True, exist_ok=True)
        for index in range(len(self.web)):
            self._web_start(index)
        for index in range(len(self.web)):
            self._wait_answering(index)
        conf = nginx_config_render(run_dir=self.run_dir, host=self.host, port=self.port, sockets=self.sockets)
        self.nginx = subprocess.Popen([self.nginx_program, "-p", str(conf.parent), "-c", str(conf)])
        print(f"web: {len(self.web)} daphne processes behind nginx at http://{self.host}:{self.port}/", flush=True)

    def watch(self) -> int:
        """Start again a web process that died; return nginx's exit status once it is gone."""
        while not self.stopping:
            if self.nginx is not None and self.nginx.poll() is not None:
                print(f"web: nginx exited ({self.nginx.returncode}); stopping", flush=True)
                return self.nginx.returncode or 1
            for index, process in enumerate(self.web):
                if process is not None and process.poll() is not None and not self.stopping:
                    print(f"web: process {index} exited ({process.returncode}); starting it again", flush=True)
                    self._web_start(index)
            time.sleep(0.5)
        return 0

    def stop(self, *_args) -> None:
        self.stopping = True
        children = [process for process in [self.nginx, *self.web] if process is not None]
        for process in children:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for process in children:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")
    import django
    from django.conf import settings

    django.setup()  # the config template is rendered by Django's template engine

    host = os.environ.get("HOST") or "127.0.0.1"
    port = int(os.environ.get("PORT") or 8000)
    count = settings.WEB_CONCURRENCY
    if count == 1:
        command = daphne_command(host=host, port=port)
        os.execv(command[0], command)
    tier = WebTier(
        run_dir=Path(settings.RUN_DIR).resolve(),
        host=host,
        port=port,
        count=count,
        nginx=shutil.which(settings.MEDIA_NGINX) or settings.MEDIA_NGINX,
    )
    signal.signal(signal.SIGTERM, lambda *_: setattr(tier, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(tier, "stopping", True))
    try:
        tier.start()
        status = tier.watch()
    finally:
        tier.stop()
    sys.exit(status)


if __name__ == "__main__":
    main()
