#!/usr/bin/env python3
"""Benchmark one and two server processes behind nginx, fed through Redis; for docs/benchmarks.md.

Usage: .venv/bin/python bench/scale_out.py OUTPUT_DIR [--processes 1,2] [--clients 250,500,1000]
       [--transports websocket,sse,longpoll] [--repeats 3] [--duration 10]

For each process count it starts redis-server, ``ticker feed``, ``ticker serve --processes N
--backplane URL`` and nginx with deploy/nginx.conf, all on free loopback ports (the process
helpers of tests/cluster.py), then runs ``ticker bench --url NGINX`` for each transport and
client count, ``--repeats`` times, one JSON file per run. It prints one row per process count,
transport and client count with the median p99, the worst loss over the repeats and the median CPU use of
the server processes.

``--cost`` instead measures the CPU time per tick of each process with no clients connected:
a plain ``ticker serve`` against the feed, Redis and a node of the backplane.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from cluster import (  # noqa: E402
    port_of,
    start_feed,
    start_nginx,
    start_node,
    start_redis,
    stop_process,
    write_config,
)
from conftest import start_server_process  # noqa: E402

SYMBOLS = ["S%02d" % index for index in range(20)]
CONFIG = """
[server]
xheaders = true
max_clients = 100000

[feed]
tick_interval = {interval}
time_scale = 60.0

[hub]
history_size = 6000

[longpoll]
max_hold_timeout = 60.0

[websocket]
ping_interval = 0

[limits]
max_connections_per_address = 100000
max_polls_per_address = 100000
"""
SYMBOL = """
[[symbols]]
symbol = "{symbol}"
name = "Symbol {symbol}"
price = 100.0
volatility = 0.3
drift = 0.0
"""


def config_text(interval: float) -> str:
    return CONFIG.format(interval=interval) + "".join(SYMBOL.format(symbol=s) for s in SYMBOLS)


def cpu_seconds(pid: int) -> float:
    """Return the user plus system CPU time of ``pid`` so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(process_log: str) -> list[int]:
    for line in process_log.splitlines():
        if "started" in line and "server processes:" in line:
            return [int(pid) for pid in line.rsplit(":", 1)[1].split(",")]
    return []


def run_bench(
    url: str, transport: str, clients: int, duration: float, out: Path, servers: list[int]
) -> dict:
    """Run one ``ticker bench`` and return its result, with the CPU use of the ``servers`` pids
    over the whole run (connecting and warm-up included), 100 % being one core."""
    command = [
        str(REPO / ".venv/bin/ticker"), "bench", "--url", url, "--transports", transport,
        "--clients", str(clients), "--duration", str(duration), "--warmup", "3",
        "--json", str(out),
    ]  # fmt: skip
    cpu_before = sum(cpu_seconds(pid) for pid in servers)
    started = time.monotonic()
    finished = subprocess.run(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600
    )
    if finished.returncode != 0:
        return {"error": finished.stderr.strip().splitlines()[-1]}
    elapsed = time.monotonic() - started
    cpu = sum(cpu_seconds(pid) for pid in servers) - cpu_before
    result: dict = json.loads(out.read_text())["transports"][transport]
    result["servers_cpu_percent"] = round(100 * cpu / elapsed, 1)
    return result


