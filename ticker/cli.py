"""The ``ticker`` command: ``serve``, ``feed``, ``check-config``, ``calibrate`` and ``bench``.

This is the only module that configures logging handlers or writes to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Iterator, Sequence
from pathlib import Path
from typing import Any

from ticker.app import enabled_transports
from ticker.backplane import command as backplane_command
from ticker.backplane import BackplaneError, require_redis
from ticker.prices.bars import read_daily_prices
from ticker.bench import command as bench_command
from ticker.prices.calibrate import symbols_block
from ticker.config import Config, load_config
from ticker.errors import ConfigError
from ticker.reload import ConfigReloader
from ticker.resources import default_config_path
from ticker.processes import run_processes
from ticker.server import TickerServer, bind_listening_sockets

logger = logging.getLogger("ticker.cli")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
LOCAL_CONFIG = Path("config.toml")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    result: int = args.handler(args)
    return result


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ticker",
        description="Stream simulated stock prices over WebSocket, Server-Sent Events, "
        "long-poll and short-poll HTTP, and measure them side by side.",
        allow_abbrev=False,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser(
        "serve", help="run the server and the dashboard", allow_abbrev=False
    )
    serve.add_argument(
        "--config",
        type=Path,
        help="config file (default: ./config.toml if present, else the one shipped with ticker)",
    )
    serve.add_argument("--host", help="address to listen on (default: server.host from the config)")
    serve.add_argument(
        "--port", type=int, help="port to listen on, 0 for any free port (default: server.port)"
    )
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="lowest level logged (default: INFO; DEBUG logs every batch and request)",
    )
    backplane_command.add_backplane_argument(serve)
    serve.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port, each reading the backplane (default: 1; "
        "more than 1 needs --backplane)",
    )
    serve.set_defaults(handler=run_serve)

    check = commands.add_parser(
        "check-config", help="validate a config file without serving", allow_abbrev=False
    )
    check.add_argument(
        "path", nargs="?", type=Path, help="config file (default: as for serve)"
    )
    check.set_defaults(handler=run_check_config)

    calibrate = commands.add_parser(
        "calibrate",
        help="print [[symbols]] tables with volatility and drift estimated from daily prices",
        allow_abbrev=False,
    )
    calibrate.add_argument(
        "path", type=Path, help="CSV file with the columns symbol,date,open,high,low,close,volume"
    )
    calibrate.set_defaults(handler=run_calibrate)

    backplane_command.add_feed_parser(commands)
    bench_command.add_parser(commands)
    return parser


def choose_config_path(path: Path | None) -> Path:
    """Return ``path``, else ./config.toml when it exists, else the default shipped with ticker."""
    if path is not None:
        return path
    if LOCAL_CONFIG.is_file():
        return LOCAL_CONFIG
    return default_config_path()


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # The config watcher logs each file change at INFO; the reload itself is logged by ticker.
    logging.getLogger("watchfiles").setLevel(logging.WARNING)


def run_check_config(args: argparse.Namespace) -> int:
    path = choose_config_path(args.path)
    try:
        config = load_config(path)
        transports = enabled_transports(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"{path}: valid, {len(config.symbols)} symbols: {', '.join(config.symbol_names())}; "
        f"transports: {', '.join(transport.name for transport in transports)}"
    )
    return EXIT_OK


def run_calibrate(args: argparse.Namespace) -> int:
    try:
        prices = read_daily_prices(args.path)
        block = symbols_block(prices)
    except FileNotFoundError:
        print(f"error: {args.path}: file not found", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(block, end="")
    return EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    configure_logging(args.log_level)
    path = choose_config_path(args.config)
    try:
        config = load_config(path)
    except ConfigError as exc:
        logger.error("invalid config: %s", exc)
        return EXIT_ERROR
    logger.info("loaded config from %s", path.resolve())
    if args.port is not None and not 0 <= args.port <= 65535:
        logger.error("invalid --port %d: expected a port from 0 to 65535", args.port)
        return EXIT_USAGE
    try:
        config = backplane_command.with_backplane_url(config, args.backplane)
    except ValueError as exc:
        logger.error("%s", exc)
        return EXIT_USAGE
    if args.processes < 1:
        logger.error("invalid --processes %d: expected 1 or more", args.processes)
        return EXIT_USAGE
    if args.processes > 1 and not config.backplane.url:
        logger.error(
            "--processes %d needs a backplane, so that every process serves the same ticks: "
            "pass --backplane URL and run `ticker feed --backplane URL`",
            args.processes,
        )
        return EXIT_USAGE
    if config.backplane.url:
        try:
            require_redis()
        except ConfigError as exc:
            logger.error("%s", exc)
            return EXIT_ERROR
    if args.processes == 1:
        return asyncio.run(serve(config, args.host, args.port, path))

    host = args.host if args.host is not None else config.server.host
    port = args.port if args.port is not None else config.server.port
    try:
        sockets = bind_listening_sockets(host, port)
    except OSError as exc:
        _log_listen_error(exc, f"{host}:{port}", config.source)
        return EXIT_ERROR
    return run_processes(
        args.processes, lambda: asyncio.run(serve(config, host, port, path, sockets))
    )


async def serve(
    config: Config,
    host: str | None,
    port: int | None,
    config_path: Path | None = None,
    sockets: list[socket.socket] | None = None,
) -> int:
    """Run a server until SIGINT or SIGTERM; return the exit status.

    With ``config_path``, the server reloads its symbols when that file changes and on SIGHUP.
    ``sockets`` are listening sockets that other processes share; see TickerServer.start.
    """
    try:
        server = TickerServer(config, host, port)
    except ConfigError as exc:
        logger.error("invalid config: %s", exc)
        return EXIT_ERROR

    # Handle the signals before listening, so that a signal sent as soon as the server
    # reports it is listening still stops it in order.
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    reloader = ConfigReloader(server, config_path) if config_path is not None else None
    with stop_signals(stop_requested):
        if reloader is not None:
            loop.add_signal_handler(signal.SIGHUP, _on_reload_signal, reloader)
        try:
            return await _run_until_stopped(server, config, stop_requested, reloader, sockets)
        finally:
            loop.remove_signal_handler(signal.SIGHUP)


async def _run_until_stopped(
    server: TickerServer,
    config: Config,
    stop_requested: asyncio.Event,
    reloader: ConfigReloader | None,
    sockets: list[socket.socket] | None,
) -> int:
    """Start the backplane node if configured, then listen, until ``stop_requested`` is set."""
    node = None
    if config.backplane.url:
        server.context.node_name = f"{socket.gethostname()}-{os.getpid()}"
        try:
            node = await backplane_command.start_node(config, server.hub, stop_requested)
        except BackplaneError as exc:
            logger.error("%s", exc)
            return EXIT_ERROR
        if node is None:  # stopped while waiting for the feed's first batch
            return EXIT_OK
        server.context.feed = None
        server.context.backplane = node
    try:
        server.start(run_feed=node is None, sockets=sockets)
    except OSError as exc:
        _log_listen_error(exc, f"{server.host}:{server.requested_port}", config.source)
        if node is not None:
            await node.stop()
        return EXIT_ERROR
    if reloader is not None:
        reloader.start()
    await stop_requested.wait()
    # Each part gets a bounded time to stop, so that one stuck part cannot keep the process up.
    timeout = config.server.shutdown_timeout
    if reloader is not None:
        await _stop_within(reloader.stop(), "the config watcher", timeout)
    if node is not None:
        await _stop_within(node.stop(), "the backplane reader", timeout)
    await server.stop()
    return EXIT_OK


async def _stop_within(stopping: Coroutine[Any, Any, None], part: str, timeout: float) -> None:
    try:
        await asyncio.wait_for(stopping, timeout)
    except TimeoutError:
        logger.warning("%s did not stop within %g s; stopping without it", part, timeout)


def _log_listen_error(exc: OSError, where: str, source: str) -> None:
    if exc.errno == errno.EADDRINUSE:
        logger.error(
            "cannot listen on %s: the port is already in use; "
            "stop the other server or choose another port with --port",
            where,
        )
    else:
        logger.error(
            "cannot listen on %s: %s; check server.host in %s or --host",
            where,
            exc.strerror or exc,
            source,
        )


@contextlib.contextmanager
def stop_signals(stop_requested: asyncio.Event) -> Iterator[None]:
    """Set ``stop_requested`` on SIGINT or SIGTERM while the block runs on the event loop."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _on_signal, signum, stop_requested)
    try:
        yield
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


def _on_reload_signal(reloader: ConfigReloader) -> None:
    logger.info("received SIGHUP")
    reloader.request_reload("SIGHUP")


def _on_signal(signum: int, stop_requested: asyncio.Event) -> None:
    logger.info("received %s", signal.Signals(signum).name)
    stop_requested.set()
