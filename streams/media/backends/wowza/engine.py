"""The Wowza Streaming Engine backend (its REST API on port 8087: https://developer.wowza.com/docs/wowza-engine/).

WOWZA_API_URL is Engine's REST endpoint down to the virtual host
(http://host:8087/v2/servers/_defaultServer_/vhosts/_defaultVHost_); WOWZA_API_USER and WOWZA_API_KEY are an
Engine administrator's user name and password, sent as Engine asks (Basic, its default since 4.8.5.05, or
Digest).

A stream is the stream name `livestage-<stream id>` in the live application WOWZA_ENGINE_APPLICATION, with
its own publishing account (a "live stream source", `/v3/servers/{server}/publishers`) that the encoder's RTMP
publish must present: Engine's live applications require publish authentication. Engine keeps no stream
object to create: the account is the stream's resource. The encoder publishes to
WOWZA_ENGINE_INGEST_URL/<application> with the stream name as the key; viewers play
WOWZA_ENGINE_PLAYBACK_URL/<application>/<stream name>/playlist.m3u8, signed with SecureToken version 2 when
WOWZA_ENGINE_SECURE_TOKEN_SECRET is set (SecureToken is the application's setting: then every URL needs a
token; pay-per-view streams need it). Engine calls the platform back with nothing, so the poll asks it: the
incoming stream (connected or not, its monitoring for health), and for recorded streams it starts a stream
recorder once the encoder is in (one MP4 per stream in the application's content folder; a reconnect appends
to it). Replays are served by the VOD application WOWZA_ENGINE_VOD_APPLICATION (whose content folder is the
recorder's: Engine's default), signed the same way.
"""

import logging
import re
import secrets
import urllib.request
from datetime import datetime
from urllib.parse import urlsplit

from django.conf import settings

from .. import MediaEvent, MediaProviderError
from . import client
from .base import WowzaPolledBackend
from .client import WowzaNotFound
from .tokens import secure_token_query

logger = logging.getLogger(__name__)

NAME_PREFIX = "livestage-"
INSTANCE = "_definst_"
RECORDING_PREFIX = "wowza_engine/"
ENGINE_URL_RE = re.compile(r"^https?://[^/]+/v2/servers/[^/]+/vhosts/[^/]+/?$")
APPLICATION_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
PPV_NEEDS = (
    "Pay-per-view streams on Wowza Streaming Engine need SecureToken: set WOWZA_ENGINE_SECURE_TOKEN_SECRET "
    "(and enable SecureToken version 2, SHA-256, on the live and VOD applications)."
)


def is_engine_url(url: str) -> bool:
    """Whether WOWZA_API_URL names a Wowza Streaming Engine REST endpoint rather than Wowza Video's API."""
    return "/v2/servers/" in url


def _open(req, timeout):
    # A new opener for each request: urllib's Digest handler counts its tries on the handler.
    root = "{0.scheme}://{0.netloc}/".format(urlsplit(req.full_url))
    passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    passwords.add_password(None, root, settings.WOWZA_API_USER, settings.WOWZA_API_KEY)
    opener = urllib.request.build_opener(
        urllib.request.HTTPDigestAuthHandler(passwords), urllib.request.HTTPBasicAuthHandler(passwords)
    )
    return opener.open(req, timeout=timeout)


def _request(method: str, path: str, body: dict | None = None, *, server_wide: bool = False) -> dict:
    base_url = ""
    if server_wide:  # /v3/servers/{server}: the publishing accounts are the server's, not the virtual host's
        base_url = settings.WOWZA_API_URL.split("/vhosts/", 1)[0].replace("/v2/servers/", "/v3/servers/", 1)
    return client.request(method, path, body, base_url=base_url, opener=_open)


