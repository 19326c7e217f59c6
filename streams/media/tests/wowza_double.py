"""A local stand-in for the Wowza Video REST API v2.0, written from Wowza's documented request and
response shapes:

- https://developer.wowza.com/docs/wowza-video/about-the-rest-api/query-requirements (JSON bodies with
  one root resource object, `Authorization: Bearer <JWT>`, the version in the base path);
- https://developer.wowza.com/docs/wowza-video/api/video/current/tag/live_streams (create, fetch, update,
  delete, start, stop, state: their fields, enums and response objects);
- https://developer.wowza.com/docs/wowza-video/api/video/current/tag/analytics (ingest analytics of a
  live stream: each measure as {status, text, units, value});
- https://developer.wowza.com/docs/wowza-video/api/video/current/tag/recordings (list with filter
  parameters, fetch with download_url);
- https://www.wowza.com/docs/protect-a-wowza-cdn-on-fastly-stream-target-with-token-authentication-in-wowza-video
  and Wowza's token generators (https://github.com/WowzaMediaSystems/wsc-fastly-token-auth-examples)
  for the hdnts playback token it checks.

It refuses what the real API refuses (a missing or wrong bearer token: 401; a body that is not one
`live_stream` object, a missing required field, a value outside its enum, a field the operation does
not take: 422), in Wowza's error shape {"meta": {status, code, title, message}}, and keeps a log of
the requests it answered. An encoder "connects" only to a started live stream.
"""

import hashlib
import hmac
import json
import secrets
import threading
from urllib.parse import parse_qs

from .http_double import JsonDouble

BASE = "/api/v2.0"
LOCATIONS = {
    "asia_pacific_australia", "asia_pacific_india", "asia_pacific_japan", "asia_pacific_singapore",
    "asia_pacific_s_korea", "asia_pacific_taiwan", "eu_belgium", "eu_germany", "eu_ireland",
    "south_america_brazil", "us_central_iowa", "us_east_s_carolina", "us_east_virginia",
    "us_west_california", "us_west_oregon",
}  # fmt: skip
ENCODERS = {"other_rtmp", "other_rtsp", "other_srt", "other_udp", "other_webrtc", "ipcamera", "wowza_streaming_engine"}
CREATE_FIELDS = {
    "name", "broadcast_location", "encoder", "transcoder_type", "billing_mode", "delivery_method",
    "aspect_ratio_width", "aspect_ratio_height", "low_latency", "recording", "reference_id", "security",
    "disable_authentication", "username", "password", "closed_caption_type", "delivery_protocols",
}  # fmt: skip
PATCH_FIELDS = CREATE_FIELDS - {"broadcast_location", "transcoder_type", "billing_mode", "low_latency"}
SECURITY_FIELDS = {"token_auth_enabled", "token_auth_shared_secret", "token_auth_playlist_only", "force_ssl_playback"}


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _validate(body, *, fields: set, required: set) -> dict:
    if not isinstance(body, dict) or set(body) != {"live_stream"} or not isinstance(body["live_stream"], dict):
        raise Refused(422, "ERR-422-InvalidJson", "The body must be one live_stream object.")
    live = body["live_stream"]
    unknown = set(live) - fields
    if unknown:
        raise Refused(422, "ERR-422-InvalidInteraction", f"Unknown fields: {sorted(unknown)}")
    missing = required - set(live)
    if missing:
        raise Refused(422, "ERR-422-RecordInvalid", f"Missing: {sorted(missing)}")
    checks = {
        "broadcast_location": LOCATIONS,
        "encoder": ENCODERS,
        "transcoder_type": {"transcoded", "passthrough"},
        "billing_mode": {"pay_as_you_go", "twentyfour_seven"},
        "delivery_method": {"pull", "cdn", "push"},
    }
    for key, allowed in checks.items():
        if key in live and live[key] not in allowed:
            raise Refused(422, "ERR-422-RecordInvalid", f"{key} is not one of the allowed values")
    for key in ("aspect_ratio_width", "aspect_ratio_height"):
        if key in live and (not isinstance(live[key], int) or isinstance(live[key], bool) or live[key] % 8):
            raise Refused(422, "ERR-422-RecordInvalid", f"{key} must be an integer divisible by 8")
    for key in ("low_latency", "recording", "disable_authentication"):
        if key in live and not isinstance(live[key], bool):
            raise Refused(422, "ERR-422-RecordInvalid", f"{key} must be a boolean")
    security = live.get("security", {})
    if not isinstance(security, dict) or set(security) - SECURITY_FIELDS:
        raise Refused(422, "ERR-422-RecordInvalid", "security has unknown fields")
    secret = security.get("token_auth_shared_secret")
    if secret is not None and (
        len(secret) > 32 or len(secret) % 2 or any(c not in "0123456789abcdefABCDEF" for c in secret)
    ):
        raise Refused(422, "ERR-422-RecordInvalid", "token_auth_shared_secret must be even-length hex, at most 32")
    return live


