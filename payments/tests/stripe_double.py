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
        self.sessions: dict[str, dict] = {}  # Checkout Sessions
        # Where the hosted checkout page delivers its webhooks (the platform's endpoint), and the secret.
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
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

    def checkout_pay(self, session_id: str) -> dict:
        """The buyer pays on the hosted page: the session's PaymentIntent is created, succeeded, with the
        metadata of `payment_intent_data` (as Stripe does); returns the intent."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"checkout session {session_id} is {session['status']}")
            status, intent = self._intent_create(
                {
                    "amount": str(session["amount_total"]),
                    "currency": session["currency"],
                    "metadata": session["payment_intent_data"].get("metadata", {}),
                    "description": session["payment_intent_data"].get("description"),
                }
            )
            assert status == 200, intent
            session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
        return self.intent_succeed(intent["id"])

    def _webhook_send(self, event_type: str, obj: dict) -> None:
        import urllib.request

        payload = stripe_event(event_type, obj)
        request = urllib.request.Request(
            self.webhook_url,
            data=payload.encode(),
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_signature(payload, self.webhook_secret),
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _hosted_page(self, method: str, path: str) -> tuple[int, str, dict]:
        """Stripe Checkout's hosted page, reduced to its contract: GET shows the amount and a Pay button;
        POST pays, sends the webhooks to `webhook_url` (signed), and redirects to the success URL."""
        session_id = path.rsplit("/", 1)[1]
        session = self.sessions.get(session_id)
        if session is None:
            return 404, "<h1>No such checkout session</h1>", {}
        if method == "GET":
            amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
            name = session["line_items"][0]["price_data"]["product_data"]["name"]
            body = (
                f"<!doctype html><title>Checkout</title><h1 data-testid='stripe-product'>{name}</h1>"
                f"<p data-testid='stripe-amount'>{amount}</p><form method='post'>"
                f"<button data-testid='stripe-pay'>Pay {amount}</button></form>"
                f"<a href='{session['cancel_url']}'>Back</a>"
            )
            return 200, body, {}
        intent = self.checkout_pay(session_id)
        if self.webhook_url:
            self._webhook_send("payment_intent.succeeded", intent)
            self._webhook_send("checkout.session.completed", dict(self.sessions[session_id]))
        return 303, "", {"Location": session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)}

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
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._session_create(params)
        if method == "GET" and path.startswith("/v1/checkout/sessions/"):
            session = self.sessions.get(path.rsplit("/", 1)[1])
            if session is None:
                return _error(404, "invalid_request_error", "No such checkout.session", "resource_missing")
            return 200, session
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

    def _session_create(self, params: dict) -> tuple[int, dict]:
        """POST /v1/checkout/sessions, checked the way Stripe checks it: mode, one line item with inline
        price_data, success and cancel URLs, an expiry between 30 minutes and 24 hours."""
        try:
            if params["mode"] != "payment":
                return _error(400, "invalid_request_error", "Only mode=payment is supported here.")
            item = params["line_items"]["0"]
            price = item["price_data"]
            amount, currency, name = int(price["unit_amount"]), price["currency"].lower(), price["product_data"]["name"]
            quantity = int(item.get("quantity", "1"))
            success_url, cancel_url = params["success_url"], params["cancel_url"]
        except (KeyError, ValueError, TypeError) as exc:
            return _error(400, "invalid_request_error", f"Missing or invalid param: {exc}.")
        if amount < 1 or quantity != 1 or not name:
            return _error(400, "invalid_request_error", "Invalid line item.")
        expires_at = int(params.get("expires_at", time.time() + 86400))
        if not time.time() + 1799 <= expires_at <= time.time() + 86400:
            return _error(400, "invalid_request_error", "expires_at must be 30 minutes to 24 hours from now.")
        session_id = "cs_test_" + secrets.token_hex(16)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": currency,
            "line_items": [
                {
                    "quantity": quantity,
                    "price_data": {"unit_amount": amount, "currency": currency, "product_data": {"name": name}},
                }
            ],
            "payment_intent_data": params.get("payment_intent_data", {}),
            "metadata": params.get("metadata", {}),
            "client_reference_id": params.get("client_reference_id"),
            "customer_email": params.get("customer_email"),
            "payment_intent": None,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": expires_at,
            "url": f"{self.url}/pay/{session_id}",
            "livemode": False,
        }
        self.sessions[session_id] = session
        return 200, session

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
                if self.path.startswith("/pay/"):  # the hosted checkout page, in the buyer's browser
                    status, html, extra = double._hosted_page(method, urlsplit(self.path).path)
                    data = html.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                    return
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
