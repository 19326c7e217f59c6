"""A small local stand-in for the Stripe API endpoints the project calls, and Stripe-style webhook signing.

Stripe's servers cannot be reached from CI, so tests run the official `stripe` library against this
threaded HTTP server (through STRIPE_API_BASE). It implements what the project uses, the way Stripe
documents it: form-encoded parameters with brackets, `Authorization: Bearer`, the `Idempotency-Key`
header (same key and parameters replay the first answer; same key, other parameters is a 400), and
errors in Stripe's JSON shape.
"""

import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


def _nest(pairs) -> dict:
    """metadata[streamId]=1 -> {"metadata": {"streamId": "1"}} (Stripe's form encoding)."""
    result: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = result
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return result


def _error(status: int, type_: str, message: str, code: str | None = None):
    return status, {"error": {"type": type_, "message": message, "code": code}}


class StripeDouble:
    def __init__(self, api_key: str = "sk_test_double"):
        self.api_key = api_key
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, idempotency key)
        self._idempotent: dict[str, tuple[str, dict, tuple[int, dict]]] = {}
        self._refund_failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle ---
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "StripeDouble":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what a test does to the "Stripe side" ---
    def fail_next_refunds(self, count: int = 1, status: int = 429) -> None:
        """The next `count` refund requests fail before Stripe executes them (so nothing is stored)."""
        self._refund_failures.extend([status] * count)

    def intent_succeed(self, intent_id: str) -> dict:
        with self._lock:
            intent = self.intents[intent_id]
            intent.update(status="succeeded", amount_received=intent["amount"], last_payment_error=None)
            intent["latest_charge"] = intent["latest_charge"] or "ch_" + secrets.token_hex(8)
            return json.loads(json.dumps(intent))

    def intent_fail(self, intent_id: str, message: str = "Your card was declined.") -> dict:
        with self._lock:
            intent = self.intents[intent_id]
            intent.update(status="requires_payment_method", last_payment_error={"message": message})
            return json.loads(json.dumps(intent))

    def charge(self, intent_id: str) -> dict:
        """The charge of a succeeded intent, as Stripe renders it in charge.* events."""
        with self._lock:
            intent = self.intents[intent_id]
            refunds = [r for r in self.refunds.values() if r["payment_intent"] == intent_id]
            refunded = sum(r["amount"] for r in refunds)
            return {
                "id": intent["latest_charge"],
                "object": "charge",
                "payment_intent": intent_id,
                "amount": intent["amount"],
                "amount_refunded": refunded,
                "currency": intent["currency"],
                "refunded": refunded >= intent["amount"],
                "metadata": intent["metadata"],
                "refunds": {"object": "list", "data": refunds},
            }

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for m, p, _ in self.requests if m == method and p.startswith(path_prefix))

    # --- the HTTP side ---
    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        if method == "POST" and path == "/v1/payment_intents":
            return self._intent_create(params)
        if method == "GET" and path.startswith("/v1/payment_intents/"):
            intent = self.intents.get(path.rsplit("/", 1)[1])
            if intent is None:
                return _error(404, "invalid_request_error", "No such payment_intent", "resource_missing")
            return 200, intent
        if method == "POST" and path.startswith("/v1/payment_intents/") and path.endswith("/cancel"):
            return self._intent_cancel(path.split("/")[3])
        if method == "POST" and path == "/v1/refunds":
            return self._refund_create(params)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _intent_create(self, params: dict) -> tuple[int, dict]:
        try:
            amount = int(params["amount"])
            currency = params["currency"].lower()
        except (KeyError, ValueError):
            return _error(400, "invalid_request_error", "Missing required param: amount or currency.")
        if amount < 1:
            return _error(400, "invalid_request_error", "Amount must be at least 1.", "amount_too_small")
        intent_id = "pi_" + secrets.token_hex(12)
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": currency,
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "metadata": params.get("metadata", {}),
            "description": params.get("description"),
            "latest_charge": None,
            "last_payment_error": None,
            "created": int(time.time()),
            "livemode": False,
        }
        self.intents[intent_id] = intent
        return 200, intent

    def _intent_cancel(self, intent_id: str) -> tuple[int, dict]:
        intent = self.intents.get(intent_id)
        if intent is None:
            return _error(404, "invalid_request_error", "No such payment_intent", "resource_missing")
        if intent["status"] in ("succeeded", "canceled"):
            return _error(
                400,
                "invalid_request_error",
                f"You cannot cancel this PaymentIntent because it has a status of {intent['status']}.",
                "payment_intent_unexpected_state",
            )
        intent["status"] = "canceled"
        return 200, intent

    def _refund_create(self, params: dict) -> tuple[int, dict]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None:
            return _error(400, "invalid_request_error", "No such payment_intent", "resource_missing")
        if intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "This PaymentIntent has no successful charge.")
        refunded = sum(r["amount"] for r in self.refunds.values() if r["payment_intent"] == intent["id"])
        amount = int(params.get("amount", intent["amount"] - refunded))
        if amount < 1 or refunded + amount > intent["amount"]:
            return _error(400, "invalid_request_error", "Refund amount is greater than unrefunded amount.")
        refund = {
            "id": "re_" + secrets.token_hex(12),
            "object": "refund",
            "amount": amount,
            "currency": intent["currency"],
            "payment_intent": intent["id"],
            "charge": intent["latest_charge"],
            "status": "succeeded",
            "metadata": params.get("metadata", {}),
            "created": int(time.time()),
        }
        self.refunds[refund["id"]] = refund
        return 200, refund

    def _handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, dict, dict]:
        path = urlsplit(raw_path).path
        key = headers.get("Idempotency-Key")
        self.requests.append((method, path, key))
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return (*_error(401, "invalid_request_error", "Invalid API Key provided."), {})
        params = _nest(parse_qsl(body.decode(), keep_blank_values=True))
        with self._lock:
            if method == "POST" and path == "/v1/refunds" and self._refund_failures:
                status = self._refund_failures.pop(0)
                # Refused before execution (rate limit): Stripe stores no idempotent result for it.
                return (
                    *_error(status, "api_error" if status >= 500 else "invalid_request_error", "Try again."),
                    {"Stripe-Should-Retry": "false"},
                )
            if method == "POST" and key:
                stored = self._idempotent.get(key)
                if stored is not None:
                    if stored[:2] != (path, params):
                        return (
                            *_error(
                                400,
                                "idempotency_error",
                                "Keys for idempotent requests can only be "
                                "used with the same parameters they were first used with.",
                            ),
                            {},
                        )
                    return (*stored[2], {"Idempotent-Replayed": "true"})
            status, payload = self._route(method, path, params)
            if method == "POST" and key and status < 500:
                self._idempotent[key] = (path, params, (status, payload))
            return status, json.loads(json.dumps(payload)), {}

    def _handler_class(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload, extra = double._handle(method, self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_" + secrets.token_hex(6))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def log_message(self, *args):
                pass

        return Handler


def stripe_signature(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header exactly as Stripe builds it: t=TS,v1=HMAC-SHA256(secret, "TS.payload")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def stripe_event(event_type: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or "evt_" + secrets.token_hex(12),
            "object": "event",
            "type": event_type,
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    )
