"""Glass-to-glass latency of the live ladder: from an ffmpeg publish to the picture on a viewer's screen.

The real media plane and platform, started by the helpers of the media and browser tests: nginx-rtmp from
the project's config (streams/media/tests/media_support.media_server) with the ladder of ladder.py, daphne
(livestream_site/testing/processes.daphne_server), a free stream published by ffmpeg (media_support.publisher)
and its watch page in headless Chromium (livestream_site/testing/browser.chromium), playing with hls.js.

The clock in the picture: the publisher's 1280x720 test picture carries a band of 32 blocks across its
top; blocks 0-29 are the bits of floor(T*1000) (T = the frame's time in the source, in s; LSB first),
block 30 is always white and block 31 always black (a frame whose guards are wrong is not read). The
wall-clock time at which the publisher started is taken just BEFORE ffmpeg is started, so a frame is
taken as captured at publisherStart + T, which is never later than it really was: ffmpeg's start-up and
any pacing delay of `-re` only add to the measured latency (conservative).

Every 500 ms the page draws the <video> into a canvas, reads the blocks, and records
  glass-to-glass          Date.now() - (publisherStart + T): encoder, RTMP, ladder, HLS, player, screen
  transcoder-to-screen    Date.now() - hls.playingDate (the #EXT-X-PROGRAM-DATE-TIME of the playing
                          position, which the ladder's ffmpeg stamps from its own clock)
The browser and this script share the machine's clock. Also measured: startup (navigation to the first
`playing`, the page opened once the playlists are full, as a viewer joining a show under way), stalls
(`waiting` events), the renditions played, and the profile, which adds up to glass-to-glass:
  segment age when listed   when a segment appears in the lowest rung's playlist on disk, how old its last
                            picture is (the clock read back by ffmpeg): publisher, ingest, ladder, segmenting
                            (of which the publisher's own lag, from its -progress, is given apart)
  playlist discovery        from a segment listed on disk to hls.js loading a playlist that has it
  hls.js behind its edge    hls.js's `latency` (its estimate of the live edge - the playing position),
                            against its `targetLatency` (liveSyncDurationCount x the target duration)

Usage (PostgreSQL required; the database is created and migrated when missing):
  DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench REDIS_URL=redis://127.0.0.1:6379/1 \\
      .venv/bin/python benchmarks/glass_to_glass.py [--modes normal,low-latency] [--seconds 40] [--preset veryfast]
Results are printed and written to benchmarks/results/glass_to_glass.json (benchmarks/report.py shows them
against the goals: normal at most 10 s, low-latency at most 5 s, judged on the p95).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import results_write  # noqa: E402

GOALS_S = {"normal": 10.0, "low-latency": 5.0}
ANCHORS = "IVS low-latency under 5 s, PeerTube small mode about 15 s"
BITS = 30  # floor(T*1000) in 30 bits: 298 hours
BLOCKS = 32  # the bits, then a white and a black guard block
BAND_HEIGHT = 64  # of 720: 32 px at 360p, each block 40x64 at 720p, 20x32 at 360p

# The picture: testsrc2 with the clock band laid over its top. The band is made 32x1 (one pixel a block)
# by geq, in gray (so that chroma stays neutral), then scaled up without interpolation.
CLOCK_BITS = (
    f"if(lt(X\\,{BITS})\\,if(mod(floor(floor(T*1000)/pow(2\\,X))\\,2)\\,235\\,16)\\,if(eq(X\\,{BITS})\\,235\\,16))"
)
CLOCK_PICTURE = (
    "testsrc2=size=1280x720:rate=30[bg];"
    f"color=c=black:size={BLOCKS}x1:rate=30,format=gray,geq=lum='{CLOCK_BITS}',"
    f"scale=1280:{BAND_HEIGHT}:flags=neighbor[band];"
    "[bg][band]overlay=0:0:shortest=1,format=yuv420p"
)

# The hls.js settings that decide how far behind the live edge it plays (reported with the figures).
HLS_CONFIG_KEYS = [
    "lowLatencyMode",
    "liveSyncDurationCount",
    "liveMaxLatencyDurationCount",
    "maxLiveSyncPlaybackRate",
    "liveSyncDuration",
    "liveMaxLatencyDuration",
]

# hls.js is a closure variable of the watch page's script: keep the instance it makes (window.__hls).
HLS_SPY = """
(() => {
  let wrapped;
  Object.defineProperty(window, "Hls", {
    configurable: true,
    get() { return wrapped; },
    set(Hls) {
      wrapped = new Proxy(Hls, {
        construct(target, args, newTarget) {
          const instance = Reflect.construct(target, args, newTarget);
          window.__hls = instance;
          // When hls.js first sees each new segment in a playlist (the last one's media sequence number).
          window.__playlists = [];
          instance.on("hlsLevelLoaded", (_event, data) => {
            if (data.details.advanced) window.__playlists.push({ at: Date.now(), sn: data.details.endSN });
          });
          return instance;
        },
      });
    },
  });
})();
"""

# The sampler, from the page's first script on: reads the clock off the picture every 500 ms.
SAMPLER = """
(() => {
  const config = __CONFIG__;
  const state = (window.__g2g = { samples: [], events: [] });
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  function clock(video) {
    const width = video.videoWidth, height = video.videoHeight;
    if (!width || !height || video.readyState < 2) return null;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    context.drawImage(video, 0, 0, width, height);
    const y = Math.floor((config.bandHeight / 2 / 720) * height);
    const row = context.getImageData(0, y, width, 1).data;
    const white = (block) => {
      const x = Math.floor(((block + 0.5) * width) / config.blocks);
      return row[4 * x] + row[4 * x + 1] + row[4 * x + 2] > 3 * 128;
    };
    if (!white(config.bits) || white(config.bits + 1)) return null;
    let t = 0;
    for (let bit = 0; bit < config.bits; bit++) if (white(bit)) t += 2 ** bit;
    return t;
  }
  for (const name of ["playing", "waiting", "stalled"]) {
    document.addEventListener(name, () => state.events.push({ at: Date.now(), event: name }), true);
  }
  setInterval(() => {
    const video = document.getElementById("video");
    if (!video) return;
    const now = Date.now();
    const t = clock(video);
    const hls = window.__hls;
    const playing = hls && hls.playingDate;
    state.samples.push({
      at: now,
      t,
      glassMs: t === null ? null : now - (config.publisherStart + t),
      pdtMs: playing ? now - playing.getTime() : null,
      hlsLatency: hls && Number.isFinite(hls.latency) ? hls.latency : null,
      hlsTarget: hls ? hls.targetLatency : null,
      height: video.videoHeight,
      paused: video.paused,
    });
  }, 500);
})();
"""


def percentiles(values: list[float]) -> dict:
    """p50, p95, max (and min, count) of values in seconds, rounded to 10 ms."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "max": None, "min": None}
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * fraction))], 2)

    return {"count": len(ordered), "p50": at(0.5), "p95": at(0.95), "max": at(1.0), "min": round(ordered[0], 2)}


