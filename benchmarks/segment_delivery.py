"""Segment delivery benchmark: live HLS through nginx's signed `/hls/...` location against the same files
through a plain location of the same nginx, in the same run.

The nginx is the platform's own: its config is written by the rtmp backend's `media_server_prepare()`
(the template `make run` uses, rendered into a scratch RUN_DIR on free ports with a random signing
secret). The benchmark then adds one location to its copy of that config, and only there:

  location /plain/ { alias <RUN_DIR>/hls/; }

beside the platform's `location ~ ^/hls/<token>/<expires>/<stream id>/<rendition>/<file>` (secure_link,
secure_link_md5, the Cache-Control map, CORS header, the JSON access log of viewers' requests). Both
locations serve the same files from the same worker. The files are a real ladder: the platform's own
ffmpeg command (streams/media/backends/rtmp/ladder.py, HLS_LADDER, HLS_SEGMENT_SECONDS,
HLS_PLAYLIST_LENGTH) run once on a noisy test picture with a tone, so that every rendition's segments
have the sizes of its bitrate (kept in var/bench/ and reused; --regenerate to make them again).

  signed   /hls/<token>/<expires>/<stream id>/<rendition>/<file>, each token made by the platform's
           secure_link_token() as the master playlist signs a variant (valid for an hour)
  plain    /plain/<stream id>/<rendition>/<file>: nginx's own speed for the same file

One wrk client process (`wrk -t1 -c32`, a Lua script cycling through every file's URL) measures requests/s
and MB/s, for segments (every `.ts` listed in the renditions' playlists) and for playlists (each
rendition's `index.m3u8`), alternating signed, plain, signed, plain (`--rounds` of each). It also checks
the caching headers of each kind of answer (a segment, a playlist, a forged token, an expired one).

Usage (wrk from Debian: `WITH_BENCH=1 bash scripts/system-deps.sh`):
  .venv/bin/python benchmarks/segment_delivery.py [--seconds 8] [--rounds 2] [--connections 32]
"""

import argparse
import hashlib
import json
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.chat_fanout import _free_port, _wait_for_port, process_cpu_seconds, process_tree  # noqa: E402
from benchmarks.report import results_write  # noqa: E402

CACHE = ROOT / "var" / "bench" / "segment-ladder"
# Where the server block's catch-all begins: the baseline location goes right before it.
ANCHOR = "        location / {\n            return 404;"
PLAIN_LOCATION = "        # Benchmark only (benchmarks/segment_delivery.py): the same files, no check.\n"
PLAIN_LOCATION += "        location /plain/ {{\n            alias {hls_root}/;\n        }}\n\n"
# The source of the ladder: a picture and a tone, with noise so that x264 spends each rendition's bitrate.
SOURCE = (
    "testsrc2=s=1920x1080:r=30:d={seconds},noise=alls=24:allf=t+u[out0];"
    "sine=frequency=440:sample_rate=48000:duration={seconds}[out1]"
)
WRK_SCRIPT = """
local paths = {{{paths}}}
local requests = {{}}
local next_index = 0
init = function(args)
  for index, path in ipairs(paths) do requests[index] = wrk.format("GET", path) end
end
request = function()
  next_index = next_index % #requests + 1
  return requests[next_index]
end
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_JSON {{"requests":%d,"bytes":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"errors":%d,"non_2xx_3xx":%d}}\\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, errors.connect + errors.read + errors.write + errors.timeout, errors.status))
end
"""


