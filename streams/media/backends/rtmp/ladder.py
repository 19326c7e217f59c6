"""The adaptive HLS ladder of one publish: nginx-rtmp `exec`s this script, which execs ffmpeg.

Standard library only (nginx starts it with an empty environment and no Django): it reads the
source's resolution from nginx's stat page (ffprobe as a fallback), asks the platform how high this
stream may go, picks the rungs not above either, and replaces itself with one ffmpeg that decodes
once, scales to every rung with keyframes forced at the same instants, and writes HLS with a master
playlist under <hls-root>/<stream id>/. nginx stops it (SIGTERM) when the publish ends.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

SIZE_SLACK = 15
STREAM_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_ladder(spec: str) -> list[dict]:
    """ "360p:360:800:96,720p:720:2800:128" -> rungs {name, height, video_kbps, audio_kbps}, lowest first."""
    rungs = []
    for item in spec.split(","):
        name, height, video_kbps, audio_kbps = item.strip().split(":")
        rungs.append(
            {"name": name, "height": int(height), "video_kbps": int(video_kbps), "audio_kbps": int(audio_kbps)}
        )
    return sorted(rungs, key=lambda rung: rung["height"])


def choose_rungs(ladder: list[dict], *, source_height: int, max_height: int | None) -> list[dict]:
    """Rungs never above the source nor above the stream's cap; a small source still gets one rung.

    nginx-rtmp reports some heights short of the truth (1080 as 1072: it rounds to 16-pixel
    macroblocks), so a rung up to SIZE_SLACK pixels above the reported height still counts.
    """
    limit = min(source_height + SIZE_SLACK, max_height or source_height + SIZE_SLACK)
    chosen = [rung for rung in ladder if rung["height"] <= limit]
    if not chosen:
        lowest = dict(ladder[0])
        lowest["height"] = min(limit, source_height) - min(limit, source_height) % 2
        lowest["name"] = f"{lowest['height']}p"
        chosen = [lowest]
    return chosen


def source_from_stat(stat_url: str, name: str) -> dict | None:
    with urllib.request.urlopen(stat_url, timeout=2) as response:
        root = ET.fromstring(response.read())
    for stream in root.iter("stream"):
        if stream.findtext("name") != name:
            continue
        video = stream.find("meta/video")
        if video is None or not video.findtext("height"):
            return None
        return {
            "width": int(video.findtext("width") or 0),
            "height": int(video.findtext("height")),
            "fps": float(video.findtext("frame_rate") or 0) or None,
            "has_audio": stream.find("meta/audio/codec") is not None,
        }
    return None


def source_from_ffprobe(ffprobe: str, url: str) -> dict | None:
    result = subprocess.run(
        [ffprobe, "-v", "error", "-show_entries", "stream=codec_type,width,height,r_frame_rate", "-of", "json", url],
        capture_output=True,
        text=True,
        timeout=15,
    )
    streams = json.loads(result.stdout or "{}").get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    if not video:
        return None
    num, _, den = (video.get("r_frame_rate") or "0/1").partition("/")
    fps = float(num) / float(den or 1) if float(den or 1) else None
    return {
        "width": video.get("width"),
        "height": video["height"],
        "fps": fps or None,
        "has_audio": any(s.get("codec_type") == "audio" for s in streams),
    }


def probe_source(args) -> dict:
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        try:
            source = source_from_stat(args.stat_url, args.name)
        except Exception as exc:  # nginx busy or starting: fall back below
            print(f"stat not readable: {exc}", flush=True)
            source = None
        if source:
            return source
        time.sleep(0.25)
    source = source_from_ffprobe(args.ffprobe, f"{args.input}/{args.name}")
    if not source:
        raise SystemExit(f"no video in the ingest of {args.name}")
    return source


def stream_max_height(plan_url: str, name: str) -> int | None:
    """The platform's cap for this stream (its maxQuality); None when the platform cannot say."""
    try:
        url = f"{plan_url}?{urllib.parse.urlencode({'name': name})}"
        with urllib.request.urlopen(url, timeout=3) as response:
            return json.loads(response.read()).get("maxHeight")
    except Exception as exc:
        print(f"no plan from the platform: {exc}", flush=True)
        return None


def progress_path(log_dir: str, name: str) -> str:
    """Where ffmpeg writes the progress of a stream's ladder (RtmpBackend.transcoder_speed reads it)."""
    return os.path.join(log_dir, f"{name}.progress")


