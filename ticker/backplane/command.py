"""``ticker feed`` and the backplane side of ``ticker serve``.

Nothing here imports redis-py at module level, so ``ticker`` runs without the ``redis`` extra
until a backplane is asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ticker.app import make_hub
from ticker.backplane import BackplaneError, require_redis
from ticker.config import Config, backplane_url_problem, load_config
from ticker.feed import Feed
from ticker.hub import Hub

if TYPE_CHECKING:
    from ticker.backplane.lock import FeedLock
    from ticker.backplane.node import BackplaneNode

logger = logging.getLogger("ticker.backplane")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
STOP_TIMEOUT = 5.0
"""Seconds a stopping feed spends appending its last queued batches."""


def add_feed_parser(commands: Any) -> None:
    feed = commands.add_parser(
        "feed",
        help="run only the price feed and publish it to a Redis stream for server nodes",
        description="Run the simulated price feed and append every batch to a Redis stream, "
        "which `ticker serve --backplane URL` nodes read. Only one feed may publish to a "
        "stream at a time; a restarted feed starts a new epoch.",
        allow_abbrev=False,
    )
    feed.add_argument(
        "--config",
        type=Path,
        help="config file (default: ./config.toml if present, else the one shipped with ticker)",
    )
    add_backplane_argument(feed)
    feed.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="lowest level logged (default: INFO)",
    )
    feed.set_defaults(handler=run_feed_command)


def add_backplane_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backplane",
        metavar="URL",
        help="Redis URL of the backplane, such as redis://127.0.0.1:6379/0 "
        "(default: backplane.url from the config)",
    )


def with_backplane_url(config: Config, url: str | None) -> Config:
    """Return ``config`` with ``url`` as its backplane URL when ``url`` is given.

    Raises ValueError naming the URL when it is not a Redis URL.
    """
    if url is None:
        return config
    problem = backplane_url_problem(url)
    if problem is not None:
        raise ValueError(f"invalid --backplane: {problem}")
    return dataclasses.replace(config, backplane=dataclasses.replace(config.backplane, url=url))


def run_feed_command(args: argparse.Namespace) -> int:
    from ticker import cli
    from ticker.errors import ConfigError

    cli.configure_logging(args.log_level)
    path = cli.choose_config_path(args.config)
    try:
        config = with_backplane_url(load_config(path), args.backplane)
    except (ConfigError, ValueError) as exc:
        logger.error("%s", exc)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_ERROR
    if not config.backplane.url:
        logger.error("ticker feed needs a backplane: pass --backplane URL or set [backplane] url")
        return EXIT_USAGE
    try:
        require_redis()
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_ERROR
    return asyncio.run(feed_until_signal(config))


async def feed_until_signal(config: Config) -> int:
    from ticker import cli

    stop_requested = asyncio.Event()
    with cli.stop_signals(stop_requested):
        return await run_feed(config, stop_requested)


async def run_feed(config: Config, stop_requested: asyncio.Event) -> int:
    """Publish the feed to the stream until ``stop_requested`` is set; return the exit status."""
    from ticker.backplane.connection import RedisError, check_reachable, connect, describe_url
    from ticker.backplane.lock import FeedLock, FeedLockHeld
    from ticker.backplane.publisher import StreamPublisher
    from ticker.backplane.stream import lock_key, stream_length

    url, stream = config.backplane.url, config.backplane.stream
    client = connect(url)
    try:
        await check_reachable(client, url)
        hub = make_hub(config)
        lock = FeedLock(client, lock_key(stream), hub.epoch)
        await lock.acquire()
    except (BackplaneError, FeedLockHeld, RedisError) as exc:
        logger.error("%s", exc)
        await client.aclose()
        return EXIT_ERROR

    length = stream_length(config.hub.history_size)
    publisher = StreamPublisher(client, stream, hub.epoch, length, max_pending=length, lock=lock)
    hub.subscribe(publisher, None, "backplane", "stream")
    feed = Feed.from_config(hub, config)
    loop = asyncio.get_running_loop()
    writer = loop.create_task(publisher.run(), name="ticker-backplane-writer")
    renewer = loop.create_task(keep_lock(lock), name="ticker-backplane-lock")
    stopper = loop.create_task(stop_requested.wait(), name="ticker-feed-stop")
    feed.start()
    logger.info(
        "feed publishing to stream %r at %s (epoch %s, %d symbols, about %d entries kept)",
        stream,
        describe_url(url),
        hub.epoch,
        len(config.symbols),
        length,
    )

    done, _ = await asyncio.wait({writer, renewer, stopper}, return_when=asyncio.FIRST_COMPLETED)
    status = EXIT_OK
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            logger.error("feed stopped: %s", task.exception())
            status = EXIT_ERROR

    await feed.stop()
    for task in (writer, renewer, stopper):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if status == EXIT_OK:
        try:
            await asyncio.wait_for(publisher.flush(), STOP_TIMEOUT)
            await lock.release()
        except (RedisError, TimeoutError) as exc:
            logger.warning("appending the last batches or releasing the lock failed: %s", exc)
    await client.aclose()
    logger.info("feed stopped after %d batches appended", publisher.appended_batches)
    return status


async def keep_lock(lock: FeedLock) -> None:
    """Renew the feed lock every third of its lifetime; raises FeedLockHeld once it is lost."""
    from ticker.backplane.connection import RedisError

    while True:
        await asyncio.sleep(lock.ttl / 3)
        try:
            await lock.renew()
        except RedisError:
            pass  # the publisher logs the loss and renews the lock before appending again


async def start_node(
    config: Config, hub: Hub, stop_requested: asyncio.Event
) -> BackplaneNode | None:
    """Connect to the backplane, back-fill ``hub`` and follow the stream.

    Returns None when ``stop_requested`` is set first (the node may wait for the feed's first
    batch). Raises BackplaneError naming the URL when Redis cannot be reached.
    """
    from ticker.backplane.connection import RedisError, check_reachable, connect, describe_url
    from ticker.backplane.node import BackplaneNode
    from ticker.backplane.stream import stream_length

    url, stream = config.backplane.url, config.backplane.stream
    client = connect(url)
    node = BackplaneNode(
        client, stream, hub, stream_length(config.hub.history_size)
    )

    async def start() -> None:
        await check_reachable(client, url)
        await node.start()

    starting = asyncio.ensure_future(start())
    stopping = asyncio.ensure_future(stop_requested.wait())
    await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await client.aclose()
        return None
    try:
        starting.result()
    except RedisError as exc:
        await client.aclose()
        raise BackplaneError(
            f"reading stream {stream!r} at {describe_url(url)} failed: {exc}"
        ) from None
    except BackplaneError:
        await client.aclose()
        raise
    logger.info("following stream %r at %s", stream, describe_url(url))
    return node