def clocks(video: Path) -> list[int | None]:
    """The clock (floor(T*1000)) of every frame of a video file, read by ffmpeg as the page reads it: the
    band cropped and averaged down to one gray pixel a block; None for a frame whose guards are wrong."""
    band = f"crop=iw:ih*{BAND_HEIGHT}/720:0:0,scale={BLOCKS}:1:flags=area"
    command = ["ffmpeg", "-v", "error", "-i", str(video), "-an"]
    command += ["-vf", band, "-f", "rawvideo", "-pix_fmt", "gray", "-"]
    data = subprocess.run(command, capture_output=True, check=True).stdout
    frames = []
    for start in range(0, len(data) - BLOCKS + 1, BLOCKS):
        white = [value > 128 for value in data[start : start + BLOCKS]]
        ok = white[BITS] and not white[BITS + 1]
        frames.append(sum(1 << bit for bit in range(BITS) if white[bit]) if ok else None)
    return frames


def clock_self_test(folder: Path) -> None:
    """Trust the clock only once it reads back: 2 s of the picture, scaled and encoded like the lowest
    rung (360p, 800 kb/s), must decode to every frame's own time."""
    sample = folder / "clock.ts"
    command = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", CLOCK_PICTURE, "-t", "2", "-vf", "scale=-2:360"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k", "-maxrate", "856k", "-bufsize", "1200k"]
    subprocess.run([*command, str(sample)], check=True)
    read = clocks(sample)
    expected = [frame * 1000 // 30 for frame in range(len(read))]
    wrong = [(got, want) for got, want in zip(read, expected, strict=True) if got is None or abs(got - want) > 1]
    if len(read) != 60 or wrong:
        sys.exit(f"the clock in the picture does not read back: {len(read)} frames, wrong (read, true): {wrong[:5]}")


class Follower:
    """Poll something every 50 ms in a thread of its own until stopped."""

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.poll()

    def poll(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class PublisherLag(Follower):
    """The publisher's lag behind its own clock at each of its -progress reports: wall time - publisher
    start - out_time (what the test encoder itself adds to the measured latency)."""

    def __init__(self, path: Path, started: float):
        self.path, self.started, self.seen = path, started, 0
        self.lags: list[tuple[float, float]] = []  # (wall time, lag)
        super().__init__()

    def poll(self) -> None:
        try:
            blocks = self.path.read_text().split("progress=")[:-1]  # each report ends with progress=...
        except OSError:
            return
        for block in blocks[self.seen :]:
            fields = dict(line.split("=", 1) for line in block.strip().splitlines() if "=" in line)
            if fields.get("out_time_us", "N/A").isdigit():
                now = time.time()
                self.lags.append((now, now - self.started - int(fields["out_time_us"]) / 1e6))
        self.seen = len(blocks)


class SegmentAges(Follower):
    """How old the newest picture of each new segment is when the ladder lists it in the lowest rung's
    playlist: wall time it appeared - (publisher start + the clock in its last frame). The part of the
    latency spent before any player can have the segment (publisher, ingest, ladder, segmenting)."""

    def __init__(self, playlist: Path, started: float):
        self.playlist, self.started, self.last = playlist, started, None
        self.ages: list[tuple[float, float]] = []  # (wall time, age)
        self.listed: dict[int, float] = {}  # media sequence number -> wall time it was listed
        super().__init__()

    def poll(self) -> None:
        try:
            segments = [line for line in self.playlist.read_text().splitlines() if line.endswith(".ts")]
        except OSError:
            return
        if not segments or segments[-1] == self.last:
            return
        seen, self.last = time.time(), segments[-1]
        self.listed[int(self.last.removeprefix("seg_").removesuffix(".ts"))] = seen
        try:
            read = [clock for clock in clocks(self.playlist.parent / self.last) if clock is not None]
        except subprocess.CalledProcessError:  # deleted meanwhile (delete_segments)
            return
        if read:
            self.ages.append((seen, seen - self.started - read[-1] / 1000))


def transcoder_speeds(settings, stream_id) -> list[float]:
    """Every speed= the ladder's ffmpeg reported (1.0 = real time)."""
    from streams.media.backends.rtmp.ladder import progress_path

    try:
        text = Path(progress_path(str(Path(settings.RUN_DIR) / "logs"), str(stream_id))).read_text()
    except OSError:
        return []
    return [float(line[6:-1]) for line in text.splitlines() if line.startswith("speed=") and line.endswith("x")]


def measure(mode: str, args) -> dict:
    from django.conf import settings
    from django.utils import timezone

    from accounts.tests.factories import ArtistFactory
    from livestream_site.testing.browser import chromium
    from livestream_site.testing.processes import daphne_server, free_port
    from streams.media.tests.media_support import media_env, media_server, publisher, wait_for
    from streams.models import LiveStream
    from streams.tests.factories import stream_factory

    settings.HLS_LOW_LATENCY = mode == "low-latency"
    if args.preset:
        settings.HLS_X264_PRESET = args.preset
    segment = min(settings.HLS_SEGMENT_SECONDS, 1.0) if settings.HLS_LOW_LATENCY else settings.HLS_SEGMENT_SECONDS
    list_size = 3 if settings.HLS_LOW_LATENCY else settings.HLS_PLAYLIST_LENGTH  # as ladder.py
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="glass-") as folder,
        media_server(settings, Path(folder), f"http://127.0.0.1:{port}") as media,
    ):
        env = media_env(media, "HLS_LOW_LATENCY", "HLS_PLAYLIST_LENGTH")
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
        with daphne_server(env=env, port=port) as daphne:
            artist = ArtistFactory(username=f"bench-glass-{uuid.uuid4().hex[:10]}")
            soon = timezone.now() + timedelta(minutes=1)
            stream = stream_factory(artist=artist, title="Glass to glass", scheduled_start_time=soon)
            progress = Path(folder) / "publisher.progress"
            options = ("-progress", str(progress), "-stats_period", "0.5")
            started = time.time()  # before ffmpeg starts: the clock in the picture counts from here at the latest
            encoder = publisher(
                media, stream.stream_key, seconds=args.seconds + 120, picture=CLOCK_PICTURE, options=options
            )
            playlist = Path(media.RUN_DIR) / "hls" / str(stream.id) / "360p" / "index.m3u8"
            followers = PublisherLag(progress, started), SegmentAges(playlist, started)
            try:
                wait_for(
                    lambda: LiveStream.objects.filter(pk=stream.pk, status="live").exists(),
                    timeout=30,
                    message="the stream to go live",
                )
                live_s = time.time() - started
                # A viewer joining a show under way: the page opens once the lowest rendition's playlist is full.
                wait_for(
                    lambda: playlist.exists() and playlist.read_text().count("#EXTINF") >= list_size,
                    timeout=60,
                    message="a full live playlist",
                )
                full_s = time.time() - started
                config = {"publisherStart": started * 1000, "bits": BITS, "blocks": BLOCKS, "bandHeight": BAND_HEIGHT}
                with chromium() as browser:
                    page = browser.new_page(viewport={"width": 1280, "height": 900})
                    page.add_init_script(HLS_SPY)
                    page.add_init_script(SAMPLER.replace("__CONFIG__", json.dumps(config)))
                    page.goto(f"{daphne.url}/streams/{stream.id}/")
                    page.wait_for_function(
                        "window.__g2g.samples.some((s) => s.t !== null && !s.paused)", timeout=90_000
                    )
                    page.wait_for_timeout(args.seconds * 1000)
                    observed = page.evaluate(
                        "({ origin: performance.timeOrigin, samples: window.__g2g.samples, events: window.__g2g.events,"
                        " playlists: window.__playlists,"
                        " config: window.__hls && Object.fromEntries(" + json.dumps(HLS_CONFIG_KEYS) + ".map((k) =>"
                        " [k, window.__hls.config[k] === Infinity ? 'Infinity' : window.__hls.config[k] ?? null])) })"
                    )
            finally:
                encoder.kill()
                encoder.wait()
                for follower in followers:
                    follower.stop()
            speeds = transcoder_speeds(media, stream.id)
    timing = {"publish_to_live_s": round(live_s, 2), "publish_to_full_playlist_s": round(full_s, 2)}
    return summarize(
        mode, observed, segment=segment, list_size=list_size, timing=timing, followers=followers, speeds=speeds
    )


