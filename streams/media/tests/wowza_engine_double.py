"""A local stand-in for Wowza Streaming Engine: its REST API (port 8087) and its HLS playback (port 1935), written
from Engine's documented request and response shapes:

- https://developer.wowza.com/docs/wowza-engine/guides/rest-api/authentication (and
  https://www.wowza.com/docs/how-to-change-the-authentication-method-for-the-wowza-streaming-engine-rest-api):
  every request is authenticated, Basic by default since 4.8.5.05, Digest before and where configured;
- https://developer.wowza.com/docs/wowza-engine/guides/live-sources (live stream sources, i.e. publishers:
  `POST /v3/servers/{server}/publishers`, `PUT` and `DELETE .../publishers/{name}`, bodies {publisher,
  password, serverName, description, version}, answers {success, message, data});
- https://developer.wowza.com/docs/wowza-engine/guides/stream-stats (`.../incomingstreams/{name}/monitoring/current`:
  uptime, bytesIn, bytesInRate, ..., connectionCount);
- https://www.wowza.com/docs/stream-management-query-examples (`PUT .../incomingstreams/{name}/actions/disconnectStream`);
- https://developer.wowza.com/docs/wowza-engine/guides/stream-recorders (list, create `POST
  .../streamrecorders/{name}` with a StreamRecorderConfig, `PUT .../actions/stopRecording`; a recorder stops
  and disappears when the publish ends, its MP4 stays in the content folder);
- Engine's REST reference (OpenAPI converted from its Swagger 1.2: the path parameters, the action enums
  disconnectStream/resetStream and splitRecording/stopRecording, and the fields of IncomingStreamConfig,
  CurrentIncomingStreamStatistics, StreamRecorderConfig, PublisherConfig3, ApplicationConfig);
- https://www.wowza.com/docs/how-to-protect-streaming-using-securetoken-in-wowza-streaming-engine (SecureToken
  version 2, SHA-256: the playback check below, written apart from the backend's token function).

It refuses what the real server refuses (no or wrong credentials: 401 with a Basic or Digest challenge; an
unknown path, server, virtual host, application, instance or action: 404; a body that is not JSON or asks
JSON without saying so: 415/406; fields a resource does not have, a wrong type or value: 400) in Engine's
answer shape {success: false, message}, and keeps a log of the requests it answered. An encoder connects
(`encoder_connect`) only to an existing application with a publishing account's name and password; a
recorder records only while its stream is published.
"""

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import unquote, urlencode

from .http_double import JsonDouble, serve_json

