"""Print the table of ratios to their baselines from the JSON results of the benchmarks (benchmarks/results/).

`make bench` runs the benchmarks, then this. Each row is one measured server against the baseline of the
same run; the load average at the time of the run is shown, since the machines are shared.
"""

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _rows(name: str, data: dict) -> list[list[str]]:
    rows = []
    baseline = next((r for r in data["results"] if r["server"] == "baseline"), None)
    load = f"{data['load_average'][0]:.1f}"
    for result in data["results"]:
        if result is baseline:
            continue
        if data["benchmark"] == "join_storm":
            ratio = data["ratios_to_baseline"].get(result["server"])
            figure = (
                f"{result['joins_per_s']} joins/s, {result['failed']} failed, "
                f"joinedStream max {result['join_max_ms']} ms, count settled {result['count_settled_s']} s"
            )
            against = f"{baseline['joins_per_s']} joins/s" if baseline else "-"
            rows.append([name, result["server"], figure, against, f"x{ratio} joins/s", load])
        elif data["benchmark"] == "api_list":
            ratio = data["ratios_to_baseline"].get(result["server"])
            figure = f"{result['requests_per_s']} req/s, p99 {result['p99_ms']} ms, {result['errors']} errors"
            against = f"{baseline['requests_per_s']} req/s (plain JsonResponse)" if baseline else "-"
            rows.append([name, result["path"], figure, against, f"x{ratio} requests/s", load])
        elif data["benchmark"] == "chat_fanout":
            ratios = data["ratios_to_baseline"].get(result["server"], {})
            figure = (
                f"{result['deliveries_per_s']}/s, {result['lost_pct']}% lost, "
                f"{result['out_of_order']} out of order, p99 {result['p99_ms']} ms"
            )
            against = f"{baseline['deliveries_per_s']}/s, p99 {baseline['p99_ms']} ms" if baseline else "-"
            ratio = f"x{ratios.get('deliveries_per_s')} deliveries/s, p99 x{ratios.get('p99')}"
            rows.append([name, result["server"], figure, against, ratio, load])
        elif data["benchmark"] == "glass_to_glass":
            glass, pdt = result["glass_to_glass_s"], result["transcoder_to_screen_s"]
            figure = (
                f"glass-to-glass p50/p95/max {glass['p50']}/{glass['p95']}/{glass['max']} s, "
                f"transcoder-to-screen {pdt['p50']}/{pdt['p95']}/{pdt['max']} s, startup {result['startup_s']} s"
            )
            against = f"goal <= {result['goal_s']:g} s; {data['anchors']}"
            verdict = "met" if result["goal_met"] else "NOT met"
            ratio = f"p95 x{glass['p95'] / result['goal_s']:.2f} of the goal ({verdict})"
            rows.append([name, result["server"], figure, against, ratio, load])
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