def scale_out(args: argparse.Namespace) -> None:
    out: Path = args.output
    rows = []
    for processes in args.processes:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            config = write_config(tmp_path, config_text(args.interval))
            redis, redis_url = start_redis(tmp_path)
            feed = start_feed(tmp_path, config, redis_url)
            node = start_node(tmp_path, config, redis_url, processes=processes)
            nginx, url = start_nginx(tmp_path, [port_of(node)])
            servers = child_pids("".join(node.lines)) if processes > 1 else [node.pid]
            try:
                for transport in args.transports:
                    for clients in args.clients:
                        runs = []
                        for repeat in range(args.repeats):
                            name = f"p{processes}-{transport}-c{clients}-r{repeat}.json"
                            path = out / name
                            runs.append(
                                run_bench(url, transport, clients, args.duration, path, servers)
                            )
                        rows.append(summarize(processes, transport, clients, runs))
                        print(format_row(rows[-1]), flush=True)
            finally:
                for process in (nginx, node, feed, redis):
                    stop_process(process)
    (out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")


def summarize(processes: int, transport: str, clients: int, runs: list[dict]) -> dict:
    errors = [run["error"] for run in runs if "error" in run]
    if errors:
        return {"processes": processes, "transport": transport, "clients": clients,
                "error": f"{len(errors)} of {len(runs)} runs failed: {errors[0]}"}  # fmt: skip
    return {
        "processes": processes,
        "transport": transport,
        "clients": clients,
        "missing": max(run["missing"] for run in runs),
        "duplicated": max(run["duplicated"] for run in runs),
        "resets": max(run["resets"] for run in runs),
        "conflated": max(run["conflated"] for run in runs),
        "p50_ms": statistics.median(run["latency_ms"]["p50"] for run in runs),
        "p99_ms": statistics.median(run["latency_ms"]["p99"] for run in runs),
        "p99_ms_runs": [run["latency_ms"]["p99"] for run in runs],
        "servers_cpu_percent": statistics.median(run["servers_cpu_percent"] for run in runs),
    }


def format_row(row: dict) -> str:
    if "error" in row:
        return f"| {row['processes']} | {row['transport']} | {row['clients']} | {row['error']} |"
    cells = [
        row["processes"], row["transport"], row["clients"], row["missing"], row["duplicated"],
        row["resets"], row["conflated"], row["p50_ms"], row["p99_ms"],
        " / ".join(str(value) for value in row["p99_ms_runs"]), row["servers_cpu_percent"],
    ]  # fmt: skip
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def cost(args: argparse.Namespace) -> None:
    """Print the CPU time per tick of a plain server and of each backplane process, no clients."""
    interval = args.interval
    ticks_per_second = len(SYMBOLS) / interval
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        config = write_config(tmp_path, config_text(interval))
        plain = start_server_process(
            ["serve", "--config", str(config), "--host", "127.0.0.1", "--port", "0"], tmp_path
        )
        measured = {"plain ticker serve (feed and hub)": [plain.pid]}
        try:
            per_tick = measure(measured, args.duration, ticks_per_second)
        finally:
            stop_process(plain)
        redis, redis_url = start_redis(tmp_path)
        feed = start_feed(tmp_path, config, redis_url)
        node = start_node(tmp_path, config, redis_url)
        measured = {
            "ticker feed (feed, hub, XADD)": [feed.pid],
            "redis-server": [redis.pid],
            "ticker serve --backplane (XREAD, hub)": [node.pid],
        }
        try:
            per_tick.update(measure(measured, args.duration, ticks_per_second))
        finally:
            for process in (node, feed, redis):
                stop_process(process)
    print(f"{ticks_per_second:g} ticks/s, {args.duration:g} s, no clients")
    for name, micros in per_tick.items():
        print(f"| {name} | {micros:.1f} |")


def measure(processes: dict[str, list[int]], duration: float, rate: float) -> dict[str, float]:
    """Return the CPU microseconds per tick of each named group of pids over ``duration``."""
    time.sleep(3)  # past start-up work such as imports and the back-fill
    before = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in processes.items()}
    time.sleep(duration)
    after = {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in processes.items()}
    return {name: 1e6 * (after[name] - before[name]) / (duration * rate) for name in processes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="folder for the JSON files")
    parser.add_argument("--processes", default="1,2", help="server process counts (default 1,2)")
    parser.add_argument("--clients", default="250,500,1000", help="clients per run")
    parser.add_argument("--transports", default="websocket,sse,longpoll")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per run")
    parser.add_argument(
        "--interval", type=float, default=0.5, help="seconds between batches of 20 ticks"
    )
    parser.add_argument("--cost", action="store_true", help="measure CPU per tick instead")
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    args.processes = [int(value) for value in args.processes.split(",")]
    args.clients = [int(value) for value in args.clients.split(",")]
    args.transports = args.transports.split(",")
    if args.cost:
        cost(args)
    else:
        scale_out(args)


if __name__ == "__main__":
    main()