SERVER, VHOST, INSTANCE = "_defaultServer_", "_defaultVHost_", "_definst_"
REALM = "Wowza"
PUBLISHER_FIELDS = {"publisher", "password", "serverName", "description", "version", "saveFieldList"}
RECORDER_FIELDS = {
    "timeScale", "instanceName", "fileVersionDelegateName", "serverName", "recorderName", "currentSize",
    "segmentSchedule", "startOnKeyFrame", "outputPath", "currentFile", "saveFieldList",
    "defaultAudioSearchPosition", "recordData", "applicationName", "moveFirstVideoFrameToZero",
    "recorderErrorString", "segmentSize", "defaultRecorder", "splitOnTcDiscontinuity", "version", "baseFile",
    "segmentDuration", "recordingStartTime", "fileTemplate", "backBufferTime", "segmentationType",
    "currentDuration", "fileFormat", "recorderState", "option", "restURI",
}  # fmt: skip
RECORDER_BOOLEANS = {
    "startOnKeyFrame", "recordData", "moveFirstVideoFrameToZero", "defaultRecorder", "splitOnTcDiscontinuity",
    "defaultAudioSearchPosition",
}  # fmt: skip
RECORDER_OPTIONS = {"Version existing file", "Append to existing file", "Overwrite existing file"}
SEGMENTATION = {"None", "SegmentByDuration", "SegmentBySize", "SegmentBySchedule"}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 (HTTP Digest's MD5, as Engine uses it)


def _done(message: str = "") -> tuple[int, dict]:
    return 200, {"success": True, "message": message, "data": None}


class WowzaEngineDouble(JsonDouble):
    def __init__(self, *, auth: str = "digest", secure_token_secret: str = "", prefix: str = "wowzatoken"):
        self.auth = auth  # "digest" | "basic" | "none": Server.xml's RESTInterface/AuthenticationMethod
        self.user, self.password = "livestage-admin", secrets.token_urlsafe(12)
        self.secret, self.prefix = secure_token_secret, prefix  # SecureToken v2 of the applications
        self.applications = {"live": "Live", "vod": "VOD"}
        self.publishers: dict[str, str] = {}
        self.incoming: dict[str, dict] = {}  # stream name -> {application, publisher}
        self.recorders: dict[str, dict] = {}
        self.content: dict[str, list[str]] = {}  # the content folder: MP4 file -> the publishes recorded in it
        self.log: list[tuple[str, str]] = []
        self.failures: list[tuple[str, int | str]] = []  # (method, status or "timeout") answered next, once each
        self.clock_offset = 0  # seconds added to the time SecureToken checks against
        self.timeout_seconds = 1.0  # how late a "timeout" failure answers
        self._nonces: set[str] = set()
        self._lock = threading.Lock()

    # --- what a test drives -----------------------------------------------------------------------
    def encoder_connect(self, application: str, stream: str, *, username: str, password: str) -> bool:
        """An encoder publishes rtmp://host/<application>/<stream> with RTMP credentials: accepted only with a
        publishing account's name and password (Engine's live applications require publish authentication)."""
        with self._lock:
            if application not in self.applications or self.publishers.get(username) != password:
                return False
            if stream in self.incoming:
                return False  # the name is taken by a running publish
            self.incoming[stream] = {"application": application, "publisher": username, "since": time.time()}
            for recorder in self.recorders.values():
                if recorder["recorderName"] == stream:
                    recorder["recorderState"] = "Recording in progress"
            return True

    def encoder_leave(self, stream: str) -> None:
        """The encoder stops publishing by itself."""
        with self._lock:
            self._unpublish(stream)

    def playback_status(self, url: str) -> int:
        """What Engine's HTTP streaming answers a player's GET of `url` (a playlist of the double's)."""
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # --- authentication -------------------------------------------------------------------------------
    def _authenticated(self, method: str, uri: str, header: str) -> bool:
        if self.auth == "none":
            return True
        if self.auth == "basic":
            expected = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            return hmac.compare_digest(header, f"Basic {expected}")
        if not header.startswith("Digest "):
            return False
        fields = urllib.request.parse_keqv_list(urllib.request.parse_http_list(header[len("Digest ") :]))
        if (
            fields.get("username") != self.user
            or fields.get("realm") != REALM
            or fields.get("nonce") not in self._nonces
            or fields.get("uri") != uri
            or fields.get("qop") != "auth"
        ):
            return False
        ha1 = _md5(f"{self.user}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{fields['nonce']}:{fields.get('nc', '')}:{fields.get('cnonce', '')}:auth:{ha2}")
        return hmac.compare_digest(fields.get("response", ""), expected)

    def _challenge(self) -> str:
        if self.auth == "basic":
            return f'Basic realm="{REALM}"'
        nonce = secrets.token_hex(16)
        self._nonces.add(nonce)
        return f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'

    # --- the REST API --------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict | None, dict]:
        """(status, JSON answer, extra headers)."""
        # The URI the client's Digest response covers (the backend sends no query: its order cannot differ).
        uri = path + (f"?{urlencode(query, doseq=True)}" if query else "")
        if not self._authenticated(method, uri, headers.get("Authorization", "")):
            answer = {"success": False, "message": "Unauthorized", "data": None}
            return 401, answer, {"WWW-Authenticate": self._challenge()}
        with self._lock:
            failure = next((f for f in self.failures if f[0] == method), None)
            if failure is None:
                self.log.append((method, path))
                try:
                    if "application/json" not in headers.get("Accept", ""):
                        raise Refused(406, "This double answers JSON only: send Accept: application/json.")
                    status, answer = self._route(method, path, headers, body)
                    return status, answer, {}
                except Refused as exc:
                    return exc.status, {"success": False, "message": exc.message, "data": None}, {}
            self.failures.remove(failure)
        if failure[1] == "timeout":  # answer later than any client waits (outside the lock: others go on)
            time.sleep(self.timeout_seconds)
            return 504, {"success": False, "message": "Gateway timeout.", "data": None}, {}
        return failure[1], {"success": False, "message": "Try again.", "data": None}, {}

    @staticmethod
    def _json(headers, body: bytes, fields: set[str]) -> dict:
        if headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            raise Refused(415, "Content-Type must be application/json.")
        try:
            data = json.loads(body)
        except ValueError:
            raise Refused(400, "The body is not JSON.") from None
        if not isinstance(data, dict):
            raise Refused(400, "The body must be one object.")
        unknown = set(data) - fields
        if unknown:
            raise Refused(400, f"Unknown fields: {sorted(unknown)}")
        return data

    def _route(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict | None]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:3] == ["v3", "servers", SERVER] and parts[3:4] == ["publishers"]:
            return self._publishers(method, parts[4:], headers, body)
        if parts[:5] != ["v2", "servers", SERVER, "vhosts", VHOST] or parts[5:6] != ["applications"]:
            raise Refused(404, f"No route {method} {path}.")
        rest = parts[6:]
        if not rest or rest[0] not in self.applications:
            raise Refused(404, "Application not found.")
        application = rest[0]
        if len(rest) == 1 and method == "GET":
            return 200, {
                "restURI": path,
                "serverName": SERVER,
                "name": application,
                "appType": self.applications[application],
                "description": "",
                "version": "1",
            }
        if rest[1:3] != ["instances", INSTANCE]:
            raise Refused(404, f"No route {method} {path}.")
        if rest[3:4] == ["incomingstreams"]:
            return self._incoming(method, application, rest[4:])
        if rest[3:4] == ["streamrecorders"]:
            return self._recorders(method, application, rest[4:], headers, body)
        raise Refused(404, f"No route {method} {path}.")

    def _publishers(self, method: str, rest: list[str], headers, body: bytes) -> tuple[int, dict | None]:
        if not rest and method == "GET":
            return 200, {"serverName": SERVER, "publishers": [{"publisher": name} for name in self.publishers]}
        if not rest and method == "POST":
            data = self._json(headers, body, PUBLISHER_FIELDS)
            name, password = data.get("publisher"), data.get("password")
            if not isinstance(name, str) or not name or not isinstance(password, str) or not password:
                raise Refused(400, "publisher and password are required.")
            if name in self.publishers:
                raise Refused(400, f"Publisher {name} already exists.")
            self.publishers[name] = password
            return _done()
        if len(rest) == 1 and method in ("PUT", "DELETE"):
            if rest[0] not in self.publishers:
                raise Refused(404, f"Publisher {rest[0]} not found.")
            if method == "DELETE":
                del self.publishers[rest[0]]
                return _done("publisher deleted")
            password = self._json(headers, body, PUBLISHER_FIELDS).get("password")
            if not isinstance(password, str) or not password:
                raise Refused(400, "password is required.")
            self.publishers[rest[0]] = password
            return _done("publisher updated")
        raise Refused(404, "No such publishers route.")

    def _incoming(self, method: str, application: str, rest: list[str]) -> tuple[int, dict | None]:
        stream = self.incoming.get(rest[0]) if rest else None
        if stream is None or stream["application"] != application:
            raise Refused(404, "Incoming stream not found.")
        name = rest[0]
        if len(rest) == 1 and method == "GET":
            return 200, {
                "serverName": SERVER,
                "applicationInstance": INSTANCE,
                "name": name,
                "sourceIp": "rtmp://203.0.113.7:50412",
                "isRecordingSet": name in self.recorders,
                "isStreamManagerStream": False,
                "isPublishedToVOD": False,
                "isConnected": True,
                "isPTZEnabled": False,
                "ptzPollingInterval": 2000,
                "ptzPollingIntervalMinimum": 1000,
            }
        if rest[1:] == ["monitoring", "current"] and method == "GET":
            uptime = int(time.time() - stream["since"])
            return 200, {
                "serverName": SERVER,
                "applicationInstance": INSTANCE,
                "name": name,
                "uptime": uptime,
                "bytesIn": 560_000 * (uptime + 1),
                "bytesOut": 0,
                "bytesInRate": 560_000,  # 4,480 kbit/s
                "bytesOutRate": 0,
                "totalConnections": 0,
                "connectionCount": {"RTMP": 0, "CUPERTINO": 0, "MPEGDASH": 0, "SANJOSE": 0, "SMOOTH": 0, "RTP": 0},
            }
        if len(rest) == 3 and rest[1] == "actions" and method == "PUT":
            if rest[2] not in ("disconnectStream", "resetStream"):
                raise Refused(400, "Unknown action.")
            if rest[2] == "disconnectStream":
                self._unpublish(name)
            return _done()
        raise Refused(404, "No such incoming stream route.")

    def _recorders(self, method: str, application: str, rest, headers, body) -> tuple[int, dict | None]:
        if not rest and method == "GET":
            return 200, {
                "serverName": SERVER,
                "instanceName": INSTANCE,
                "streamrecorder": list(self.recorders.values()),
            }
        name = rest[0] if rest else ""
        if len(rest) == 1 and method == "GET":
            if name not in self.recorders:
                raise Refused(404, "Recorder not found.")
            return 200, self.recorders[name]
        if len(rest) == 1 and method == "POST":
            data = self._json(headers, body, RECORDER_FIELDS)
            if data.get("recorderName") != name:
                raise Refused(400, "recorderName must be the stream's name.")
            if name in self.recorders:
                raise Refused(400, "A recorder of this stream exists.")
            for key in RECORDER_BOOLEANS & set(data):
                if not isinstance(data[key], bool):
                    raise Refused(400, f"{key} must be a boolean.")
            if data.get("option", "Version existing file") not in RECORDER_OPTIONS:
                raise Refused(400, "option is not one of Engine's.")
            if data.get("segmentationType", "None") not in SEGMENTATION:
                raise Refused(400, "segmentationType is not one of Engine's.")
            if data.get("fileFormat", "MP4") not in ("MP4", "FLV"):
                raise Refused(400, "fileFormat must be MP4 or FLV.")
            base_file = data.get("baseFile", "")
            if not isinstance(base_file, str) or "/" in base_file or not base_file.endswith(".mp4"):
                raise Refused(400, "baseFile must be an MP4 file name.")
            publishing = self.incoming.get(name, {}).get("application") == application
            self.recorders[name] = {
                "serverName": SERVER,
                "recorderName": name,
                "instanceName": INSTANCE,
                "applicationName": application,
                "recorderState": "Recording in progress" if publishing else "Waiting for stream",
                "recorderErrorString": "",
                "defaultRecorder": False,
                "segmentationType": data.get("segmentationType", "None"),
                "outputPath": "/usr/local/WowzaStreamingEngine/content",
                "baseFile": base_file,
                "fileFormat": data.get("fileFormat", "MP4"),
                "option": data.get("option", "Version existing file"),
                "currentFile": f"/usr/local/WowzaStreamingEngine/content/{base_file}",
                "currentDuration": 0,
            }
            return _done("Recorder Created")
        if len(rest) == 3 and rest[1] == "actions" and method == "PUT":
            if rest[2] not in ("stopRecording", "splitRecording"):
                raise Refused(400, "Unknown action.")
            if name not in self.recorders:
                raise Refused(404, "Recorder not found.")
            if rest[2] == "stopRecording":
                self._recorder_stop(name)
            return _done()
        raise Refused(404, "No such recorder route.")

    def _unpublish(self, stream: str) -> None:
        # A recorder stops when the server no longer receives its stream.
        if self.incoming.pop(stream, None) is not None and stream in self.recorders:
            self._recorder_stop(stream)

    def _recorder_stop(self, name: str) -> None:
        recorder = self.recorders.pop(name)
        if recorder["recorderState"] != "Recording in progress":
            return
        file = recorder["baseFile"]
        if recorder["option"] == "Append to existing file":
            self.content.setdefault(file, []).append(name)
        elif recorder["option"] == "Overwrite existing file" or file not in self.content:
            self.content[file] = [name]
        else:  # versioning renames the older file
            self.content[f"{file[:-4]}_{len(self.content)}.mp4"] = self.content.pop(file)
            self.content[file] = [name]

    # --- HLS playback ----------------------------------------------------------------------------------
    def play(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, bytes, dict]:
        """Engine's HTTP streaming: a player's GET of a playlist."""
        status = self._play_status(path, query) if method == "GET" else 405
        data = b"#EXTM3U\n#EXT-X-VERSION:3\n" if status == 200 else b""
        return status, data, {"Content-Type": "application/vnd.apple.mpegurl"}

    def _play_status(self, path: str, query: dict) -> int:
        """SecureToken first, then the stream or file."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if len(parts) != 3 or parts[2] != "playlist.m3u8" or parts[0] not in self.applications:
            return 404
        application, stream = parts[0], parts[1]
        if self.secret and not self._token_valid(f"{application}/{stream}", query):
            return 403
        with self._lock:
            if self.applications[application] == "Live":
                return 200 if self.incoming.get(stream, {}).get("application") == application else 404
            return 200 if stream.startswith("mp4:") and stream[4:] in self.content else 404

    def _token_valid(self, content_path: str, query: dict) -> bool:
        params = [(name, value) for name, values in query.items() for value in values]
        given = dict(params).get(f"{self.prefix}hash", "")
        public = [f"{k}={v}" for k, v in params if k.startswith(self.prefix) and k != f"{self.prefix}hash"]
        hashed = "&".join(sorted([*public, self.secret]))
        expected = base64.urlsafe_b64encode(hashlib.sha256(f"{content_path}?{hashed}".encode()).digest()).decode()
        now = time.time() + self.clock_offset
        values = dict(params)
        end = values.get(f"{self.prefix}endtime")
        start = values.get(f"{self.prefix}starttime")
        return (
            bool(given)
            and hmac.compare_digest(given, expected)
            and (end is None or now < int(end))
            and (start is None or now >= int(start))
        )

    # --- the servers ---------------------------------------------------------------------------------
    def start(self) -> "WowzaEngineDouble":
        super().start()  # the REST API (port 8087)
        self.url = f"{self.server.url}/v2/servers/{SERVER}/vhosts/{VHOST}"
        self.player = serve_json(self.play)  # HLS playback (port 1935)
        self.playback_url = self.player.url
        return self

    def stop(self) -> None:
        super().stop()
        self.player.shutdown()
        self.player.server_close()
