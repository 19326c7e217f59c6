"""Per-viewer quality advice: from one viewer's playback reports, the highest rendition their player
should use (hls.js `autoLevelCapping`), and when the cap may be lifted again.

The rule (the thresholds below; the README documents them):
- **Rebuffering**: a report that covers at least MIN_WATCH_MS of watching, with rebuffer time above
  REBUFFER_RATIO_LIMIT (2%) of it, caps the viewer one rung below the rendition they were playing.
- **Bandwidth**: a bandwidth estimate below BANDWIDTH_HEADROOM (1.2) times the bitrate of the rendition
  being played (the player's `bitrateKbps`, else the ladder's) caps the viewer at the highest rendition
  below it whose bitrate x 1.2 fits the estimate (the lowest rung when none fits).
- While capped, a worse report only tightens the cap. A clean report (no rebuffering over the limit,
  and a bandwidth estimate that would carry the rung above the cap, when the player sends one) counts
  towards recovery; RECOVERY_REPORTS clean reports in a row lift the cap. A bad one starts the count again.

Only this module knows the rule; it reads no database and imports no app, so the WebSocket consumer
may call it on every report.
"""

from dataclasses import dataclass

from django.conf import settings

REBUFFER_RATIO_LIMIT = 0.02
MIN_WATCH_MS = 2_000
BANDWIDTH_HEADROOM = 1.2
RECOVERY_REPORTS = 3


@dataclass(frozen=True)
class Rung:
    """A rendition of the ladder as the advice needs it: its name, height and total bitrate."""

    name: str
    height: int
    kbps: int


def configured_ladder() -> list[Rung]:
    """The platform's ladder (settings.HLS_LADDER, "name:height:video kbps:audio kbps,..."), lowest first.

    The configured rungs, not the ones a stream produces now (a 720p source has no 1080p): the player
    caps at the highest level it has at or below the advised height, so a missing rung does no harm.
    """
    rungs = []
    for item in settings.HLS_LADDER.split(","):
        name, height, video, audio = (part.strip() for part in item.split(":"))
        rungs.append(Rung(name=name, height=int(height), kbps=int(video) + int(audio)))
    return sorted(rungs, key=lambda rung: rung.height)


def _rung_of(ladder: list[Rung], name: str | None) -> Rung | None:
    """The ladder's rung for a rendition name ("720p"), matched by name, else by height."""
    if not name:
        return None
    for rung in ladder:
        if rung.name == name:
            return rung
    digits = "".join(char for char in name if char.isdigit())
    height = int(digits) if digits else None
    return next((rung for rung in ladder if rung.height == height), None)


def _below(ladder: list[Rung], rung: Rung | None) -> Rung:
    """The rung under `rung` (the top one's when unknown); the lowest stays the lowest."""
    if rung is None:
        rung = ladder[-1]
    lower = [other for other in ladder if other.height < rung.height]
    return lower[-1] if lower else ladder[0]


def quality_advice(*, report: dict, renditions: list[Rung], current: dict | None) -> dict | None:
    """The advice in force after `report`, given the one in force before it (`current`).

    `report` holds a validated report's values, snake_case: `watch_ms`, `rebuffer_ms` (or the older
    `buffering_ms`), `bandwidth_kbps`, `bitrate_kbps`, `rendition` (or the older `quality`).
    Returns None (no cap) or {"maxRendition": name, "reason": "rebuffering" | "bandwidth",
    "cleanReports": n}.
    """
    ladder = sorted(renditions, key=lambda rung: rung.height)
    if not ladder:
        return current
    playing = _rung_of(ladder, report.get("rendition") or report.get("quality"))
    cap = _rung_of(ladder, current["maxRendition"]) if current else None
    bitrate = report.get("bitrate_kbps") or (playing.kbps if playing else None)
    bandwidth = report.get("bandwidth_kbps")
    watch_ms = report.get("watch_ms") or 0
    rebuffer_ms = report.get("rebuffer_ms", report.get("buffering_ms")) or 0

    rebuffering = watch_ms >= MIN_WATCH_MS and rebuffer_ms > REBUFFER_RATIO_LIMIT * watch_ms
    starved = bandwidth is not None and bool(bitrate) and bandwidth < BANDWIDTH_HEADROOM * bitrate
    if rebuffering or starved:
        targets = []
        if rebuffering:
            targets.append(_below(ladder, playing or cap))
        if starved:
            # The rung being played does not fit (by the player's own bitrate): look below it.
            lower = [rung for rung in ladder if playing is None or rung.height < playing.height]
            fitting = [rung for rung in lower if rung.kbps * BANDWIDTH_HEADROOM <= bandwidth]
            targets.append(fitting[-1] if fitting else ladder[0])
        if cap is not None:
            targets.append(cap)  # while conditions stay bad, the cap only tightens
        target = min(targets, key=lambda rung: rung.height)
        return {"maxRendition": target.name, "reason": "rebuffering" if rebuffering else "bandwidth", "cleanReports": 0}

    if current is None:
        return None
    above = [rung for rung in ladder if cap is not None and rung.height > cap.height]
    carries_next = not above or bandwidth is None or bandwidth >= BANDWIDTH_HEADROOM * above[0].kbps
    clean_reports = current.get("cleanReports", 0) + 1 if carries_next else 0
    if clean_reports >= RECOVERY_REPORTS:
        return None
    return {**current, "cleanReports": clean_reports}


def advice_update(*, report: dict, state: dict | None) -> tuple[dict | None, dict | None]:
    """The connection's next advice state, and the `qualityAdvice` data to send when the cap changed
    ({"maxRendition": name or None, "reason"}), else None."""
    advice = quality_advice(report=report, renditions=configured_ladder(), current=state)
    before = state["maxRendition"] if state else None
    after = advice["maxRendition"] if advice else None
    if before == after:
        return advice, None
    return advice, {"maxRendition": after, "reason": advice["reason"] if advice else "recovered"}
