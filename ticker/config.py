"""Load and validate ``config.toml`` into one frozen, typed object.

Every section and key is optional except ``[[symbols]]``; a missing key takes the default
shown in the dataclasses below. Unknown keys are rejected so that a typo cannot silently leave a
default in force. Durations are seconds, sizes are counts of items unless a name says bytes.
"""

from __future__ import annotations

import ipaddress
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from ticker.access_config import AccessConfig, parse_access
from ticker.prices.bars import SHIPPED_PRICES, DailyPrices, read_daily_prices
from ticker.errors import ConfigError

SYMBOL_PATTERN = re.compile(r"[A-Z0-9.\-]{1,10}")
DEFAULT_SPREAD = 0.0005
MAX_SPREAD = 0.1
MODEL_KEYS = ("price", "volatility", "drift")
"""Symbol keys that only a simulated feed needs."""
MIN_HEADER_SIZE = 1024
"""Bytes; a browser's request line and headers for this server's pages fit in this."""

T = TypeVar("T")


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8888
    max_clients: int = 10000
    """Hub subscriptions at once: WebSocket clients plus waiting long-polls."""
    shutdown_timeout: float = 5.0
    """Seconds a stop waits for clients to finish closing before it drops them."""
    xheaders: bool = False
    """Take the client address from ``X-Real-IP`` or ``X-Forwarded-For``; turn on only behind a
    reverse proxy that sets them, or clients can pick their own address."""
    idle_connection_timeout: float = 60.0
    """Seconds a connection may take to send a request's headers, or stay idle between two."""
    body_timeout: float = 10.0
    """Seconds a client may take to send a request body."""
    max_header_size: int = 16384
    """Largest request line plus headers, in bytes."""
    max_body_size: int = 65536
    """Largest request body in bytes; no endpoint reads one."""


FEED_MODES = ("simulated", "replay")


@dataclass(frozen=True)
class FeedConfig:
    mode: str = "simulated"
    """``simulated`` (geometric Brownian motion) or ``replay`` (daily bars from a CSV file)."""
    tick_interval: float = 0.5
    """Mean seconds between two updates of a symbol whose table sets no ``mean_interval``."""
    time_scale: float = 1.0
    """Simulated market seconds per real second."""
    seed: int | None = None
    replay_file: str = ""
    """The CSV file of daily bars to replay; empty means the data set shipped with ticker.
    A relative path is resolved against the config file's folder."""
    replay_day_seconds: float = 60.0
    """Real seconds that one replayed trading day lasts."""


@dataclass(frozen=True)
class HubConfig:
    history_size: int = 10000


@dataclass(frozen=True)
class LongPollConfig:
    hold_timeout: float = 25.0
    max_hold_timeout: float = 60.0
    max_ticks_per_response: int = 1000


@dataclass(frozen=True)
class WebSocketConfig:
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    max_message_size: int = 65536
    """Largest client message in bytes."""
    max_pending_messages: int = 200
    """Messages queued to one client at most; replies and replays count, live ticks conflate."""
    slow_consumer_timeout: float = 10.0
    """Seconds a client may leave a message unread before it is disconnected."""


@dataclass(frozen=True)
class SseConfig:
    heartbeat_interval: float = 15.0
    """Seconds between comment lines that keep idle proxies from closing the stream."""
    retry_interval: float = 2.0
    """Reconnect delay suggested to EventSource clients (sent as ``retry:`` in ms)."""
    max_pending_messages: int = 200
    slow_consumer_timeout: float = 10.0


@dataclass(frozen=True)
class LimitsConfig:
    max_connections_per_address: int = 100
    """Open WebSocket or SSE connections from one client address, per transport."""
    max_polls_per_address: int = 100
    """Long-polls waiting at once from one client address."""
    max_symbols_per_subscription: int = 100
    """Symbols named in one request or subscribe message; ``*`` counts as one."""


@dataclass(frozen=True)
class TransportsConfig:
    enabled: tuple[str, ...] = ("websocket", "sse", "longpoll", "poll")
    """Transport names, in the dashboard's menu order."""


