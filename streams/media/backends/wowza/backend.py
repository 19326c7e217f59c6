"""The Wowza Video backend (REST API v2.0: https://developer.wowza.com/docs/wowza-video/api/video/current/).

A stream is a Wowza live stream named `livestage-<stream id>` (encoder other_rtmp, push, transcoded,
`recording` for recorded streams, `low_latency` from HLS_LOW_LATENCY, token authentication for
pay-per-view). A Wowza live stream takes an encoder only while started, and bills while started: the poll
starts it when publishing opens (STREAM_PUBLISH_OPENS_SECONDS before the scheduled start) and the end
stops it.
"""

import logging
import secrets
from datetime import datetime

from django.conf import settings

from .. import MediaEvent, MediaProviderError
from . import client
from .base import WowzaPolledBackend
from .client import WowzaNotFound
from .tokens import fastly_token

logger = logging.getLogger(__name__)

NAME_PREFIX = "livestage-"
HEX_RE_CHARS = set("0123456789abcdefABCDEF")
PPV_NEEDS = "Pay-per-view streams on Wowza need token authentication: set WOWZA_TOKEN_AUTH_SECRET."


def _resolution(stream) -> tuple[int, int]:
    width, _, height = str(stream.stream_settings.get("resolution") or "1280x720").partition("x")
    return int(width), int(height)


