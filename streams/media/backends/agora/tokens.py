"""AccessToken2 ("007") RTC tokens, built by agoraiotools, Agora's own Python token builder (published from
github.com/AgoraIO/Tools, DynamicKey/AgoraDynamicKey/python3): "007" + base64(zlib(signature + the
signing info: app id, issue time, expiry, salt, the RTC service with its channel, uid and privileges)),
signed with an HMAC-SHA256 chain over the issue time and the salt keyed by the App Certificate.
test_agora.py checks them with Agora's npm package agora-token."""

import time
from datetime import datetime

from agoraiotools.RtcTokenBuilder2 import Role_Subscriber, RtcTokenBuilder
from django.conf import settings


class TokenError(ValueError):
    pass


def rtc_token(*, channel: str, uid: int, expires_at: datetime, role: int = Role_Subscriber) -> str:
    """A token to join `channel` as `uid` (0: any uid) until expires_at; a subscriber's joins and
    subscribes only (with co-host authentication on, Agora refuses its publishing)."""
    seconds = max(1, int(expires_at.timestamp() - time.time()))
    token = RtcTokenBuilder.build_token_with_uid(
        settings.AGORA_APP_ID, settings.AGORA_APP_CERTIFICATE, channel, uid, role, seconds, seconds
    )
    if not token:  # the builder answers "" for an App ID or certificate that is not 32 hex characters
        raise TokenError("AGORA_APP_ID and AGORA_APP_CERTIFICATE must be 32 hexadecimal characters.")
    return token