@dataclass(frozen=True)
class BackplaneConfig:
    url: str = ""
    """Redis URL (``redis://host:port/db``) of the backplane; empty serves from an in-process
    feed."""
    stream: str = "ticker"
    """Redis key of the stream; the feed's lock key is this name plus ``:feed-lock``."""


@dataclass(frozen=True)
class SymbolConfig:
    symbol: str
    name: str
    price: float
    """Start price in dollars."""
    volatility: float
    """Annualised volatility of log returns (0.25 is 25 % a year)."""
    drift: float
    """Annualised drift of the price (0.05 is 5 % a year)."""
    mean_interval: float = 0.5
    """Mean seconds between two updates; each gap is drawn at random around it."""
    spread: float = DEFAULT_SPREAD
    """Bid-ask spread as a fraction of the price (0.0005 is 5 basis points)."""


@dataclass(frozen=True)
class Config:
    symbols: tuple[SymbolConfig, ...]
    server: ServerConfig = ServerConfig()
    feed: FeedConfig = FeedConfig()
    hub: HubConfig = HubConfig()
    longpoll: LongPollConfig = LongPollConfig()
    websocket: WebSocketConfig = WebSocketConfig()
    sse: SseConfig = SseConfig()
    limits: LimitsConfig = LimitsConfig()
    transports: TransportsConfig = TransportsConfig()
    access: AccessConfig = AccessConfig()
    backplane: BackplaneConfig = BackplaneConfig()
    source: str = "<defaults>"
    """The file this config was read from, for messages and logs."""
    replay: DailyPrices | None = None
    """The daily bars to replay, read and checked with the config in replay mode."""

    def symbol_names(self) -> tuple[str, ...]:
        return tuple(entry.symbol for entry in self.symbols)


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML file at ``path``.

    Raises ConfigError, whose message names the file, the key and what is expected, for a missing
    or unreadable file, a TOML syntax error and every invalid value.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the file: {exc}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate TOML text; ``source`` names it in error messages. Raises ConfigError."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)".
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None
    return _Validator(source).config(data)