class WowzaBackend(WowzaPolledBackend):
    name = "wowza"

    @classmethod
    def configuration_errors(cls) -> list[str]:
        errors = []
        if not settings.WOWZA_API_KEY:
            errors.append("WOWZA_API_KEY (a Wowza Video access token, a JWT) must be set for STREAMING_BACKEND=wowza.")
        elif settings.WOWZA_API_KEY.count(".") != 2:
            errors.append(
                "WOWZA_API_KEY is not a JWT (Wowza Video's access tokens are; legacy API keys are not supported)."
            )
        url = settings.WOWZA_API_URL
        if not url.startswith(("https://", "http://")) or "/api/v" not in url:
            errors.append(
                "WOWZA_API_URL must be the Wowza Video API's base URL, e.g. https://api.video.wowza.com/api/v2.0, "
                "or a Wowza Streaming Engine REST endpoint, e.g. "
                "http://engine.example.com:8087/v2/servers/_defaultServer_/vhosts/_defaultVHost_."
            )
        secret = settings.WOWZA_TOKEN_AUTH_SECRET
        if secret and (len(secret) > 32 or len(secret) % 2 or not set(secret) <= HEX_RE_CHARS):
            errors.append("WOWZA_TOKEN_AUTH_SECRET must be hexadecimal, an even number of characters, at most 32.")
        return errors

    def stream_errors(self, *, stream) -> dict[str, list[str]]:
        if stream.is_pay_per_view and not settings.WOWZA_TOKEN_AUTH_SECRET:
            return {"is_pay_per_view": [PPV_NEEDS]}
        return {}

    # --- provisioning -----------------------------------------------------------------------
    def _wanted(self, stream) -> dict:
        ppv = bool(stream.is_pay_per_view)
        security = {"token_auth_enabled": ppv}
        if ppv:
            security["token_auth_shared_secret"] = settings.WOWZA_TOKEN_AUTH_SECRET
        return {"recording": bool(stream.is_recording_enabled), "security": security}

    def stream_provision(self, *, stream, resource: dict) -> dict:
        name = f"{NAME_PREFIX}{stream.id}"
        live_id = resource.get("id") or self._live_stream_by_name(name)
        wanted = self._wanted(stream)
        if live_id is None:
            width, height = _resolution(stream)
            body = {
                "live_stream": {
                    "name": name,
                    "broadcast_location": settings.WOWZA_BROADCAST_LOCATION,
                    "encoder": "other_rtmp",
                    "transcoder_type": "transcoded",
                    "billing_mode": "pay_as_you_go",
                    "delivery_method": "push",
                    "aspect_ratio_width": width,
                    "aspect_ratio_height": height,
                    "low_latency": bool(settings.HLS_LOW_LATENCY),
                    "reference_id": str(stream.id),
                    **wanted,
                }
            }
            live = client.request("POST", "/live_streams", body)["live_stream"]
        else:
            live = client.request("GET", f"/live_streams/{live_id}")["live_stream"]
            current = {
                "recording": bool(live.get("recording")),
                "security": {"token_auth_enabled": bool((live.get("security") or {}).get("token_auth_enabled"))},
            }
            if (
                current["recording"] != wanted["recording"]
                or current["security"]["token_auth_enabled"] != wanted["security"]["token_auth_enabled"]
            ):
                live = client.request("PATCH", f"/live_streams/{live_id}", {"live_stream": wanted})["live_stream"]
        return self._resource(live, token_auth=wanted["security"]["token_auth_enabled"])

    def _live_stream_by_name(self, name: str) -> str | None:
        found = client.request("GET", "/live_streams", query={"per_page": 1000})["live_streams"]
        exact = [item["id"] for item in found if item.get("name") == name]
        return exact[0] if exact else None

    @staticmethod
    def _resource(live: dict, *, token_auth: bool) -> dict:
        source = live["source_connection_information"]
        targets = live.get("stream_targets") or []
        return {
            "id": live["id"],
            "primaryServer": source["primary_server"],
            "streamName": source["stream_name"],
            "username": source.get("username", ""),
            "password": source.get("password", ""),
            "hlsPlaybackUrl": live.get("hls_playback_url") or (live.get("player") or {}).get("hls_playback_url"),
            "streamTargetId": targets[0]["id"] if targets else "",
            "tokenAuth": token_auth,
        }

    def stream_deprovision(self, *, resource: dict) -> None:
        if not resource.get("id"):
            return
        try:
            # A live stream the poll started (its publishing window was open) is stopped first.
            if client.request("GET", f"/live_streams/{resource['id']}/state")["live_stream"]["state"] != "stopped":
                client.request("PUT", f"/live_streams/{resource['id']}/stop")
            client.request("DELETE", f"/live_streams/{resource['id']}")
        except WowzaNotFound:
            pass

    def stream_key_rotate(self, *, stream, resource: dict) -> dict:
        # Wowza keeps a live stream's stream name; its RTMP credentials are what a leaked key exposes.
        username, password = f"ls{secrets.token_hex(6)}", secrets.token_urlsafe(18)
        body = {"live_stream": {"disable_authentication": False, "username": username, "password": password}}
        live = client.request("PATCH", f"/live_streams/{resource['id']}", body)["live_stream"]
        return self._resource(live, token_auth=resource.get("tokenAuth", False))

    # --- ingest and state -------------------------------------------------------------------
    def ingest_info(self, *, stream) -> dict:
        resource = stream.media_resource
        info = {"url": resource["primaryServer"], "streamKey": resource["streamName"]}
        if resource.get("username"):  # OBS: Settings > Stream > "Use authentication"
            info.update(username=resource["username"], password=resource["password"])
        return info

    def _ingest(self, stream) -> dict | None:
        try:
            return client.request("GET", f"/analytics/ingest/live_streams/{stream.media_resource['id']}")["live_stream"]
        except WowzaNotFound:
            return None

    @staticmethod
    def _value(ingest: dict, key: str):
        item = ingest.get(key)
        return item.get("value") if isinstance(item, dict) else None

    def is_publishing(self, *, stream) -> bool | None:
        if not stream.media_resource.get("id"):
            return None
        try:
            ingest = self._ingest(stream)
        except MediaProviderError as exc:
            logger.warning("Wowza state of %s unreadable: %s", stream.id, exc)
            return None
        return bool(ingest) and self._value(ingest, "connected") == "Yes"

    def publisher_drop(self, *, stream) -> None:
        # A stopped Wowza live stream takes no encoder: the encoder's reconnects are refused too.
        if not stream.media_resource.get("id"):
            return
        try:
            client.request("PUT", f"/live_streams/{stream.media_resource['id']}/stop")
        except MediaProviderError as exc:
            logger.warning("Wowza: stopping the live stream of %s failed: %s", stream.id, exc)

    def health(self, *, stream) -> dict:
        try:
            ingest = self._ingest(stream) if stream.media_resource.get("id") else None
        except MediaProviderError as exc:
            logger.warning("Wowza health of %s unreadable: %s", stream.id, exc)
            return {"mediaServerReachable": False, "publishing": False, "ingest": None}
        if not ingest or self._value(ingest, "connected") != "Yes":
            return {"mediaServerReachable": True, "publishing": False, "ingest": None}
        width, height = self._value(ingest, "width"), self._value(ingest, "height")
        bits = self._value(ingest, "bits_in_rate")
        data = {
            "bitrateKbps": round(bits) if isinstance(bits, int | float) else None,
            "fps": self._value(ingest, "frame_rate"),
            "width": width,
            "height": height,
            "resolution": f"{width}x{height}" if width and height else None,
            "videoCodec": self._value(ingest, "video_codec"),
            "audioCodec": self._value(ingest, "audio_codec"),
            "keyframeIntervalSeconds": None,
            # Wowza's own verdicts (normal, warning) per measure.
            "warnings": sorted(k for k, v in ingest.items() if isinstance(v, dict) and v.get("status") == "warning"),
        }
        return {"mediaServerReachable": True, "publishing": True, "ingest": data}

    def stream_poll(self, *, stream) -> list[MediaEvent]:
        """What Wowza says about the stream now: start its live stream when publishing opens, report the
        encoder connecting and leaving, and the recordings it finished."""
        live_id = stream.media_resource["id"]
        events: list[MediaEvent] = []
        if self.publishing_open(stream):
            state = client.request("GET", f"/live_streams/{live_id}/state")["live_stream"]["state"]
            if state == "stopped":
                client.request("PUT", f"/live_streams/{live_id}/start")
            events += self.publish_events(stream=stream, resource_id=live_id)
        if stream.is_recording_enabled and stream.status != "scheduled":
            filters = {"filter[0][field]": "transcoder_id", "filter[0][eq]": live_id}
            for item in client.request("GET", "/recordings", query=filters).get("recordings", []):
                if item.get("state") == "completed":
                    detail = client.request("GET", f"/recordings/{item['id']}")["recording"]
                    events.append(
                        self.recording_event(
                            recording_id=item["id"],
                            resource_id=live_id,
                            name=f"wowza/recordings/{item['id']}",
                            duration_seconds=detail.get("duration"),
                        )
                    )
                elif item.get("state") == "failed":
                    events.append(self.recording_event(recording_id=item["id"], resource_id=live_id, failed=True))
        return events

    # --- playback and recordings ----------------------------------------------------------------
    def playback_url(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> str:
        resource = stream.media_resource
        url = resource["hlsPlaybackUrl"]
        if not resource.get("tokenAuth"):
            return url
        token = fastly_token(
            secret=settings.WOWZA_TOKEN_AUTH_SECRET,
            stream_id=resource["streamTargetId"],
            end_time=int(expires_at.timestamp()),
        )
        return f"{url}?{token}"

    def playback(self, *, stream, expires_at: datetime, viewer_id: int | None = None) -> dict:
        data = super().playback(stream=stream, expires_at=expires_at, viewer_id=viewer_id)
        if stream.media_resource.get("tokenAuth"):
            # Fastly answers the tokenized playlist with a cookie that opens the segments: the player
            # must send it (hls.js: withCredentials).
            data["withCredentials"] = True
        return data

    def recording_url(self, *, name: str, expires_at: datetime) -> str:
        # Wowza's own (expiring) download URL of the recording.
        recording_id = name.rsplit("/", 1)[-1]
        if not name.startswith("wowza/recordings/"):
            raise FileNotFoundError(name)
        return client.request("GET", f"/recordings/{recording_id}")["recording"]["download_url"]
