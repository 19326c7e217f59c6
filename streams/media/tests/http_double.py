"""The HTTP side of the providers' local stand-ins (wowza_double.py, agora_double.py): a threaded server on a
free loopback port that hands each request to handle(method, path, query, headers, body) -> (status, JSON)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def serve_json(handle) -> ThreadingHTTPServer:
    """Start serving; the server's `url` is its base URL. Stop it with shutdown() and server_close()."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = handle(
                self.command, split.path, parse_qs(split.query), self.headers, self.rfile.read(length)
            )
            data = json.dumps(payload).encode() if payload is not None else b""
            try:
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class JsonDouble:
    """A stand-in with a handle(method, path, query, headers, body) method, served by start() until stop()."""

    def start(self):
        self.server = serve_json(self.handle)
        self.url = self.server.url
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
