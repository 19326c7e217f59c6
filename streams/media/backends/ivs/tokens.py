"""IVS playback authorization tokens: a JWT signed ES384 with the private key of the playback key pair
imported into IVS (IVS_PLAYBACK_KEY_PAIR_ARN), with the claims IVS reads: aws:channel-arn, exp, and
aws:viewer-id (the viewer it was handed to; IVS can revoke a viewer's sessions by it)."""

from datetime import datetime
from functools import cache
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from django.conf import settings


class PlaybackKeyError(ValueError):
    pass


@cache
def _load(value: str) -> ec.EllipticCurvePrivateKey:
    text = value if value.lstrip().startswith("-----BEGIN") else Path(value).read_text()
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except ValueError as exc:
        raise PlaybackKeyError("not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp384r1":
        raise PlaybackKeyError("not an EC P-384 key (IVS playback keys are ECDSA P-384)")
    return key


def playback_private_key() -> ec.EllipticCurvePrivateKey:
    """IVS_PLAYBACK_PRIVATE_KEY (PEM text or a file's path); PlaybackKeyError/OSError when unusable."""
    return _load(settings.IVS_PLAYBACK_PRIVATE_KEY)


def playback_token_make(*, channel_arn: str, expires_at: datetime, viewer_id: int | None) -> str:
    claims = {
        "aws:channel-arn": channel_arn,
        "aws:access-control-allow-origin": "*",
        "exp": int(expires_at.timestamp()),
    }
    if viewer_id is not None:
        claims["aws:viewer-id"] = str(viewer_id)
    return jwt.encode(claims, playback_private_key(), algorithm="ES384")
