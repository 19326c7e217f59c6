"""Replays a media system stores in an S3 bucket (IVS records to S3; Agora's Cloud Recording uploads to the
operator's bucket): presigned URLs for its files, its playlists served by the platform with every URI
signed (replays.py), and their content."""

from datetime import datetime
from functools import cache

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from . import MediaProviderError
from .replays import replay_playlist_path


@cache
def s3_client(*, region: str, endpoint: str = "", attempts: int = 4, access_key: str = "", secret_key: str = ""):
    """boto3's S3 client (standard retries with backoff); explicit keys, or the ones boto3 finds."""
    config = Config(retries={"mode": "standard", "max_attempts": attempts}, connect_timeout=5, read_timeout=15)
    keys = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key} if access_key else {}
    return boto3.client("s3", region_name=region, endpoint_url=endpoint or None, config=config, **keys)


def recording_url(client, *, bucket: str, name: str, expires_at: datetime) -> str:
    """A playlist: the platform's signed path (its URIs signed when served); any other file: presigned."""
    if name.endswith(".m3u8"):
        return replay_playlist_path(name=name, expires_at=expires_at)
    seconds = max(1, int(expires_at.timestamp() - datetime.now(expires_at.tzinfo).timestamp()))
    return client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": name}, ExpiresIn=seconds)


def recording_read(client, *, bucket: str, name: str) -> bytes:
    """The content of a stored file; FileNotFoundError when there is none, MediaProviderError otherwise."""
    try:
        return client.get_object(Bucket=bucket, Key=name)["Body"].read()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("NoSuchKey", "404"):
            raise FileNotFoundError(name) from exc
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        raise MediaProviderError(f"S3 GetObject {name}: {code}", retryable=status >= 500 or status == 429) from exc
    except BotoCoreError as exc:
        raise MediaProviderError(f"S3 GetObject {name}: {exc}", retryable=True) from exc
