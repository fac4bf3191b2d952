"""Print Markdown table rows from ticker bench JSON files, for docs/benchmarks.md.

    .venv/bin/python bench/summarize.py results/*.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def main(paths: list[str]) -> None:
    print(
        "| rate | clients | transport | missing | dup | resets | p50 ms | p99 ms | max ms "
        "| upd/s | B/upd | req/s | srv CPU % |"
    )
    print("|" + " --- |" * 13)
    for path in paths:
        report = json.loads(Path(path).read_text())
        rate = report["parameters"]["rate"]
        for name, row in report["transports"].items():
            latency = row["latency_ms"]
            cells = [
                rate, row["clients"], name, row["missing"], row["duplicated"], row["resets"],
                latency["p50"], latency["p99"], latency["max"], row["updates_per_s"],
                row["bytes_per_update"], row["requests_per_s"], row["server"]["cpu_percent"],
            ]
            print("| " + " | ".join(cell(value) for value in cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