class WowzaEngineBackend(WowzaPolledBackend):
    name = "wowza_engine"

    @classmethod
    def configuration_errors(cls) -> list[str]:
        errors = []
        if not ENGINE_URL_RE.match(settings.WOWZA_API_URL):
            errors.append(
                "WOWZA_API_URL names a Wowza Streaming Engine REST endpoint but not down to its virtual host: use "
                "http://<host>:8087/v2/servers/<server>/vhosts/<vhost> "
                "(e.g. .../v2/servers/_defaultServer_/vhosts/_defaultVHost_)."
            )
        for variable, what in (
            ("WOWZA_API_USER", "an administrator of Wowza Streaming Engine (its REST API's user name)"),
            ("WOWZA_API_KEY", "that administrator's password for Wowza Streaming Engine's REST API"),
        ):
            if not getattr(settings, variable):
                errors.append(f"{variable} ({what}) must be set for STREAMING_BACKEND=wowza with Streaming Engine.")
        if not settings.WOWZA_ENGINE_INGEST_URL.startswith(("rtmp://", "rtmps://")):
            errors.append(
                "WOWZA_ENGINE_INGEST_URL must be where encoders reach Wowza Streaming Engine, "
                "e.g. rtmp://engine.example.com:1935."
            )
        if not settings.WOWZA_ENGINE_PLAYBACK_URL.startswith(("https://", "http://")):
            errors.append(
                "WOWZA_ENGINE_PLAYBACK_URL must be where viewers reach Wowza Streaming Engine's HLS, "
                "e.g. https://engine.example.com or http://engine.example.com:1935."
            )
        for variable in (
            "WOWZA_ENGINE_APPLICATION",
            "WOWZA_ENGINE_VOD_APPLICATION",
            "WOWZA_ENGINE_SECURE_TOKEN_PREFIX",
        ):
            if not APPLICATION_RE.match(getattr(settings, variable)):
                errors.append(f"{variable} must be a Wowza Streaming Engine name (letters, digits, _ . -).")
        return errors

    def stream_errors(self, *, stream) -> dict[str, list[str]]:
        if stream.is_pay_per_view and not settings.WOWZA_ENGINE_SECURE_TOKEN_SECRET:
            return {"is_pay_per_view": [PPV_NEEDS]}
        return {}

    # --- provisioning -----------------------------------------------------------------------
    def stream_provision(self, *, stream, resource: dict) -> dict:
        if resource.get("password"):
            # Nothing on Engine follows the stream's fields: pay-per-view is the platform's signing, recording
            # starts with the publish.
            return resource
        application = settings.WOWZA_ENGINE_APPLICATION
        try:
            _request("GET", f"/applications/{application}")
        except WowzaNotFound as exc:
            raise MediaProviderError(
                f"Wowza Streaming Engine has no application {application!r} (WOWZA_ENGINE_APPLICATION)."
            ) from exc
        name = f"{NAME_PREFIX}{stream.id}"
        password = self._publisher_set(name)
        return {"id": name, "application": application, "streamName": name, "username": name, "password": password}

    @staticmethod
    def _publisher_set(name: str) -> str:
        """Give the stream's publishing account a new password, creating the account if it is missing (a retry
        after a create whose answer was lost finds it). Returns the password."""
        password = secrets.token_urlsafe(18)
        body = {"publisher": name, "password": password, "serverName": "", "description": "Livestage", "version": "3"}
        try:
            _request("PUT", f"/publishers/{name}", body, server_wide=True)
        except WowzaNotFound:
            _request("POST", "/publishers", body, server_wide=True)
        return password

    def stream_deprovision(self, *, resource: dict) -> None:
        if not resource.get("application"):
            # Nothing made, or a Wowza Video live stream (the operator switched flavours: `wowza` now names
            # Engine, and Video's API is no longer configured): delete it in Wowza Video's console.
            return
        self._disconnect(resource)
        try:
            _request("DELETE", f"/publishers/{resource['username']}", server_wide=True)
        except WowzaNotFound:
            pass

    def stream_key_rotate(self, *, stream, resource: dict) -> dict:
        # The stream name is in every playback URL: the account's password is the secret a leaked key exposes.
        return {**resource, "password": self._publisher_set(resource["username"])}

    # --- ingest and state -------------------------------------------------------------------
    @staticmethod
    def _instance_path(resource: dict) -> str:
        return f"/applications/{resource['application']}/instances/{INSTANCE}"

    def ingest_info(self, *, stream) -> dict:
        resource = stream.media_resource
        return {
            "url": f"{settings.WOWZA_ENGINE_INGEST_URL.rstrip('/')}/{resource['application']}",
            "streamKey": resource["streamName"],
            # OBS: Settings > Stream > "Use authentication"
            "username": resource["username"],
            "password": resource["password"],
        }

    def _incoming(self, resource: dict, what: str = "") -> dict | None:
        path = f"{self._instance_path(resource)}/incomingstreams/{resource['streamName']}{what}"
        try:
            return _request("GET", path)
        except WowzaNotFound:
            return None

    def is_publishing(self, *, stream) -> bool | None:
        if not stream.media_resource.get("id"):
            return None
        try:
            incoming = self._incoming(stream.media_resource)
        except MediaProviderError as exc:
            logger.warning("Wowza Streaming Engine: state of %s unreadable: %s", stream.id, exc)
            return None
        return bool(incoming and incoming.get("isConnected"))

    def _disconnect(self, resource: dict) -> None:
        path = f"{self._instance_path(resource)}/incomingstreams/{resource['streamName']}/actions/disconnectStream"
        try:
            _request("PUT", path)
        except WowzaNotFound:
            pass  # nothing publishes

    def publisher_drop(self, *, stream) -> None:
        # Engine authenticates a publish when it starts: the account goes first, so that the encoder's
        # reconnects are refused, then the running publish is cut.
        resource = stream.media_resource
        if not resource.get("id"):
            return
        try:
            try:
                _request("DELETE", f"/publishers/{resource['username']}", server_wide=True)
            except WowzaNotFound:
                pass
            self._disconnect(resource)
        except MediaProviderError as exc:
            logger.warning("Wowza Streaming Engine: dropping the encoder of %s failed: %s", stream.id, exc)

    def health(self, *, stream) -> dict:
        resource = stream.media_resource
        try:
            incoming = self._incoming(resource) if resource.get("id") else None
            connected = bool(incoming and incoming.get("isConnected"))
            current = self._incoming(resource, "/monitoring/current") if connected else None
        except MediaProviderError as exc:
            logger.warning("Wowza Streaming Engine: health of %s unreadable: %s", stream.id, exc)
            return {"mediaServerReachable": False, "publishing": False, "ingest": None}
        if not current:
            return {"mediaServerReachable": True, "publishing": False, "ingest": None}
        rate = current.get("bytesInRate")  # bytes a second
        data = {
            "bitrateKbps": round(rate * 8 / 1000) if isinstance(rate, int | float) else None,
            # Engine's incoming stream statistics say nothing of the picture or the codecs.
            "fps": None,
            "width": None,
            "height": None,
            "resolution": None,
            "videoCodec": None,
            "audioCodec": None,
            "keyframeIntervalSeconds": None,
            "warnings": [],
        }
        return {"mediaServerReachable": True, "publishing": True, "ingest": data}

    # --- the poll and the recorder ----------------------------------------------------------
    def _recorder_path(self, resource: dict) -> str:
        return f"{self._instance_path(resource)}/streamrecorders/{resource['streamName']}"

    @staticmethod
    def _recording_file(resource: dict) -> str:
        return f"{resource['streamName']}.mp4"

    def _recorder(self, resource: dict) -> dict | None:
        try:
            return _request("GET", self._recorder_path(resource))
        except WowzaNotFound:
            return None  # none runs: a recorder ends with the publish, or when told to stop

    def _recorder_start(self, resource: dict) -> None:
        if self._recorder(resource) is not None:
            return
        body = {
            "recorderName": resource["streamName"],
            "instanceName": INSTANCE,
            "applicationName": resource["application"],
            "fileFormat": "MP4",
            "segmentationType": "None",
            "outputPath": "",  # the application's content folder
            "baseFile": self._recording_file(resource),
            # One file per stream: an encoder that reconnects adds to it.
            "option": "Append to existing file",
            "startOnKeyFrame": True,
            "recordData": True,
            "moveFirstVideoFrameToZero": True,
            "defaultRecorder": False,
            "splitOnTcDiscontinuity": False,
        }
        _request("POST", self._recorder_path(resource), body)

    def stream_poll(self, *, stream) -> list[MediaEvent]:
        """What Engine says about the stream now: the encoder connecting and leaving (and a recorder started for
        a recorded stream once it is in), and, after the end, the finished recording."""
        resource = stream.media_resource
        events: list[MediaEvent] = []
        if self.publishing_open(stream):
            events += self.publish_events(stream=stream, resource_id=resource["id"])
            if stream.is_recording_enabled and any(e.kind == "publish_started" for e in events):
                try:
                    self._recorder_start(resource)
                except MediaProviderError as exc:  # the stream still goes live; the next poll tries again
                    logger.warning("Wowza Streaming Engine: the recorder of %s did not start: %s", stream.id, exc)
        if stream.is_recording_enabled and stream.status == "ended":
            recorder = self._recorder(resource)
            if recorder is None:
                # Engine reports nothing of a finished recording (not even its length): its file is complete
                # once the recorder is gone.
                events.append(
                    self.recording_event(
                        recording_id=resource["id"],
                        resource_id=resource["id"],
                        name=f"{RECORDING_PREFIX}{self._recording_file(resource)}",
                    )
                )
            elif recorder.get("recorderErrorString"):
                events.append(
                    self.recording_event(recording_id=resource["id"], resource_id=resource["id"], failed=True)
                )
            else:  # it outlived the publish (the drop failed): stop it, the next poll finds the file
                _request("PUT", f"{self._recorder_path(resource)}/actions/stopRecording")
        return events

    # --- playback and recordings ----------------------------------------------------------------
    @staticmethod
    def _signed(content_path: str, expires_at: datetime) -> str:
        url = f"{settings.WOWZA_ENGINE_PLAYBACK_URL.rstrip('/')}/{content_path}/playlist.m3u8"
        secret = settings.WOWZA_ENGINE_SECURE_TOKEN_SECRET
        if not secret:
            return url
        query = secure_token_query(
            secret=secret,
            content_path=content_path,
            prefix=settings.WOWZA_ENGINE_SECURE_TOKEN_PREFIX,
            # No start time: the URL is handed out after the access check, and a clock behind the platform's
            # would refuse it for a while.
            params={"endtime": int(expires_at.timestamp())},
        )
        return f"{url}?{query}"

    def playback_url(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> str:
        resource = stream.media_resource
        return self._signed(f"{resource['application']}/{resource['streamName']}", expires_at)

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        if not name.startswith(RECORDING_PREFIX):
            raise FileNotFoundError(name)
        file = name.removeprefix(RECORDING_PREFIX)
        return self._signed(f"{settings.WOWZA_ENGINE_VOD_APPLICATION}/mp4:{file}", expires_at)
