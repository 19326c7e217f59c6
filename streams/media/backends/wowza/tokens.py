"""Wowza CDN on Fastly token authentication: `hdnts=exp=<unix time>~hmac=<hex>`, the HMAC-SHA256 with the
live stream's token_auth_shared_secret of "exp=<unix time>~stream_id=<stream target id>", as Wowza's
published token generators make it (https://github.com/WowzaMediaSystems/wsc-fastly-token-auth-examples,
https://www.wowza.com/docs/protect-a-wowza-cdn-on-fastly-stream-target-with-token-authentication-in-wowza-video)."""

import hashlib
import hmac


def fastly_token(*, secret: str, stream_id: str, end_time: int, start_time: int | None = None) -> str:
    token = (f"st={start_time}~" if start_time is not None else "") + f"exp={end_time}"
    digest = hmac.new(secret.encode(), f"{token}~stream_id={stream_id}".encode(), hashlib.sha256).hexdigest()
    return f"hdnts={token}~hmac={digest}"