class WowzaDouble(JsonDouble):
    def __init__(self, token: str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0In0.c2lnbmF0dXJl"):
        self.token = token
        self.live_streams: dict[str, dict] = {}
        self.connected: set[str] = set()
        self.recordings: dict[str, dict] = {}
        self.log: list[tuple[str, str]] = []
        self.failures: list[tuple[str, int]] = []  # (method, status) answered next, once each
        self._lock = threading.Lock()

    # --- what a test drives -----------------------------------------------------------------------
    def encoder_connect(self, live_id: str) -> bool:
        """An encoder publishes to the live stream: accepted only while it is started."""
        if self.live_streams[live_id]["state"] != "started":
            return False
        self.connected.add(live_id)
        return True

    def recording_add(self, live_id: str, *, duration: int, state: str = "completed") -> str:
        recording_id = secrets.token_hex(4)
        self.recordings[recording_id] = {
            "id": recording_id,
            "transcoder_id": live_id,
            "state": state,
            "duration": duration,
        }
        return recording_id

    def playback_token_valid(self, live_id: str, query: str, now: int) -> bool:
        """Check an hdnts token the way Wowza CDN on Fastly does: HMAC of its fields and the stream id."""
        live = self.live_streams[live_id]
        value = parse_qs(query).get("hdnts", [""])[0]
        fields, _, digest = value.rpartition("~hmac=")
        stream_id = live["stream_targets"][0]["id"]
        secret = live["security"].get("token_auth_shared_secret", "")
        expected = hmac.new(secret.encode(), f"{fields}~stream_id={stream_id}".encode(), hashlib.sha256).hexdigest()
        exp = dict(part.split("=", 1) for part in fields.split("~") if "=" in part).get("exp")
        return bool(digest) and hmac.compare_digest(digest, expected) and exp is not None and int(exp) > now

    # --- the API ------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict | None]:
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {
                "meta": {
                    "status": 401,
                    "code": "ERR-401-InvalidToken",
                    "title": "Unauthorized",
                    "message": "Invalid token.",
                }
            }
        with self._lock:
            for index, (failing_method, status) in enumerate(self.failures):
                if failing_method == method:
                    del self.failures[index]
                    return status, {
                        "meta": {"status": status, "code": f"ERR-{status}", "title": "Failure", "message": "Try again."}
                    }
            self.log.append((method, path))
            try:
                return self._route(method, path, query, headers, body)
            except Refused as exc:
                return exc.status, {
                    "meta": {"status": exc.status, "code": exc.code, "title": "Refused", "message": exc.message}
                }

    def _json(self, headers, body: bytes):
        if headers.get("Content-Type", "").split(";")[0] != "application/json":
            raise Refused(415, "ERR-415-UnsupportedMediaType", "Content-Type must be application/json")
        try:
            return json.loads(body)
        except ValueError:
            raise Refused(422, "ERR-422-InvalidJson", "The body is not JSON.") from None

    def _live(self, live_id: str) -> dict:
        if live_id not in self.live_streams:
            raise Refused(404, "ERR-404-RecordNotFound", "No such live stream.")
        return self.live_streams[live_id]

    def _route(self, method, path, query, headers, body):
        if not path.startswith(BASE + "/"):
            raise Refused(404, "ERR-404-RouteNotFound", "No such route.")
        parts = path[len(BASE) + 1 :].split("/")
        if parts == ["live_streams"] and method == "POST":
            live = _validate(
                self._json(headers, body), fields=CREATE_FIELDS, required={"name", "broadcast_location", "encoder"}
            )
            security = live.get("security", {})
            if security.get("token_auth_enabled") and not security.get("token_auth_shared_secret"):
                raise Refused(422, "ERR-422-RecordInvalid", "token auth needs token_auth_shared_secret")
            return 201, {"live_stream": self._create(live)}
        if parts == ["live_streams"] and method == "GET":
            items = [{k: v[k] for k in ("id", "name", "created_at", "updated_at")} for v in self.live_streams.values()]
            return 200, {"live_streams": items}
        if len(parts) == 2 and parts[0] == "live_streams":
            live = self._live(parts[1])
            if method == "GET":
                return 200, {"live_stream": live}
            if method == "PATCH":
                changes = _validate(self._json(headers, body), fields=PATCH_FIELDS, required=set())
                security = {**live["security"], **changes.pop("security", {})}
                if security.get("token_auth_enabled") and not security.get("token_auth_shared_secret"):
                    raise Refused(422, "ERR-422-RecordInvalid", "token auth needs token_auth_shared_secret")
                live.update(
                    {k: v for k, v in changes.items() if k not in ("username", "password", "disable_authentication")}
                )
                live["security"] = security
                for key in ("username", "password", "disable_authentication"):
                    if key in changes:
                        live["source_connection_information"][key] = changes[key]
                return 200, {"live_stream": live}
            if method == "DELETE":
                del self.live_streams[parts[1]]
                self.connected.discard(parts[1])
                return 204, None
        if len(parts) == 3 and parts[0] == "live_streams":
            live = self._live(parts[1])
            if parts[2] == "state" and method == "GET":
                return 200, {"live_stream": {"state": live["state"], "ip_address": "0.0.0.0"}}
            if parts[2] == "start" and method == "PUT":
                if live["state"] != "stopped":
                    raise Refused(422, "ERR-422-InvalidInteraction", "The live stream is not stopped.")
                live["state"] = "started"
                return 200, {"live_stream": {"state": "starting"}}
            if parts[2] == "stop" and method == "PUT":
                live["state"] = "stopped"
                self.connected.discard(parts[1])  # stopping the transcoder disconnects the encoder
                return 200, {"live_stream": {"state": "stopped"}}
        if parts[:3] == ["analytics", "ingest", "live_streams"] and len(parts) == 4 and method == "GET":
            live = self._live(parts[3])
            return 200, {"live_stream": self._ingest(live)}
        if parts == ["recordings"] and method == "GET":
            field, value = query.get("filter[0][field]", [""])[0], query.get("filter[0][eq]", [""])[0]
            if field and field not in ("transcoder_id", "state", "id"):
                raise Refused(422, "ERR-422-InvalidFilter", "Unknown filter field.")
            items = [r for r in self.recordings.values() if not field or r.get(field) == value]
            return 200, {"recordings": [{k: r[k] for k in ("id", "transcoder_id", "state")} for r in items]}
        if len(parts) == 2 and parts[0] == "recordings" and method == "GET":
            recording = self.recordings.get(parts[1])
            if recording is None:
                raise Refused(404, "ERR-404-RecordNotFound", "No such recording.")
            url = f"https://wowzasubscriberdownloads.s3.amazonaws.com/{parts[1]}.mp4?X-Amz-Signature={secrets.token_hex(8)}"
            return 200, {"recording": {**recording, "download_url": url, "file_size": 1024}}
        raise Refused(404, "ERR-404-RouteNotFound", f"No route {method} {path}.")

    def _create(self, fields: dict) -> dict:
        live_id = secrets.token_hex(4)
        host = secrets.token_hex(3)
        live = {
            "id": live_id,
            "name": fields["name"],
            "state": "stopped",
            "broadcast_location": fields["broadcast_location"],
            "encoder": fields["encoder"],
            "transcoder_type": fields.get("transcoder_type", "transcoded"),
            "billing_mode": fields.get("billing_mode", "pay_as_you_go"),
            "delivery_method": fields.get("delivery_method", "push"),
            "aspect_ratio_width": fields.get("aspect_ratio_width", 1280),
            "aspect_ratio_height": fields.get("aspect_ratio_height", 720),
            "low_latency": fields.get("low_latency", False),
            "recording": fields.get("recording", False),
            "reference_id": fields.get("reference_id", ""),
            "security": {"token_auth_enabled": False, **fields.get("security", {})},
            "source_connection_information": {
                "primary_server": f"rtmp://{host}.entrypoint.video.wowza.com/app-{secrets.token_hex(4)}",
                "host_port": 1935,
                "stream_name": secrets.token_hex(4),
                "disable_authentication": False,
                "username": f"client{secrets.token_hex(3)}",
                "password": secrets.token_hex(6),
            },
            "hls_playback_url": f"https://{host}.wowza.com/1/{secrets.token_hex(6)}/{secrets.token_hex(6)}/hls/live/playlist.m3u8",
            "stream_targets": [{"id": secrets.token_hex(4)}],
            "created_at": "2026-12-01T07:00:00.000Z",
            "updated_at": "2026-12-01T07:00:00.000Z",
        }
        self.live_streams[live_id] = live
        return live

    def _ingest(self, live: dict) -> dict:
        connected = live["id"] in self.connected
        measure = lambda value, units="": {"status": "normal", "text": "", "units": units, "value": value}  # noqa: E731
        data = {"id": live["id"], "connected": measure("Yes" if connected else "No")}
        if connected:
            data.update(
                bits_in_rate=measure(4480.5, "Kbps"),
                frame_rate=measure(30, "FPS"),
                width=measure(1920, "px"),
                height={"status": "warning", "text": "Configured height differs", "units": "px", "value": 1080},
                video_codec=measure("h264"),
                audio_codec=measure("aac"),
                keyframe_interval=measure(60, "GOP"),
            )
        return data