def ffmpeg_command(args, *, source: dict, rungs: list[dict], out_dir: str) -> list[str]:
    segment = min(args.segment, 1.0) if args.low_latency else args.segment
    fps = source.get("fps") or 30
    gop = max(1, round(fps * segment))
    count = len(rungs)
    splits = "".join(f"[v{i}]" for i in range(count))
    scales = ";".join(f"[v{i}]scale=-2:{rung['height']}[o{i}]" for i, rung in enumerate(rungs))
    command = [args.ffmpeg, "-hide_banner", "-loglevel", "warning", "-nostdin"]
    # ffmpeg's progress (frame=, speed=1.01x, ...) every 2 s, which the backend reads for the transcoder's speed.
    command += ["-progress", progress_path(args.log_dir, args.name), "-stats_period", "2"]
    command += ["-i", f"{args.input}/{args.name}"]
    command += ["-filter_complex", f"[0:v]split={count}{splits};{scales}"]
    stream_map = []
    for i, rung in enumerate(rungs):
        command += ["-map", f"[o{i}]"]
        if source.get("has_audio"):
            command += ["-map", "0:a:0"]
        kbps = rung["video_kbps"]
        command += [
            f"-b:v:{i}",
            f"{kbps}k",
            f"-maxrate:v:{i}",
            f"{kbps * 107 // 100}k",
            f"-bufsize:v:{i}",
            f"{kbps * 3 // 2}k",
        ]
        if source.get("has_audio"):
            command += [f"-b:a:{i}", f"{rung['audio_kbps']}k"]
            stream_map.append(f"v:{i},a:{i},name:{rung['name']}")
        else:
            stream_map.append(f"v:{i},name:{rung['name']}")
    # The same forced keyframe instants in every rung: segments line up and players switch cleanly.
    command += ["-c:v", "libx264", "-preset", args.preset, "-pix_fmt", "yuv420p", "-profile:v", "main"]
    command += ["-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"]
    command += ["-force_key_frames", f"expr:gte(t,n_forced*{segment})"]
    if args.low_latency:
        command += ["-tune", "zerolatency"]
    if source.get("has_audio"):
        command += ["-c:a", "aac", "-ac", "2", "-ar", "48000"]
    list_size = 3 if args.low_latency else args.list_size
    command += [
        "-f",
        "hls",
        "-hls_time",
        str(segment),
        "-hls_list_size",
        str(list_size),
        "-hls_flags",
        "delete_segments+independent_segments+omit_endlist+program_date_time",
        "-hls_start_number_source",
        "epoch",
        "-master_pl_name",
        "master.m3u8",
        "-hls_segment_filename",
        os.path.join(out_dir, "%v", "seg_%d.ts"),
        "-var_stream_map",
        " ".join(stream_map),
        os.path.join(out_dir, "%v", "index.m3u8"),
    ]
    return command


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="the stream id (nginx's $name after the redirect)")
    parser.add_argument("--input", required=True, help="rtmp://127.0.0.1:PORT/live")
    parser.add_argument("--hls-root", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--stat-url", required=True)
    parser.add_argument("--plan-url", required=True)
    parser.add_argument("--ladder", required=True)
    parser.add_argument("--segment", type=float, default=2.0)
    parser.add_argument("--list-size", type=int, default=6)
    parser.add_argument("--low-latency", action="store_true")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--ffmpeg", default="ffmpeg")
    parser.add_argument("--ffprobe", default="ffprobe")
    args = parser.parse_args(argv)
    if not STREAM_ID_RE.match(args.name):
        raise SystemExit(f"not a stream id: {args.name!r}")

    os.makedirs(args.log_dir, exist_ok=True)
    log = os.open(os.path.join(args.log_dir, f"ladder-{args.name}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)

    source = probe_source(args)
    rungs = choose_rungs(
        parse_ladder(args.ladder),
        source_height=source["height"],
        max_height=stream_max_height(args.plan_url, args.name),
    )
    out_dir = os.path.join(args.hls_root, args.name)
    os.makedirs(out_dir, exist_ok=True)
    for stale in ("master.m3u8", "source.json"):
        if os.path.exists(os.path.join(out_dir, stale)):
            os.remove(os.path.join(out_dir, stale))
    with open(os.path.join(out_dir, "source.json"), "w") as handle:
        json.dump({"source": source, "renditions": [rung["name"] for rung in rungs]}, handle)
    command = ffmpeg_command(args, source=source, rungs=rungs, out_dir=out_dir)
    print(time.strftime("%Y-%m-%dT%H:%M:%S"), "ladder:", " ".join(command), flush=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