def summarize(mode, observed, *, segment, list_size, timing, followers, speeds) -> dict:
    from django.conf import settings

    samples = observed["samples"]
    first = next(i for i, s in enumerate(samples) if s["t"] is not None and not s["paused"])
    played = samples[first:]
    window = played[0]["at"] / 1000  # the followers' figures count from the first frame played on
    glass = [s["glassMs"] / 1000 for s in played if s["glassMs"] is not None]
    pdt = [s["pdtMs"] / 1000 for s in played if s["pdtMs"] is not None]
    hls_latency = [s["hlsLatency"] for s in played if s["hlsLatency"] is not None]
    playing = [e["at"] for e in observed["events"] if e["event"] == "playing"]
    stalls = [e for e in observed["events"] if e["event"] == "waiting" and e["at"] > played[0]["at"]]
    heights: dict[str, int] = {}
    for sample in played:
        heights[f"{sample['height']}p"] = heights.get(f"{sample['height']}p", 0) + 1
    goal = GOALS_S[mode]
    result = {
        "server": mode,
        "segment_s": segment,
        "playlist_segments": list_size,
        "x264_preset": settings.HLS_X264_PRESET,
        "hls_js": observed["config"],
        "seconds_measured": round((played[-1]["at"] - played[0]["at"]) / 1000, 1),
        "samples": len(played),
        "samples_unreadable": sum(1 for s in played if s["t"] is None),
        "glass_to_glass_s": percentiles(glass),
        # Settled: from 15 s after the first frame on (hls.js has caught up with its target by then).
        "glass_to_glass_settled_s": percentiles(
            [s["glassMs"] / 1000 for s in played if s["glassMs"] is not None and s["at"] / 1000 >= window + 15]
        ),
        # The median of each 5 s of playback from the first frame: how the latency moves after the start.
        "glass_to_glass_p50_by_5s": [
            percentiles([s["glassMs"] / 1000 for s in chunk if s["glassMs"] is not None])["p50"]
            for chunk in (played[i : i + 10] for i in range(0, len(played), 10))
        ],
        "transcoder_to_screen_s": percentiles(pdt),
        # How much later than the picture's own clock the playlists' program date-time puts a frame
        # (ffmpeg stamps it from whole seconds at its muxer's start, not from the capture).
        "program_date_time_late_s": percentiles(
            [(s["glassMs"] - s["pdtMs"]) / 1000 for s in played if s["glassMs"] is not None and s["pdtMs"] is not None]
        )["p50"],
        "hls_js_latency_s": percentiles(hls_latency),
        "hls_js_target_latency_s": played[-1]["hlsTarget"],
        "publisher_lag_s": percentiles([lag for at, lag in followers[0].lags if at >= window]),
        "segment_age_when_listed_s": percentiles([age for at, age in followers[1].ages if at >= window]),
        # From a segment listed on disk to hls.js seeing it (the reload interval, HTTP caching).
        "playlist_discovery_s": percentiles(
            [
                seen["at"] / 1000 - followers[1].listed[seen["sn"]]
                for seen in observed["playlists"]
                if seen["at"] / 1000 >= window and seen["sn"] in followers[1].listed
            ]
        ),
        "transcoder_speed": percentiles(speeds),
        **timing,
        "startup_s": round((playing[0] - observed["origin"]) / 1000, 2) if playing else None,
        "stalls": len(stalls),
        "renditions_sampled": heights,
        "goal_s": goal,
        "goal_met": bool(glass) and percentiles(glass)["p95"] <= goal,
    }
    return result