def ladder_make(*, regenerate: bool) -> Path:
    """The platform's ladder of one test show (renditions' playlists and segments), made once and kept."""
    from django.conf import settings

    from streams.media.backends.rtmp import ladder

    spec = f"{settings.HLS_LADDER}|{settings.HLS_SEGMENT_SECONDS}|{settings.HLS_PLAYLIST_LENGTH}"
    folder = CACHE / hashlib.sha1(spec.encode()).hexdigest()[:12]  # noqa: S324 (a cache key)
    if folder.exists() and not regenerate:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="wt_segbench_ladder_"))
    seconds = settings.HLS_SEGMENT_SECONDS * (settings.HLS_PLAYLIST_LENGTH + 1)
    args = SimpleNamespace(
        ffmpeg=settings.MEDIA_FFMPEG,
        log_dir=str(work),
        name="source",
        input=str(work),
        segment=settings.HLS_SEGMENT_SECONDS,
        low_latency=False,
        list_size=settings.HLS_PLAYLIST_LENGTH,
        preset=settings.HLS_X264_PRESET,
    )
    source = {"fps": 30, "has_audio": True, "height": 1080, "width": 1920}
    rungs = ladder.choose_rungs(ladder.parse_ladder(settings.HLS_LADDER), source_height=1080, max_height=None)
    command = ladder.ffmpeg_command(args, source=source, rungs=rungs, out_dir=str(work / "out"))
    # The platform's command reads the RTMP ingest; here the test source (two streams of one lavfi input).
    at = command.index("-i")
    command[at : at + 2] = ["-f", "lavfi", "-i", SOURCE.format(seconds=seconds)]
    began = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"ladder made with the platform's ffmpeg command in {time.perf_counter() - began:.1f} s")
    (work / "out" / "master.m3u8").unlink(missing_ok=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(work / "out", folder)
    shutil.rmtree(work, ignore_errors=True)
    return folder


def files_listed(stream_dir: Path) -> dict[str, list[str]]:
    """Each rendition's segments as its playlist lists them (what a player asks for)."""
    renditions = {}
    for playlist in sorted(stream_dir.glob("*/index.m3u8")):
        names = [line for line in playlist.read_text().splitlines() if line.endswith(".ts")]
        renditions[playlist.parent.name] = names
    return renditions


def wrk(url: str, paths: list[str], args, scratch: Path) -> dict:
    script = scratch / "paths.lua"
    script.write_text(WRK_SCRIPT.format(paths=", ".join(json.dumps(path) for path in paths)))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.seconds}s", "-s", str(script), url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data = json.loads(re.search(r"^WRK_JSON (.*)$", output, re.M).group(1))
    seconds = data["duration_us"] / 1e6
    return {
        "requests": data["requests"],
        "requests_per_s": round(data["requests"] / seconds),
        "mb_per_s": round(data["bytes"] / seconds / 1e6, 1),
        "p50_ms": round(data["p50_us"] / 1000, 2),
        "p99_ms": round(data["p99_us"] / 1000, 2),
        "errors": data["errors"],
        "non_2xx_3xx": data["non_2xx_3xx"],
        "client_cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2),
    }


