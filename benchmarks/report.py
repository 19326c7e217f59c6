"""Print the table of ratios to their baselines from the JSON results of the benchmarks (benchmarks/results/).

`make bench` runs the benchmarks, then this. Each row is one measured server against the baseline of the
same run; the load average at the time of the run is shown, since the machines are shared.
"""

import json
import os
import re
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def results_write(name: str, benchmark: str, results: list[dict], ratios: dict, **extra) -> Path:
    """Write benchmarks/results/<name>.json in the shape this report reads: the measured servers (the
    baseline's `server` is "baseline"), their ratios to it, the time and the load average of the run."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": benchmark, "at": time.time(), "load_average": os.getloadavg(), **extra}
    path.write_text(json.dumps({**payload, "results": results, "ratios_to_baseline": ratios}, indent=2) + "\n")
    print(f"written {path.relative_to(RESULTS.parents[1])}")
    return path


def _chat_fanout(result: dict, baseline: dict | None, ratios: dict, results: dict) -> list[list[str]]:
    def figure(r: dict) -> str:
        return (
            f"{r['deliveries_per_s']}/s, {r['lost_pct']}% lost, {r['out_of_order']} out of order, p99 {r['p99_ms']} ms"
        )

    if baseline:
        ratio = ratios.get(result["server"], {})
        against = f"{baseline['deliveries_per_s']}/s, p99 {baseline['p99_ms']} ms"
        return [
            [
                result["server"],
                figure(result),
                against,
                f"x{ratio['deliveries_per_s']} deliveries/s, p99 x{ratio['p99']}",
            ]
        ]
    # The Socket.IO run: ours on Socket.IO against the native protocol and a minimal python-socketio server.
    rows = []
    if result["server"] == "ours-socketio":
        for other in ("ours", "socketio-minimal"):
            ratio = ratios.get(f"ours-socketio/{other}")
            if ratio and other in results:
                against = f"{other}: {results[other]['deliveries_per_s']}/s, p99 {results[other]['p99_ms']} ms"
                text = f"x{ratio['deliveries_per_s']} deliveries/s, CPU/delivery x{ratio['cpu_per_delivery']}"
                text += f", p99 x{ratio['p99']}" if "p99" in ratio else ""
                rows.append([result["server"], figure(result), against, text])
    return rows


def _rows(name: str, data: dict) -> list[list[str]]:
    rows = []
    baseline = next((r for r in data["results"] if r["server"] == "baseline"), None)
    ratios = data["ratios_to_baseline"]
    load = f"{data['load_average'][0]:.1f}"
    kind = data["benchmark"]
    for result in data["results"]:
        if result is baseline or (kind == "segment_delivery" and result["server"] == "baseline"):
            continue
        ratio = ratios.get(result["server"])
        if kind == "join_storm":
            figure = (
                f"{result['joins_per_s']} joins/s, {result['failed']} failed, "
                f"joinedStream max {result['join_max_ms']} ms, count settled {result['count_settled_s']} s"
            )
            against = f"{baseline['joins_per_s']} joins/s" if baseline else "-"
            rows.append([name, result["server"], figure, against, f"x{ratio} joins/s", load])
        elif kind in ("api", "api_list"):
            queries = result.get("queries_per_request", "?")
            figure = f"{result['requests_per_s']} req/s, p99 {result['p99_ms']} ms, {result['errors']} errors, {queries} queries"
            against = "-"
            if baseline:
                against = f"{baseline['requests_per_s']} req/s, {baseline.get('queries_per_request', '?')} queries (plain JsonResponse)"
            path = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "{id}", result["path"])
            rows.append([name, path, figure, against, f"x{ratio} requests/s", load])
        elif kind == "chat_fanout":
            results = {r["server"]: r for r in data["results"]}
            rows += [[name, *row, load] for row in _chat_fanout(result, baseline, ratios, results)]
        elif kind == "segment_delivery":
            plain = next(r for r in data["results"] if r["server"] == "baseline" and r["kind"] == result["kind"])
            ratio = ratios[result["kind"]]
            figure = f"{result['requests_per_s']} req/s, {result['mb_per_s']} MB/s, {result['errors']} errors"
            against = f"{plain['requests_per_s']} req/s, {plain['mb_per_s']} MB/s (plain nginx location)"
            text = f"x{ratio['requests_per_s']} requests/s, x{ratio['mb_per_s']} MB/s"
            text += f", nginx CPU/request x{ratio['nginx_cpu_per_request']}" if "nginx_cpu_per_request" in ratio else ""
            rows.append([name, f"signed {result['kind']}", figure, against, text, load])
        elif kind == "analytics_ingest":
            figure = f"{result['rows_per_s']:,} rows/s ({result['what']})"
            against = f"{baseline['rows_per_s']:,} rows/s ({baseline['what']})"
            rows.append([name, result["server"], figure, against, f"x{ratio} rows/s", load])
        elif kind == "analytics_rollup":
            figure = f"{result['median_s']} s (median of {len(result['runs_s'])})"
            against = f"{baseline['median_s']} s (plain GROUP BY per show)"
            rows.append([name, result["server"], figure, against, f"x{ratio} time (lower is better)", load])
        elif kind == "glass_to_glass":
            glass, pdt = result["glass_to_glass_s"], result["transcoder_to_screen_s"]
            figure = (
                f"glass-to-glass p50/p95/max {glass['p50']}/{glass['p95']}/{glass['max']} s, "
                f"transcoder-to-screen {pdt['p50']}/{pdt['p95']}/{pdt['max']} s, startup {result['startup_s']} s"
            )
            against = f"goal <= {result['goal_s']:g} s; {data['anchors']}"
            verdict = "met" if result["goal_met"] else "NOT met"
            rows.append([name, result["server"], figure, against, f"p95 x{ratio} of the goal ({verdict})", load])
    return rows


def main() -> None:
    rows = [["benchmark", "server", "figure", "baseline (same run)", "ratio", "load"]]
    for path in sorted(RESULTS.glob("*.json")):
        rows += _rows(path.stem, json.loads(path.read_text()))
    if len(rows) == 1:
        sys.exit("no results in benchmarks/results/ yet")
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print(" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("-+-".join("-" * width for width in widths))


if __name__ == "__main__":
    main()
