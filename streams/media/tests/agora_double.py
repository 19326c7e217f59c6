"""A local stand-in for the Agora REST APIs the Agora backend calls, written from Agora's documented request
and response shapes:

- RESTful authentication (HTTP Basic, `customer ID:customer secret`):
  https://docs.agora.io/en/api-reference/api-ref/rtmp-gateway (API basics) and the same section of the
  channel management and Cloud Recording references;
- Media Gateway streaming keys, create / query / delete, their body (`settings.channel`, `settings.uid` a
  string, `settings.expiresAfter` seconds, 0 = never), answers (`{"status": "success", "data": {streamKey,
  channel, uid, expiresAfter, createdAt}}`), errors (`{"message"}`) and the note that deleting a key does
  not stop a running push: https://docs.agora.io/en/api-reference/api-ref/rtmp-gateway/create-streaming-key,
  .../query-streaming-key, .../delete-streaming-key, .../force-disconnection (and Agora's Chinese RTMP
  gateway reference in AgoraIO/agora_doc_source for the full field list and status codes);
- the server and key an encoder uses: https://docs.agora.io/en/realtime-media/rtmp-gateway/quickstart;
- channel management: query the host list (`GET /dev/v1/channel/user/{appid}/{channel}/hosts_only`,
  `{"success": true, "data": {channel_exist, mode, broadcasters}}`) and banning rules (`POST
  /dev/v1/kicking-rule`: appid, cname, uid, time / time_in_seconds, privileges):
  https://docs.agora.io/en/api-reference/api-ref/rtc/query-host-list, .../create-ban-rule;
- Cloud Recording acquire / start / query / stop, their paths, bodies and the stop's serverResponse
  (`fileListMode` "string": `fileList` is the playlist's name), the recording's file names
  (`<prefix>/<sid>_<cname>.m3u8`), storageConfig's vendor and region numbers:
  https://docs.agora.io/en/cloud-recording/rest-api/overview, .../acquire, .../stop,
  https://docs.agora.io/en/cloud-recording/reference/region-vendor, and the request and response types of
  Agora's Go REST client (AgoraIO-Community/agora-rest-client-go, services/cloudrecording/v1);
- AccessToken2, to check the recorder's token the way Agora would (an implementation of its own, not the
  platform's builder): AgoraIO/Tools, DynamicKey/AgoraDynamicKey/python3/src/AccessToken2.py.

It refuses what the real APIs refuse (wrong credentials: 401; a body that is not the documented object, a
missing or unknown field, a channel name Agora does not allow, a uid of the wrong type: 400), keeps a log
of the requests it answered, lets an "encoder" push with a stream key (its host appears in the channel)
and uploads a composite recording's HLS files to the bucket of the recording's storageConfig when it stops.
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import struct
import threading
import time
import zlib

import boto3

from .http_double import JsonDouble

CHANNEL_RE = re.compile(r"^[a-zA-Z0-9 !#$%&()+\-:;<=.>?@\[\]^_{}|~,]{1,63}$")
S3_REGION_NAMES = {0: "us-east-1", 1: "us-east-2", 2: "us-west-1", 3: "us-west-2", 4: "eu-west-1", 7: "eu-central-1"}
KEY_SETTINGS = {"channel", "uid", "expiresAfter", "templateId"}
BAN_FIELDS = {"appid", "cname", "uid", "ip", "time", "time_in_seconds", "privileges"}
STORAGE_FIELDS = {"vendor", "region", "bucket", "accessKey", "secretKey", "fileNamePrefix", "extensionParams"}
START_FIELDS = {
    "token", "recordingConfig", "recordingFileConfig", "storageConfig", "snapshotConfig", "appsCollection",
    "transcodeOptions", "extensionServiceConfig",
}  # fmt: skip


class Refused(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body)
        self.status, self.body = status, body


def _bad(message: str) -> Refused:
    return Refused(400, {"message": message})


def _recording_bad(reason: str) -> Refused:
    return Refused(400, {"code": 2, "reason": reason})


def token_read(token: str, certificate: str) -> dict | None:
    """An AccessToken2 token's fields, or None when it is malformed or its signature is not the certificate's."""
    if not token.startswith("007"):
        return None
    try:
        buffer = zlib.decompress(base64.b64decode(token[3:]))

        def string(at):
            (length,) = struct.unpack_from("<H", buffer, at)
            return buffer[at + 2 : at + 2 + length], at + 2 + length

        signature, at = string(0)
        info = buffer[at:]
        app_id, at = string(at)
        issued, expire, salt, count = struct.unpack_from("<IIIH", buffer, at)
        at += 14
        services = {}
        for _ in range(count):
            (kind, size) = struct.unpack_from("<HH", buffer, at)
            at += 4
            privileges = {}
            for _ in range(size):
                key, value = struct.unpack_from("<HI", buffer, at)
                privileges[key] = value
                at += 6
            channel, at = string(at)
            uid, at = string(at)
            services[kind] = {"privileges": privileges, "channel": channel.decode(), "uid": uid.decode()}
    except (ValueError, struct.error, zlib.error):
        return None
    signing = hmac.new(struct.pack("<I", issued), certificate.encode(), hashlib.sha256).digest()
    signing = hmac.new(struct.pack("<I", salt), signing, hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(signing, info, hashlib.sha256).digest(), signature):
        return None
    return {"appId": app_id.decode(), "issueTs": issued, "expire": expire, "salt": salt, "services": services}


class AgoraDouble(JsonDouble):
    def __init__(self, *, app_id: str, certificate: str, customer_id: str, customer_secret: str, s3_endpoint: str):
        self.app_id, self.certificate = app_id, certificate
        self.auth = "Basic " + base64.b64encode(f"{customer_id}:{customer_secret}".encode()).decode()
        self.s3_endpoint = s3_endpoint
        self.keys: dict[str, dict] = {}  # stream key -> {channel, uid, expiresAfter, createdAt, region}
        self.hosts: dict[str, set[int]] = {}  # channel -> uids of its hosts
        self.bans: list[dict] = []
        self.recordings: dict[str, dict] = {}  # sid -> the recording
        self.resources: dict[str, dict] = {}  # resourceId -> {cname, uid}
        self.log: list[tuple[str, str]] = []
        self.failures: list[tuple[str, int | str]] = []  # (method, status or "timeout") answered next, once each
        self.hang_seconds = 2.0
        self._lock = threading.Lock()

    # --- what a test drives -----------------------------------------------------------------------
    def encoder_connect(self, stream_key: str) -> bool:
        """An encoder pushes to Media Gateway with the key: it joins the key's channel as the key's uid."""
        key = self.keys.get(stream_key)
        if key is None or (key["expiresAfter"] and int(key["createdAt"]) + key["expiresAfter"] < time.time()):
            return False
        uid = int(key["uid"])
        if any(ban["cname"] in (None, key["channel"]) and ban["uid"] == uid for ban in self.bans):
            return False
        self.hosts.setdefault(key["channel"], set()).add(uid)
        return True

    def encoder_leave(self, stream_key: str) -> None:
        key = self.keys.get(stream_key) or {}
        self.hosts.get(key.get("channel"), set()).discard(int(key.get("uid", 0)))

    # --- the API ------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, dict | None]:
        if headers.get("Authorization") != self.auth:
            return 401, {"message": "Invalid authentication credentials."}
        with self._lock:
            for index, (failing_method, status) in enumerate(self.failures):
                if failing_method == method:
                    del self.failures[index]
                    if status == "timeout":
                        time.sleep(self.hang_seconds)
                        return 504, {"message": "Gateway timeout."}
                    return status, {"message": "Service unavailable temporarily. Retry with back off strategy."}
            self.log.append((method, path))
            try:
                return self._route(method, path, headers, body)
            except Refused as exc:
                return exc.status, exc.body

    def _json(self, headers, body: bytes) -> dict:
        if headers.get("Content-Type", "").split(";")[0] != "application/json":
            raise _bad("Content-Type must be application/json.")
        try:
            data = json.loads(body)
        except ValueError:
            raise _bad("The body is not JSON.") from None
        if not isinstance(data, dict):
            raise _bad("The body must be a JSON object.")
        return data

    def _route(self, method, path, headers, body):
        parts = path.strip("/").split("/")
        if len(parts) >= 6 and parts[1:3] == ["v1", "projects"] and parts[4:6] == ["rtls", "ingress"]:
            if parts[0] not in ("na", "eu", "ap", "cn") or parts[3] != self.app_id:
                raise Refused(403, {"message": "Stream does not belong to this app ID."})
            return self._media_gateway(method, parts[0], parts[6:], headers, body)
        if parts[:2] == ["dev", "v1"]:
            return self._channels(method, parts[2:], headers, body)
        if parts[:3] == ["v1", "apps", self.app_id] and parts[3:4] == ["cloud_recording"]:
            return self._recording(method, parts[4:], headers, body)
        raise Refused(404, {"message": f"No route {method} {path}."})

    # Media Gateway
    def _media_gateway(self, method, region, parts, headers, body):
        if parts == ["streamkeys"] and method == "POST":
            data = self._json(headers, body)
            settings = data.get("settings")
            if set(data) != {"settings"} or not isinstance(settings, dict) or set(settings) - KEY_SETTINGS:
                raise _bad("Invalid settings.")
            channel, uid = settings.get("channel"), settings.get("uid")
            if not isinstance(channel, str) or not CHANNEL_RE.match(channel):
                raise _bad("Parameter 'channel' is invalid formatted.")
            if not isinstance(uid, str) or not uid or (uid.isdigit() and not 0 < int(uid) < 2**32):
                raise _bad("Parameter 'uid' is invalid formatted.")
            expires = settings.get("expiresAfter", 0)
            if not isinstance(expires, int) or isinstance(expires, bool) or expires < 0:
                raise _bad("Parameter 'expiresAfter' is invalid formatted.")
            key = secrets.token_urlsafe(18)
            self.keys[key] = {
                "streamKey": key,
                "channel": channel,
                "uid": uid,
                "expiresAfter": expires,
                "createdAt": str(int(time.time())),
                "region": region,
            }
            return 200, {"status": "success", "data": {k: v for k, v in self.keys[key].items() if k != "region"}}
        if len(parts) == 2 and parts[0] == "streamkeys" and method in ("GET", "DELETE"):
            key = self.keys.get(parts[1])
            if key is None or key["region"] != region:
                raise Refused(404, {"message": "Resource is not found and destroyed."})
            if method == "GET":
                return 200, {"status": "success", "data": {k: v for k, v in key.items() if k != "region"}}
            del self.keys[parts[1]]  # the running push, if any, goes on (Media Gateway's documentation)
            return 200, {"status": "success"}
        raise Refused(404, {"message": "No such Media Gateway route."})

    # channel management
    def _channels(self, method, parts, headers, body):
        if len(parts) == 5 and parts[:2] == ["channel", "user"] and parts[4] == "hosts_only" and method == "GET":
            if parts[2] != self.app_id:
                raise Refused(404, {"message": "No such project."})
            hosts = self.hosts.get(parts[3]) or set()
            if not hosts:
                return 200, {"success": True, "data": {"channel_exist": False}}
            return 200, {"success": True, "data": {"channel_exist": True, "mode": 2, "broadcasters": sorted(hosts)}}
        if parts == ["kicking-rule"] and method == "POST":
            rule = self._json(headers, body)
            if set(rule) - BAN_FIELDS or rule.get("appid") != self.app_id:
                raise _bad("Invalid rule.")
            uid = rule.get("uid")
            if uid is not None and (not isinstance(uid, int) or isinstance(uid, bool) or uid == 0):
                raise _bad("uid must be a non-zero number.")
            privileges = rule.get("privileges")
            if not privileges or set(privileges) - {"join_channel", "publish_audio", "publish_video"}:
                raise _bad("Invalid privileges.")
            if not (rule.get("cname") or uid or rule.get("ip")):
                raise _bad("A rule needs cname, uid or ip.")
            rule_id = len(self.bans) + 1
            self.bans.append({"id": rule_id, "cname": rule.get("cname"), "uid": uid})
            if "join_channel" in privileges:
                for channel, hosts in self.hosts.items():
                    if rule.get("cname") in (None, channel):
                        hosts.discard(uid)
            return 200, {"status": "success", "id": rule_id}
        raise Refused(404, {"message": "No such channel management route."})

    # Cloud Recording
    def _recording(self, method, parts, headers, body):
        if parts == ["acquire"] and method == "POST":
            data = self._json(headers, body)
            self._cname_uid(data)
            if not isinstance(data.get("clientRequest"), dict):
                raise _recording_bad("clientRequest is required.")
            resource_id = secrets.token_hex(24)
            self.resources[resource_id] = {"cname": data["cname"], "uid": data["uid"]}
            return 200, {"cname": data["cname"], "uid": data["uid"], "resourceId": resource_id}
        if len(parts) == 5 and parts[0] == "resourceid" and parts[2] == "mode" and parts[4] == "start":
            if method != "POST" or parts[3] not in ("individual", "mix", "web"):
                raise Refused(404, {"message": "No such route."})
            acquired = self.resources.pop(parts[1], None)
            data = self._json(headers, body)
            self._cname_uid(data)
            if acquired is None or acquired != {"cname": data["cname"], "uid": data["uid"]}:
                raise Refused(404, {"code": 404, "reason": "resourceId not acquired for this cname and uid"})
            self._start_request(data)
            sid = secrets.token_hex(16)
            self.recordings[sid] = {"resourceId": parts[1], "mode": parts[3], "running": True, **data}
            return 200, {"cname": data["cname"], "uid": data["uid"], "resourceId": parts[1], "sid": sid}
        if len(parts) == 7 and parts[0] == "resourceid" and parts[2] == "sid" and parts[4] == "mode":
            recording = self.recordings.get(parts[3])
            if recording is None or not recording["running"] or recording["resourceId"] != parts[1]:
                raise Refused(404, {"code": 404, "reason": "failed to find worker"})
            prefix = "/".join(recording["clientRequest"]["storageConfig"].get("fileNamePrefix", []))
            playlist = f"{prefix}/{parts[3]}_{recording['cname']}.m3u8".lstrip("/")
            if parts[6] == "query" and method == "GET":
                server = {"status": 5, "fileListMode": "string", "fileList": playlist, "sliceStartTime": 0}
                return 200, {"resourceId": parts[1], "sid": parts[3], "serverResponse": server}
            if parts[6] == "stop" and method == "POST":
                data = self._json(headers, body)
                self._cname_uid(data)
                if (data["cname"], data["uid"]) != (recording["cname"], recording["uid"]):
                    raise _recording_bad("cname and uid must be the recording's.")
                recording["running"] = False
                self._upload(recording, playlist, parts[3])
                server = {"fileListMode": "string", "fileList": playlist, "uploadingStatus": "uploaded"}
                return 200, {"resourceId": parts[1], "sid": parts[3], "serverResponse": server}
        raise Refused(404, {"message": "No such Cloud Recording route."})

    def _cname_uid(self, data: dict) -> None:
        cname, uid = data.get("cname"), data.get("uid")
        if not isinstance(cname, str) or not CHANNEL_RE.match(cname):
            raise _recording_bad("cname is invalid.")
        if not isinstance(uid, str) or not uid.isdigit() or not 0 < int(uid) < 2**32:
            raise _recording_bad("uid must be a string of an integer from 1 to 2^32-1.")

    def _start_request(self, data: dict) -> None:
        request = data.get("clientRequest")
        if not isinstance(request, dict) or set(request) - START_FIELDS:
            raise _recording_bad("clientRequest has unknown fields.")
        token = token_read(request.get("token", ""), self.certificate)
        rtc = (token or {}).get("services", {}).get(1, {})
        if token is None or (rtc.get("channel"), rtc.get("uid")) != (data["cname"], data["uid"]):
            raise _recording_bad("The token is invalid for this channel and uid.")
        config = request.get("recordingConfig") or {}
        if config.get("channelType") not in (0, 1) or config.get("streamTypes", 2) not in (0, 1, 2):
            raise _recording_bad("recordingConfig is invalid.")
        storage = request.get("storageConfig")
        if not isinstance(storage, dict) or set(storage) - STORAGE_FIELDS:
            raise _recording_bad("storageConfig is invalid.")
        if storage.get("vendor") != 1 or storage.get("region") not in S3_REGION_NAMES:
            raise _recording_bad("storageConfig: this stand-in stores to Amazon S3 (vendor 1) regions it knows.")
        for field in ("bucket", "accessKey", "secretKey"):
            if not isinstance(storage.get(field), str) or not storage[field]:
                raise _recording_bad(f"storageConfig.{field} is required.")
        for part in storage.get("fileNamePrefix", []):
            if not re.fullmatch(r"[a-zA-Z0-9]+", part):
                raise _recording_bad("fileNamePrefix allows letters and digits only.")

    def _upload(self, recording: dict, playlist: str, sid: str) -> None:
        """Upload the composite recording's HLS to the storageConfig's bucket with its keys."""
        storage = recording["clientRequest"]["storageConfig"]
        s3 = boto3.client(
            "s3",
            region_name=S3_REGION_NAMES[storage["region"]],
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=storage["accessKey"],
            aws_secret_access_key=storage["secretKey"],
        )
        segment = playlist.rsplit("/", 1)[0] + f"/{sid}_{recording['cname']}_20261201070000000.ts"
        text = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{segment.rsplit('/', 1)[1]}\n#EXT-X-ENDLIST\n"
        s3.put_object(Bucket=storage["bucket"], Key=playlist, Body=text.encode())
        s3.put_object(Bucket=storage["bucket"], Key=segment, Body=b"agora-segment")
