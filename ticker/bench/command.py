"""``ticker bench``: options, the run, and the table, JSON and plot it writes.

This module prints its results, like the rest of the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ticker.bench.runner import (
    ClockOffset,
    Progress,
    TransportRun,
    check_key_sees_all,
    close_clients,
    estimate_clock_offset,
    measure,
    open_clients,
)
from ticker.bench.server import ServerProcess, bench_config
from ticker.clients.base import ClientClosed
from ticker.transports.registry import discover_transports

DEFAULT_TRANSPORTS = "websocket,sse,longpoll,poll"
EXIT_USAGE = 2


def add_parser(commands: Any) -> None:
    bench = commands.add_parser(
        "bench",
        allow_abbrev=False,
        help="measure the transports side by side with many headless clients",
        description="Start a server (or use --url), connect --clients clients per transport, "
        "and report loss, latency and cost per transport.",
    )
    bench.add_argument("--url", help="benchmark a running server instead of starting one")
    bench.add_argument(
        "--key",
        default=os.environ.get("TICKER_API_KEY") or None,
        help="API key for a --url server with access control on "
        "(default: the TICKER_API_KEY environment variable, which keeps it out of the process list)",
    )
    bench.add_argument(
        "--rate", type=float, default=100.0, help="ticks per second in total (default 100)"
    )
    bench.add_argument("--symbols", type=int, default=20, help="symbols in the feed (default 20)")
    bench.add_argument(
        "--transports",
        default=DEFAULT_TRANSPORTS,
        help=f"comma-separated transports (default {DEFAULT_TRANSPORTS})",
    )
    bench.add_argument(
        "--clients", type=int, default=10, help="clients per transport (default 10)"
    )
    bench.add_argument(
        "--duration", type=float, default=20.0, help="seconds measured (default 20)"
    )
    bench.add_argument(
        "--warmup", type=float, default=3.0, help="seconds before measuring (default 3)"
    )
    bench.add_argument(
        "--concurrent",
        action="store_true",
        help="run all transports at once on one feed (default: one after another)",
    )
    bench.add_argument(
        "--poll-interval",
        type=float,
        default=0.5,
        help="seconds between short polls when nothing is new (default 0.5)",
    )
    bench.add_argument(
        "--hold", type=float, default=25.0, help="long-poll hold time of a started server (s)"
    )
    bench.add_argument("--json", type=Path, help="also write the results to this JSON file")
    bench.add_argument(
        "--plot",
        type=Path,
        help="also draw latency distributions to this image, PNG by its .png ending "
        "(needs matplotlib: the bench extra)",
    )
    bench.set_defaults(handler=run_bench_command)


def validate(args: argparse.Namespace) -> str | None:
    """Return an error message for invalid options, or None."""
    if args.rate <= 0:
        return f"invalid --rate {args.rate:g}: expected ticks per second above 0"
    if args.symbols < 1:
        return f"invalid --symbols {args.symbols}: expected 1 or more"
    if args.clients < 1:
        return f"invalid --clients {args.clients}: expected 1 or more"
    if not args.transports:
        return f"invalid --transports {args.raw_transports!r}: expected names such as websocket,poll"
    registered = discover_transports()
    unknown = [name for name in args.transports if name not in registered]
    if unknown:
        return (
            f"invalid --transports {args.raw_transports!r}: unknown transport {unknown[0]!r}; "
            f"registered: {', '.join(sorted(registered))}"
        )
    if args.duration <= 0:
        return f"invalid --duration {args.duration:g}: expected seconds above 0"
    if args.warmup < 0:
        return f"invalid --warmup {args.warmup:g}: expected seconds, 0 or more"
    if args.url is not None and not re.fullmatch(r"http://[^/\s]+/?", args.url):
        return f"invalid --url {args.url!r}: expected a server address such as http://127.0.0.1:8888"
    for option, path in (("--json", args.json), ("--plot", args.plot)):
        if path is not None and not path.resolve().parent.is_dir():
            return f"invalid {option} {path}: the folder {path.resolve().parent} does not exist"
    if args.poll_interval <= 0:
        return f"invalid --poll-interval {args.poll_interval:g}: expected seconds above 0"
    if args.plot is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return "--plot needs matplotlib: pip install 'ticker[bench]' (or pip install matplotlib)"
    return None


def run_bench_command(args: argparse.Namespace) -> int:
    args.raw_transports = args.transports
    args.transports = [name.strip() for name in args.transports.split(",") if name.strip()]
    problem = validate(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        report = asyncio.run(run_bench(args))
    except ClientClosed as exc:
        print(f"error: cannot talk to the server at {args.url or 'the started server'}: {exc}",
              file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    if args.plot is not None:
        draw_plot(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


async def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    server: ServerProcess | None = None
    if args.url is None:
        total_clients = args.clients * len(args.transports)
        config = bench_config(args.symbols, args.rate, total_clients, args.hold, args.transports)
        server = await ServerProcess.start(config)
        base_url = server.url
    else:
        base_url = args.url.rstrip("/")
    progress = Progress()
    results: dict[str, Any] = {}
    try:
        available = await enabled_on_server(base_url)
        unknown = [name for name in args.transports if name not in available]
        if unknown:
            raise RuntimeError(
                f"transports not enabled on {base_url}: {', '.join(unknown)}; "
                f"enabled: {', '.join(available)}"
            )
        await check_key_sees_all(base_url, args.key)
        offset = await estimate_clock_offset(base_url)
        groups = [args.transports] if args.concurrent else [[name] for name in args.transports]
        for group in groups:
            runs = [TransportRun(name) for name in group]
            for run in runs:
                await open_clients(
                    run, base_url, args.clients, offset, args.poll_interval, args.key
                )
            try:
                await measure(
                    runs, base_url, args.warmup, args.duration, server, progress, args.key
                )
            finally:
                for run in runs:
                    await close_clients(run)
            for run in runs:
                results[run.name] = run.result()
    finally:
        progress.done()
        if server is not None:
            await server.stop()
    return build_report(args, base_url, offset, results, server is not None)


async def enabled_on_server(base_url: str) -> list[str]:
    from ticker.clients.http import HttpConnection

    connection = HttpConnection(base_url)
    try:
        head, body = await connection.get("/api/transports")
    finally:
        connection.close()
    if head.status != 200:
        raise RuntimeError(f"GET {base_url}/api/transports returned HTTP {head.status}")
    return [entry["name"] for entry in json.loads(body)["transports"]]


def build_report(
    args: argparse.Namespace,
    base_url: str,
    offset: ClockOffset,
    results: dict[str, Any],
    started_server: bool,
) -> dict[str, Any]:
    return {
        "parameters": {
            "url": None if started_server else base_url,
            "rate": args.rate if started_server else None,
            "symbols": args.symbols if started_server else None,
            "clients": args.clients,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrent": args.concurrent,
            "poll_interval_s": args.poll_interval,
            "transports": args.transports,
        },
        "clock": {
            "offset_ms": round(offset.offset_ms, 3),
            "uncertainty_ms": round(offset.uncertainty_ms, 3),
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "transports": results,
    }


COLUMNS: list[tuple[str, Callable[[str, dict[str, Any]], Any]]] = [
    ("transport", lambda name, r: name),
    ("clients", lambda name, r: r["clients"]),
    ("expected", lambda name, r: r["expected"]),
    ("delivered", lambda name, r: r["delivered"]),
    ("missing", lambda name, r: r["missing"]),
    ("conflated", lambda name, r: r["conflated"]),
    ("dup", lambda name, r: r["duplicated"]),
    ("resets", lambda name, r: r["resets"]),
    ("p50 ms", lambda name, r: r["latency_ms"]["p50"]),
    ("p90 ms", lambda name, r: r["latency_ms"]["p90"]),
    ("p99 ms", lambda name, r: r["latency_ms"]["p99"]),
    ("p99.9 ms", lambda name, r: r["latency_ms"]["p999"]),
    ("max ms", lambda name, r: r["latency_ms"]["max"]),
    ("upd/s", lambda name, r: r["updates_per_s"]),
    ("B/upd", lambda name, r: r["bytes_per_update"]),
    ("req/s", lambda name, r: r["requests_per_s"]),
    ("srv CPU %", lambda name, r: r["server"]["cpu_percent"]),
    ("srv RSS MB", lambda name, r: r["server"]["peak_rss_mb"]),
    ("feed lag ms", lambda name, r: r["server"]["feed_max_lag_ms"]),
]


def format_cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}" if value >= 10 else f"{value:.2f}"
    return str(value)


def format_table(report: dict[str, Any]) -> str:
    rows = [[header for header, _ in COLUMNS]]
    for name, result in report["transports"].items():
        rows.append([format_cell(cell(name, result)) for _, cell in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(text.rjust(width) for text, width in zip(row, widths)) for row in rows]
    clock = report["clock"]
    lines.append(
        f"latency corrected by a clock offset of {clock['offset_ms']:.3f} ms "
        f"(within {clock['uncertainty_ms']:.3f} ms)"
    )
    for name, result in report["transports"].items():
        if result["failed_clients"]:
            lines.append(f"{name}: {result['failed_clients']} clients failed, e.g. {result['failures'][0]}")
    return "\n".join(lines)


def draw_plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 5))
    for name, result in report["transports"].items():
        buckets = result["latency_histogram"]
        total = sum(count for _, count in buckets)
        if not total:
            continue
        seen = 0
        xs, ys = [], []
        for upper_ms, count in buckets:
            seen += count
            xs.append(upper_ms)
            ys.append(100.0 * seen / total)
        axes.step(xs, ys, where="post", label=name)
    axes.set_xscale("log")
    axes.set_xlabel("latency (ms, log scale)")
    axes.set_ylabel("ticks delivered within (%)")
    parameters = report["parameters"]
    axes.set_title(
        f"ticker bench: {parameters['clients']} clients per transport, "
        f"{parameters['rate'] or '?'} ticks/s"
    )
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
