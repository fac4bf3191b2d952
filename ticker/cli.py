"""The ``ticker`` command: ``serve``, ``check-config``, ``calibrate`` and ``bench``.

This is the only module that configures logging handlers or writes to the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from ticker.app import enabled_transports
from ticker.prices.bars import read_daily_prices
from ticker.bench import command as bench_command
from ticker.prices.calibrate import symbols_block
from ticker.config import Config, load_config
from ticker.errors import ConfigError
from ticker.reload import ConfigReloader
from ticker.resources import default_config_path
from ticker.server import TickerServer

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
    return asyncio.run(serve(config, args.host, args.port, path))


async def serve(
    config: Config, host: str | None, port: int | None, config_path: Path | None = None
) -> int:
    """Run a server until SIGINT or SIGTERM; return the exit status.

    With ``config_path``, the server reloads its symbols when that file changes and on SIGHUP.
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
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, _on_signal, signum, stop_requested)
    reloader = ConfigReloader(server, config_path) if config_path is not None else None
    if reloader is not None:
        loop.add_signal_handler(signal.SIGHUP, _on_reload_signal, reloader)
    try:
        try:
            server.start()
        except OSError as exc:
            where = f"{server.host}:{server.requested_port}"
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
                    config.source,
                )
            return EXIT_ERROR
        if reloader is not None:
            reloader.start()
        await stop_requested.wait()
        if reloader is not None:
            await reloader.stop()
        await server.stop()
        return EXIT_OK
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def _on_reload_signal(reloader: ConfigReloader) -> None:
    logger.info("received SIGHUP")
    reloader.request_reload("SIGHUP")


def _on_signal(signum: int, stop_requested: asyncio.Event) -> None:
    logger.info("received %s", signal.Signals(signum).name)
    stop_requested.set()