def head(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, b""
    return {
        "status": status,
        "cache_control": headers.get("Cache-Control"),
        "content_type": headers.get("Content-Type"),
        "cors": headers.get("Access-Control-Allow-Origin"),
        "bytes": len(body),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="signed, plain, signed, plain ... of each kind")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kinds", default="segments,playlists")
    parser.add_argument("--regenerate", action="store_true", help="make the ladder's files again")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: WITH_BENCH=1 bash scripts/system-deps.sh")

    scratch = Path(tempfile.mkdtemp(prefix="wt_segbench_"))
    http_port = _free_port()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "livestream_site.settings",
            "STREAMING_BACKEND": "rtmp",
            "RUN_DIR": str(scratch / "run"),
            "MEDIA_HTTP_PORT": str(http_port),
            "RTMP_PORT": str(_free_port()),
            "MEDIA_SIGNING_SECRET": secrets.token_hex(20),
            "LOG_LEVEL": "warning",
        }
    )
    import django

    django.setup()
    from django.conf import settings

    from streams.media.backends import get_backend
    from streams.media.backends.rtmp.hls import secure_link_token

    server = get_backend().media_server_prepare()  # the platform's config, as `manage.py run_media` writes it
    text = server.config.read_text()
    if ANCHOR not in text:
        sys.exit("the rendered nginx config has no `location / { return 404; }` to put the baseline before")
    hls_root = Path(settings.RUN_DIR).resolve() / "hls"
    bench_config = server.config.with_name("nginx-segbench.conf")
    bench_config.write_text(text.replace(ANCHOR, PLAIN_LOCATION.format(hls_root=hls_root) + ANCHOR, 1))
    command = [str(bench_config) if part == str(server.config) else part for part in server.run]

    stream_id = str(uuid.uuid4())
    shutil.copytree(ladder_make(regenerate=args.regenerate), hls_root / stream_id)
    renditions = files_listed(hls_root / stream_id)
    expires = int(time.time()) + 3600
    tokens = {name: secure_link_token(f"/{stream_id}/{name}", expires) for name in renditions}
    paths = {"signed": {"segments": [], "playlists": []}, "plain": {"segments": [], "playlists": []}}
    for name, segments in renditions.items():
        for kind, files in (("segments", segments), ("playlists", ["index.m3u8"])):
            for file in files:
                paths["signed"][kind].append(f"/hls/{tokens[name]}/{expires}/{stream_id}/{name}/{file}")
                paths["plain"][kind].append(f"/plain/{stream_id}/{name}/{file}")
    sizes = {
        name: {
            "segments": len(segments),
            "segment_mean_bytes": round(
                sum((hls_root / stream_id / name / s).stat().st_size for s in segments) / max(1, len(segments))
            ),
            "playlist_bytes": (hls_root / stream_id / name / "index.m3u8").stat().st_size,
        }
        for name, segments in renditions.items()
    }
    print("files:", json.dumps(sizes))

    subprocess.run([*command, "-t", "-q"], check=True)
    nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{http_port}"
    runs: dict[tuple[str, str], list[dict]] = {}
    try:
        _wait_for_port(http_port, nginx)
        first = paths["signed"]["segments"][0]
        name, file = first.split("/")[-2:]
        with urllib.request.urlopen(base + first, timeout=5) as response:
            assert response.read() == (hls_root / stream_id / name / file).read_bytes(), "signed answer differs"
        expired = int(time.time()) - 10
        headers = {
            "signed_segment": head(base + paths["signed"]["segments"][0]),
            "signed_playlist": head(base + paths["signed"]["playlists"][0]),
            "forged_token": head(base + first.replace(tokens[name], "A" * 22)),
            "expired_token": head(
                f"{base}/hls/{secure_link_token(f'/{stream_id}/{name}', expired)}/{expired}/{stream_id}/{name}/{file}"
            ),
            "plain_segment": head(base + paths["plain"]["segments"][0]),
        }
        print("headers:", json.dumps(headers))
        for kind in args.kinds.split(","):
            for variant in ("signed", "plain"):  # warm up (open files, page cache)
                wrk(base, paths[variant][kind], SimpleNamespace(**{**vars(args), "seconds": 1}), scratch)
            for _ in range(args.rounds):
                for variant in ("signed", "plain"):
                    workers = [pid for pid in process_tree(nginx.pid) if pid != nginx.pid]
                    cpu = sum(process_cpu_seconds(pid) for pid in workers)
                    result = wrk(base, paths[variant][kind], args, scratch)
                    used = sum(process_cpu_seconds(pid) for pid in workers) - cpu
                    result["nginx_cpu_us_per_request"] = round(1e6 * used / max(1, result["requests"]), 1)
                    runs.setdefault((variant, kind), []).append(result)
                    print(f"{kind} {variant}: {json.dumps(result)}")
    finally:
        nginx.send_signal(signal.SIGTERM)
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        shutil.rmtree(scratch, ignore_errors=True)

    # The ratio of the means of all rounds (the same duration each), and of each signed/plain pair: the
    # machine is shared, a single round can be slowed by someone else's work.
    results, ratios = [], {}
    for kind in args.kinds.split(","):
        mean = {}
        for variant in ("plain", "signed"):
            chosen = runs[(variant, kind)]
            mean[variant] = {
                key: sum(run[key] for run in chosen) / len(chosen) for key in ("requests_per_s", "mb_per_s")
            }
            results.append(
                {
                    "server": "baseline" if variant == "plain" else "ours",
                    "kind": kind,
                    "path": paths[variant][kind][0],
                    "requests_per_s": round(mean[variant]["requests_per_s"]),
                    "mb_per_s": round(mean[variant]["mb_per_s"], 1),
                    "p99_ms": max(run["p99_ms"] for run in chosen),
                    "errors": sum(run["errors"] + run["non_2xx_3xx"] for run in chosen),
                    "nginx_cpu_us_per_request": round(
                        sum(run["nginx_cpu_us_per_request"] for run in chosen) / len(chosen), 1
                    ),
                    "rounds": chosen,
                }
            )
        pairs = zip(runs[("signed", kind)], runs[("plain", kind)], strict=True)
        ratios[kind] = {
            "requests_per_s": round(mean["signed"]["requests_per_s"] / mean["plain"]["requests_per_s"], 2),
            "mb_per_s": round(mean["signed"]["mb_per_s"] / max(0.1, mean["plain"]["mb_per_s"]), 2),
            "rounds": [round(a["requests_per_s"] / b["requests_per_s"], 2) for a, b in pairs],
            # nginx's CPU per request, signed over plain: steadier than requests/s on a shared machine.
            "nginx_cpu_per_request": round(
                sum(r["nginx_cpu_us_per_request"] for r in runs[("signed", kind)])
                / sum(r["nginx_cpu_us_per_request"] for r in runs[("plain", kind)]),
                2,
            ),
        }
        print(
            f"{kind}: signed / plain x{ratios[kind]['requests_per_s']} requests/s, x{ratios[kind]['mb_per_s']} "
            f"MB/s (means of {args.rounds} alternating rounds; per round: {ratios[kind]['rounds']}); "
            f"nginx CPU per request x{ratios[kind]['nginx_cpu_per_request']}"
        )
    client = f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds alternating"
    results_write(
        "segment_delivery", "segment_delivery", results, ratios, client=client, files=sizes, cache_headers=headers
    )


if __name__ == "__main__":
    main()