def report(results: list[dict]) -> None:
    print(f"glass-to-glass latency (anchors: {ANCHORS}); goal judged on the p95")
    header = "mode         | glass-to-glass p50/p95/max | transcoder-to-screen p50/p95/max | startup | goal"
    print(header)
    print("-" * len(header))
    for r in results:
        g, p = r["glass_to_glass_s"], r["transcoder_to_screen_s"]
        verdict = "met" if r["goal_met"] else "NOT met"
        print(
            f"{r['server']:<12} | {g['p50']} / {g['p95']} / {g['max']} s{'':<8} | "
            f"{p['p50']} / {p['p95']} / {p['max']} s{'':<14} | {r['startup_s']} s | <= {r['goal_s']:g} s {verdict}"
        )
        print(
            f"{'':<12}   p50s: publisher lag {r['publisher_lag_s']['p50']} s, segment age when listed "
            f"{r['segment_age_when_listed_s']['p50']} s, seen by hls.js {r['playlist_discovery_s']['p50']} s later, "
            f"hls.js behind its live edge {r['hls_js_latency_s']['p50']} s "
            f"(target {r['hls_js_target_latency_s']} s), {r['stalls']} stalls, {r['samples_unreadable']} unread"
        )
    # The "ratio" of each mode: its p95 over its goal (at most 1: met).
    ratios = {r["server"]: round(r["glass_to_glass_s"]["p95"] / r["goal_s"], 2) for r in results}
    results_write("glass_to_glass", "glass_to_glass", results, ratios, goals_s=GOALS_S, anchors=ANCHORS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="normal,low-latency", help="normal, low-latency or both")
    parser.add_argument("--seconds", type=int, default=40, help="seconds of playback measured in each mode")
    parser.add_argument("--preset", default=None, help="the ladder's x264 preset (default HLS_X264_PRESET)")
    args = parser.parse_args()
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if unknown := set(modes) - set(GOALS_S):
        sys.exit(f"unknown modes: {sorted(unknown)}")

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("DATABASE_URL must point at PostgreSQL (daphne and the callbacks share it)")
    from benchmarks.analytics_ingest import database_ensure

    database_ensure(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "livestream_site.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="glass-clock-") as folder:
        clock_self_test(Path(folder))
    report([measure(mode, args) for mode in modes])


if __name__ == "__main__":
    main()
