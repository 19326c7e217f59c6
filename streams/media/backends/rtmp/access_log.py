"""nginx's JSON access log of live HLS requests (`hls_json` in nginx.conf.template), read from where the
last read stopped: a cursor of {inode, offset, head}, safe across logrotate's rename (the rest of the old
file is read from "<log>.1") and copytruncate (a file that is shorter, or starts differently, is read
from its start)."""

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from .. import HlsRequest

logger = logging.getLogger(__name__)

LOG_NAME = "hls-access.log"
# One read takes at most this much of the log; the rest waits for the next run.
MAX_READ_BYTES = 16 * 1024 * 1024
# The cursor remembers a hash of the file's first bytes already read (they never change): a truncated
# file refilled past the old offset starts with other lines.
HEAD_BYTES = 256


def access_log_path() -> Path:
    return Path(settings.RUN_DIR) / "logs" / LOG_NAME


def parse_line(line: bytes) -> HlsRequest | None:
    """One log line as nginx writes it; None for a line that is not a viewer's live HLS request."""
    try:
        entry = json.loads(line)
        parts = entry["uri"].split("/")  # "", "hls", token, expires, stream id, rendition, file
        if len(parts) != 7 or parts[1] != "hls":
            return None
        return HlsRequest(
            time=datetime.fromtimestamp(float(entry["time"]), tz=UTC),
            client=str(entry.get("remote_addr", "")),
            user_agent=str(entry.get("user_agent", ""))[:512],
            stream_id=parts[4],
            rendition=parts[5],
            file=parts[6],
            status=int(entry["status"]),
            bytes=int(entry.get("bytes") or 0),
            cmcd=str(entry.get("cmcd", "")),
        )
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError):
        logger.warning("hls access log: unreadable line %r", line[:200])
        return None


def _read(path: Path, offset: int, budget: int) -> tuple[list[HlsRequest], int]:
    """Whole lines of `path` from `offset`, up to `budget` bytes; the offset after the last whole line."""
    with path.open("rb") as handle:
        handle.seek(offset)
        chunk = handle.read(budget)
    end = chunk.rfind(b"\n") + 1  # a line nginx is still writing waits for the next read
    requests = [request for line in chunk[:end].splitlines() if line.strip() and (request := parse_line(line))]
    return requests, offset + end


def _head(path: Path, offset: int) -> str:
    with path.open("rb") as handle:
        return hashlib.sha256(handle.read(min(offset, HEAD_BYTES))).hexdigest()[:16]


def requests_read(*, cursor: dict | None, path: Path | None = None) -> tuple[list[HlsRequest], dict | None]:
    """The requests logged after `cursor`, and the cursor after them."""
    path = path or access_log_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return [], cursor
    requests: list[HlsRequest] = []
    budget = MAX_READ_BYTES
    offset = 0
    if cursor and cursor.get("inode") == stat.st_ino:
        same = cursor["offset"] <= stat.st_size and cursor.get("head") == _head(path, cursor["offset"])
        offset = cursor["offset"] if same else 0  # truncated: start again
    elif cursor:
        # Rotated: finish the old file first, if logrotate left it beside the new one.
        rotated = path.with_name(path.name + ".1")
        try:
            if rotated.stat().st_ino == cursor.get("inode"):
                requests, end = _read(rotated, cursor["offset"], budget)
                if end < rotated.stat().st_size:  # the budget ran out inside the old file
                    return requests, {"inode": cursor["inode"], "offset": end}
                budget -= end - cursor["offset"]
        except FileNotFoundError:
            pass
    more, offset = _read(path, offset, max(budget, 0))
    return requests + more, {"inode": stat.st_ino, "offset": offset, "head": _head(path, offset)}
