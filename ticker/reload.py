"""Live config reload: watch the config file, and reload its symbols without a restart.

The watcher follows the file's folder rather than the file, because many editors save by writing
a new file and renaming it over the old one. Changes within ``DEBOUNCE_MS`` are taken as one
save. A reload reads and validates the file off the event loop. An invalid file is rejected
with the message start-up would give, and the running config stays. Only ``[[symbols]]`` changes
apply live; other sections take effect at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import watchfiles

from ticker.config import Config, load_config
from ticker.errors import ConfigError
from ticker.server import TickerServer

logger = logging.getLogger("ticker.reload")

DEBOUNCE_MS = 300
"""Changes closer together than this are one save (an editor may write, then rename)."""
STEP_MS = 50
"""How often the watcher thread looks for changes and for the stop request."""
RESTART_SECTIONS = tuple(
    field.name for field in fields(Config) if field.name not in ("symbols", "source", "replay")
)


def apply_config(server: TickerServer, new: Config) -> None:
    """Apply the symbols of ``new`` to the running ``server``; other sections wait for a restart.

    Raises ConfigError, before anything changes, when ``new`` switches the feed mode or a replay
    feed has no data for a new symbol.
    """
    old = server.config
    if new.feed.mode != old.feed.mode:
        # The symbols of one mode are not valid in the other: a replay's carry no price model.
        raise ConfigError(
            f"{new.source}: feed.mode: changing {old.feed.mode!r} to {new.feed.mode!r} needs a "
            "restart; restart the server to apply it"
        )
    # tick_interval is only the symbols' default mean interval, which applies live.
    new_feed = replace(new.feed, tick_interval=old.feed.tick_interval)
    restart = [
        name
        for name in RESTART_SECTIONS
        if (new_feed if name == "feed" else getattr(new, name)) != getattr(old, name)
    ]
    if restart:
        logger.info(
            "config %s: changes to %s take effect at the next start",
            new.source,
            ", ".join(f"[{name}]" for name in restart),
        )
    if new.symbols == old.symbols:
        logger.info("config %s reloaded: symbols unchanged", new.source)
        return

    try:
        server.feed.apply_symbols(new.symbols)
    except KeyError as exc:
        raise ConfigError(
            f"{new.source}: symbols: {exc.args[0]!r} is not in the replay data loaded at start; "
            "restart the server to replay another file"
        ) from None
    server.config = replace(old, symbols=new.symbols)
    server.context.config = server.config
    changed = [
        entry.symbol
        for entry in new.symbols
        if entry.symbol in old.symbol_names() and entry not in old.symbols
    ]
    server.hub.update_symbols({entry.symbol: entry.price for entry in new.symbols})
    logger.info(
        "config %s reloaded: %d symbols, settings changed for %s",
        new.source,
        len(new.symbols),
        ", ".join(changed) or "none",
    )


class ConfigReloader:
    """Reloads ``server``'s symbols from ``path`` when the file changes or on request."""

    def __init__(self, server: TickerServer, path: Path):
        self.server = server
        self.path = path.resolve()
        self.reloads = 0
        """Reloads attempted, accepted or rejected."""
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        """Start watching the file's folder on the running event loop."""
        self._spawn(self._watch(), "ticker-config-watch")

    def request_reload(self, reason: str) -> None:
        """Reload soon, for ``reason`` (logged); for signal handlers, which cannot await."""
        self._spawn(self.reload(reason), "ticker-config-reload")

    async def stop(self) -> None:
        """Stop watching and wait for a reload in progress; idempotent."""
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def reload(self, reason: str) -> bool:
        """Read the file and apply it; return whether it was applied.

        An invalid file is logged with the start-up message and leaves the running config.
        """
        async with self._lock:
            self.reloads += 1
            logger.info("reloading config %s (%s)", self.path, reason)
            loop = asyncio.get_running_loop()
            try:
                config = await loop.run_in_executor(None, load_config, self.path)
                apply_config(self.server, config)
            except ConfigError as exc:
                logger.warning("invalid config: %s; the running config stays", exc)
                return False
            return True

    async def _watch(self) -> None:
        name = self.path.name

        def is_config_file(_change: watchfiles.Change, changed: str) -> bool:
            return Path(changed).name == name

        # awatch sets up the watch in its first step, before it waits in a thread for changes.
        # This callback runs after that step, so the log line means that changes are seen now.
        asyncio.get_running_loop().call_soon(logger.info, "watching %s for changes", self.path)
        try:
            async for _changes in watchfiles.awatch(
                self.path.parent,
                watch_filter=is_config_file,
                debounce=DEBOUNCE_MS,
                step=STEP_MS,
                stop_event=self._stop,
                recursive=False,
            ):
                await self.reload("file changed")
        except Exception:
            logger.exception("watching %s failed; reload with SIGHUP instead", self.path)

    def _spawn(self, coroutine: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
