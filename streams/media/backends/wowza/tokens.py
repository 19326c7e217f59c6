"""Wowza's playback tokens.

- Wowza Video (CDN on Fastly) token authentication: `hdnts=exp=<unix time>~hmac=<hex>`, the HMAC-SHA256 with
  the live stream's token_auth_shared_secret of "exp=<unix time>~stream_id=<stream target id>", as Wowza's
  published token generators make it (https://github.com/WowzaMediaSystems/wsc-fastly-token-auth-examples,
  https://www.wowza.com/docs/protect-a-wowza-cdn-on-fastly-stream-target-with-token-authentication-in-wowza-video).
- Wowza Streaming Engine SecureToken version 2 (https://www.wowza.com/docs/how-to-protect-streaming-using-securetoken-in-wowza-streaming-engine,
  "Hash generation"): `<prefix>hash` is the URL-safe base64 of the SHA-256 of "<content path>?<the public
  <prefix> parameters, the shared secret and the client address if Engine includes it, sorted alphabetically,
  joined by &>".
"""

import base64
import hashlib
import hmac


def fastly_token(*, secret: str, stream_id: str, end_time: int, start_time: int | None = None) -> str:
    token = (f"st={start_time}~" if start_time is not None else "") + f"exp={end_time}"
    digest = hmac.new(secret.encode(), f"{token}~stream_id={stream_id}".encode(), hashlib.sha256).hexdigest()
    return f"hdnts={token}~hmac={digest}"


def secure_token_query(
    *, secret: str, content_path: str, prefix: str, params: dict[str, object], client_ip: str = ""
) -> str:
    """The query string of a SecureToken v2 URL (SHA-256): the public parameters (`params`, named without the
    prefix: {"endtime": <unix time>}) and their hash. `content_path`: "<application>/<stream>" as the URL names
    it ("live/myStream" for .../live/myStream/playlist.m3u8)."""
    public = sorted(f"{prefix}{key}={value}" for key, value in params.items())
    hashed = sorted([*public, secret, *([client_ip] if client_ip else [])])
    digest = hashlib.sha256(f"{content_path}?{'&'.join(hashed)}".encode()).digest()
    return "&".join([*public, f"{prefix}hash={base64.urlsafe_b64encode(digest).decode()}"])