class _Validator:
    """Turns the parsed TOML tables into dataclasses, naming the key of every error."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {problem}")

    def config(self, data: Mapping[str, Any]) -> Config:
        sections: dict[str, Callable[[Mapping[str, Any], str], Any]] = {
            "server": lambda table, key: self.section(table, key, ServerConfig, self.check_server),
            "feed": lambda table, key: self.section(table, key, FeedConfig, self.check_feed),
            "hub": lambda table, key: self.section(table, key, HubConfig, self.check_hub),
            "longpoll": lambda table, key: self.section(
                table, key, LongPollConfig, self.check_longpoll
            ),
            "websocket": lambda table, key: self.section(
                table, key, WebSocketConfig, self.check_websocket
            ),
            "sse": lambda table, key: self.section(table, key, SseConfig, self.check_sse),
            "limits": lambda table, key: self.section(table, key, LimitsConfig, self.check_limits),
            "transports": lambda table, key: self.section(
                table, key, TransportsConfig, self.check_transports
            ),
            "backplane": lambda table, key: self.section(
                table, key, BackplaneConfig, self.check_backplane
            ),
        }
        self.reject_unknown(data, [*sections, "symbols", "access"], prefix="")

        values: dict[str, Any] = {}
        for name, build in sections.items():
            table = data.get(name, {})
            if not isinstance(table, dict):
                raise self.fail(name, f"expected a table [{name}], got {_describe(table)}")
            values[name] = build(table, name)
        feed: FeedConfig = values["feed"]
        replay = self.replay_prices(feed) if feed.mode == "replay" else None
        values["symbols"] = self.symbols(data.get("symbols"), feed, replay)
        symbol_names = tuple(entry.symbol for entry in values["symbols"])
        values["access"] = parse_access(data.get("access", {}), symbol_names, self.source, self.fail)
        return Config(source=self.source, replay=replay, **values)

    def reject_unknown(self, table: Mapping[str, Any], known: list[str], prefix: str) -> None:
        for key in table:
            if key not in known:
                expected = ", ".join(known)
                raise self.fail(f"{prefix}{key}", f"unknown key; expected one of: {expected}")

    def section(
        self,
        table: Mapping[str, Any],
        name: str,
        cls: type[T],
        check: Callable[[T, str], None],
    ) -> T:
        known = [field.name for field in fields(cls)]  # type: ignore[arg-type]
        self.reject_unknown(table, known, prefix=f"{name}.")
        values: dict[str, Any] = {}
        defaults = cls()
        for key in known:
            if key in table:
                default = getattr(defaults, key)
                values[key] = self.typed(table[key], default, f"{name}.{key}")
        result = cls(**values)
        check(result, name)
        return result

    def typed(self, value: Any, default: Any, key: str) -> Any:
        """Check that ``value`` has the type of ``default``; integers are accepted as floats."""
        if default is None:  # an optional integer, such as the seed
            default = 0
        if isinstance(default, bool) or isinstance(value, bool):
            if type(value) is not type(default):
                raise self.fail(key, f"expected {_type_name(default)}, got {_describe(value)}")
            return value
        if isinstance(default, float):
            if not isinstance(value, (int, float)):
                raise self.fail(key, f"expected a number, got {_describe(value)}")
            if not math.isfinite(value):
                raise self.fail(key, f"expected a finite number, got {value}")
            return float(value)
        if isinstance(default, int):
            if not isinstance(value, int):
                raise self.fail(key, f"expected an integer, got {_describe(value)}")
            return value
        if isinstance(default, str):
            if not isinstance(value, str):
                raise self.fail(key, f"expected a string, got {_describe(value)}")
            return value
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise self.fail(key, f"expected an array of strings, got {_describe(value)}")
            return tuple(value)
        raise AssertionError(f"no type check for {key}")

    def check_server(self, server: ServerConfig, name: str) -> None:
        if not server.host:
            raise self.fail(f"{name}.host", "expected a host name or address, got an empty string")
        if ":" in server.host and not _is_ipv6(server.host):
            raise self.fail(
                f"{name}.host",
                f"expected a host name or address without a port, got {server.host!r}; "
                "set the port in server.port",
            )
        if not 0 <= server.port <= 65535:
            raise self.fail(f"{name}.port", f"expected a port from 0 to 65535, got {server.port}")
        self.require_positive(server.max_clients, f"{name}.max_clients")
        self.require_positive(server.shutdown_timeout, f"{name}.shutdown_timeout")
        self.require_positive(server.idle_connection_timeout, f"{name}.idle_connection_timeout")
        self.require_positive(server.body_timeout, f"{name}.body_timeout")
        # A smaller limit would reject a browser's ordinary request headers.
        if server.max_header_size < MIN_HEADER_SIZE:
            raise self.fail(
                f"{name}.max_header_size",
                f"expected at least {MIN_HEADER_SIZE} bytes, got {server.max_header_size}",
            )
        if server.max_body_size < 0:
            raise self.fail(
                f"{name}.max_body_size", f"expected 0 bytes or more, got {server.max_body_size}"
            )

    def check_feed(self, feed: FeedConfig, name: str) -> None:
        if feed.mode not in FEED_MODES:
            raise self.fail(
                f"{name}.mode", f"expected one of {', '.join(FEED_MODES)}, got {feed.mode!r}"
            )
        self.require_positive(feed.tick_interval, f"{name}.tick_interval")
        self.require_positive(feed.time_scale, f"{name}.time_scale")
        self.require_positive(feed.replay_day_seconds, f"{name}.replay_day_seconds")

    def replay_prices(self, feed: FeedConfig) -> DailyPrices:
        """Read the file that ``feed.replay_file`` names, relative to the config's folder."""
        if not feed.replay_file:
            path = SHIPPED_PRICES
        else:
            path = Path(feed.replay_file).expanduser()
            if not path.is_absolute() and not self.source.startswith("<"):
                path = Path(self.source).parent / path
        try:
            return read_daily_prices(path)
        except FileNotFoundError:
            raise self.fail("feed.replay_file", f"file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise self.fail("feed.replay_file", f"cannot read {path}: {exc}") from None
        except ValueError as exc:
            raise self.fail("feed.replay_file", f"invalid daily prices: {exc}") from None

    def check_hub(self, hub: HubConfig, name: str) -> None:
        self.require_positive(hub.history_size, f"{name}.history_size")

    def check_longpoll(self, longpoll: LongPollConfig, name: str) -> None:
        self.require_positive(longpoll.hold_timeout, f"{name}.hold_timeout")
        self.require_positive(longpoll.max_hold_timeout, f"{name}.max_hold_timeout")
        self.require_positive(longpoll.max_ticks_per_response, f"{name}.max_ticks_per_response")
        if longpoll.hold_timeout > longpoll.max_hold_timeout:
            raise self.fail(
                f"{name}.hold_timeout",
                f"expected at most max_hold_timeout ({longpoll.max_hold_timeout}), "
                f"got {longpoll.hold_timeout}",
            )

    def check_websocket(self, websocket: WebSocketConfig, name: str) -> None:
        if websocket.ping_interval < 0:
            raise self.fail(
                f"{name}.ping_interval",
                f"expected 0 (no pings) or a positive number, got {websocket.ping_interval}",
            )
        if websocket.ping_timeout < 0:
            raise self.fail(
                f"{name}.ping_timeout", f"expected a positive number, got {websocket.ping_timeout}"
            )
        # Tornado 6.5 and later cap the timeout at the interval and only warn about it.
        if websocket.ping_interval > 0 and websocket.ping_timeout > websocket.ping_interval:
            raise self.fail(
                f"{name}.ping_timeout",
                f"expected at most ping_interval ({websocket.ping_interval}), "
                f"got {websocket.ping_timeout}",
            )
        self.require_positive(websocket.max_message_size, f"{name}.max_message_size")
        self.require_positive(websocket.max_pending_messages, f"{name}.max_pending_messages")
        self.require_positive(websocket.slow_consumer_timeout, f"{name}.slow_consumer_timeout")

    def check_sse(self, sse: SseConfig, name: str) -> None:
        self.require_positive(sse.heartbeat_interval, f"{name}.heartbeat_interval")
        self.require_positive(sse.retry_interval, f"{name}.retry_interval")
        self.require_positive(sse.max_pending_messages, f"{name}.max_pending_messages")
        self.require_positive(sse.slow_consumer_timeout, f"{name}.slow_consumer_timeout")

    def check_limits(self, limits: LimitsConfig, name: str) -> None:
        for field_ in fields(limits):
            self.require_positive(getattr(limits, field_.name), f"{name}.{field_.name}")

    def check_transports(self, transports: TransportsConfig, name: str) -> None:
        # Whether each name is a registered transport is checked when the server is built.
        if not transports.enabled:
            raise self.fail(f"{name}.enabled", "empty; enable at least one transport")
        for index, transport in enumerate(transports.enabled):
            if transport in transports.enabled[:index]:
                raise self.fail(f"{name}.enabled[{index}]", f"duplicate transport {transport!r}")

    def check_backplane(self, backplane: BackplaneConfig, name: str) -> None:
        problem = backplane_url_problem(backplane.url) if backplane.url else None
        if problem is not None:
            raise self.fail(f"{name}.url", problem)
        if not backplane.stream:
            raise self.fail(f"{name}.stream", "expected a Redis key name, got an empty string")

    def require_positive(self, value: float, key: str) -> None:
        if value <= 0:
            raise self.fail(key, f"expected a positive number, got {value}")

    def symbols(
        self, entries: Any, feed: FeedConfig, replay: DailyPrices | None
    ) -> tuple[SymbolConfig, ...]:
        if entries is None and replay is not None:
            # Replay without [[symbols]] tables replays every symbol of the file.
            entries = [{"symbol": symbol, "name": symbol} for symbol in replay.symbols()]
        if entries is None:
            raise self.fail("symbols", "missing; add at least one [[symbols]] table")
        if not isinstance(entries, list):
            raise self.fail("symbols", f"expected [[symbols]] tables, got {_describe(entries)}")
        if not entries:
            raise self.fail("symbols", "empty; add at least one [[symbols]] table")

        known = [field.name for field in fields(SymbolConfig)]
        result: list[SymbolConfig] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            prefix = f"symbols[{index}]"
            if not isinstance(entry, dict):
                raise self.fail(prefix, f"expected a [[symbols]] table, got {_describe(entry)}")
            self.reject_unknown(entry, known, prefix=f"{prefix}.")
            symbol_config = self.symbol(entry, prefix, feed, replay)
            self.check_symbol(symbol_config, prefix)
            if symbol_config.symbol in seen:
                raise self.fail(
                    f"{prefix}.symbol",
                    f"duplicate symbol {symbol_config.symbol!r}, "
                    f"already defined in symbols[{seen[symbol_config.symbol]}]",
                )
            seen[symbol_config.symbol] = index
            result.append(symbol_config)
        return tuple(result)

    def symbol(
        self, entry: Mapping[str, Any], prefix: str, feed: FeedConfig, replay: DailyPrices | None
    ) -> SymbolConfig:
        """Build one symbol's settings; in replay mode the file supplies the start price."""
        # The price model's keys are needed only to simulate; a replay takes prices from the file.
        required = ["symbol", "name"] if replay is not None else ["symbol", "name", *MODEL_KEYS]
        for key in required:
            if key not in entry:
                raise self.fail(f"{prefix}.{key}", "missing")
        symbol = self.typed(entry["symbol"], "", f"{prefix}.symbol")
        start_price = 1.0
        if replay is not None:
            bars = replay.bars.get(symbol)
            if bars is None:
                raise self.fail(
                    f"{prefix}.symbol",
                    f"{symbol!r} has no rows in the replay file {replay.source}; remove the "
                    f"table or replay a file that has it (the file has "
                    f"{', '.join(replay.symbols())})",
                )
            start_price = bars[0].open

        def number(key: str, default: float) -> float:
            if key not in entry:
                return default
            value: float = self.typed(entry[key], 0.0, f"{prefix}.{key}")
            return value

        return SymbolConfig(
            symbol=symbol,
            name=self.typed(entry["name"], "", f"{prefix}.name"),
            price=number("price", start_price),
            volatility=number("volatility", 0.0),
            drift=number("drift", 0.0),
            mean_interval=number("mean_interval", feed.tick_interval),
            spread=number("spread", DEFAULT_SPREAD),
        )

    def check_symbol(self, entry: SymbolConfig, prefix: str) -> None:
        if not SYMBOL_PATTERN.fullmatch(entry.symbol):
            raise self.fail(
                f"{prefix}.symbol",
                f"expected 1 to 10 characters of A-Z, 0-9, '.' and '-', got {entry.symbol!r}",
            )
        if not entry.name.strip():
            raise self.fail(f"{prefix}.name", "expected a display name, got an empty string")
        if entry.price <= 0:
            raise self.fail(f"{prefix}.price", f"expected a positive price, got {entry.price}")
        if entry.volatility < 0:
            raise self.fail(
                f"{prefix}.volatility",
                f"expected a volatility of 0 or more, got {entry.volatility}",
            )
        self.require_positive(entry.mean_interval, f"{prefix}.mean_interval")
        if not 0 <= entry.spread <= MAX_SPREAD:
            raise self.fail(
                f"{prefix}.spread",
                f"expected a fraction of the price from 0 to {MAX_SPREAD} "
                f"(0.0005 is 5 basis points), got {entry.spread}",
            )


BACKPLANE_SCHEMES = ("redis", "rediss", "unix")


def backplane_url_problem(url: str) -> str | None:
    """Return why ``url`` is not a Redis URL, or None when it is one."""
    expected = "expected a Redis URL such as redis://127.0.0.1:6379/0"
    scheme, separator, _ = url.partition("://")
    if not separator:
        return f"{expected}, got {url!r}"
    if scheme not in BACKPLANE_SCHEMES:
        # Only the scheme is quoted: the rest of a URL may hold a password.
        return f"{expected}, got a URL with the scheme {scheme!r}"
    return None


def _type_name(value: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _describe(value: Any) -> str:
    kinds = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }
    kind = kinds.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return kind
    return f"{kind} ({value!r})"


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
