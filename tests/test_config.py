from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO_ROOT, SMALL_CONFIG
from ticker.config import load_config, parse_config
from ticker.errors import ConfigError
from ticker.resources import default_config_path

SYMBOL = """
[[symbols]]
symbol = "AAPL"
name = "Apple Inc."
price = 100.0
volatility = 0.2
drift = 0.05
"""


def config_with(extra: str, symbols: str = SYMBOL) -> str:
    return extra + "\n" + symbols


def test_shipped_config_is_valid() -> None:
    config = load_config(REPO_ROOT / "config.toml")
    assert len(config.symbols) == 12
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8888
    assert config.longpoll.hold_timeout == 25.0


def test_package_default_is_shipped_config() -> None:
    assert default_config_path().read_bytes() == (REPO_ROOT / "config.toml").read_bytes()


def test_defaults_apply_to_missing_sections() -> None:
    config = parse_config(SYMBOL)
    assert config.server.port == 8888
    assert config.feed.seed is None
    assert config.hub.history_size == 10000
    assert config.websocket.ping_timeout <= config.websocket.ping_interval


def test_server_limits_are_bounded_by_default() -> None:
    server = parse_config(SYMBOL).server
    assert server.idle_connection_timeout == 60.0
    assert server.body_timeout == 10.0
    assert server.max_header_size == 16384
    assert server.max_body_size == 65536


def test_transports_default_to_all_builtins() -> None:
    config = parse_config(SYMBOL)
    assert config.transports.enabled == ("websocket", "sse", "longpoll", "poll")


def test_transports_keep_config_order() -> None:
    config = parse_config(config_with('[transports]\nenabled = ["poll", "websocket"]\n'))
    assert config.transports.enabled == ("poll", "websocket")


def test_integers_are_accepted_as_floats() -> None:
    config = parse_config(config_with("[feed]\ntick_interval = 1"))
    assert config.feed.tick_interval == 1.0
    assert isinstance(config.feed.tick_interval, float)


def test_symbols_keep_file_order() -> None:
    config = parse_config(SMALL_CONFIG)
    assert config.symbol_names() == ("AAPL", "MSFT", "KO")


INVALID_CASES = [
    # (config text, expected key, expected words)
    ("[server]\nport = 8888\n", r"symbols: missing", "missing"),
    ("symbols = []\n", r"symbols: empty", "empty"),
    (
        SYMBOL + SYMBOL,
        r"symbols\[1\]\.symbol: duplicate symbol 'AAPL'",
        "already defined in symbols[0]",
    ),
    (SYMBOL.replace('"AAPL"', '"aapl"'), r"symbols\[0\]\.symbol", "A-Z, 0-9"),
    (SYMBOL.replace('"AAPL"', '"TOOLONGSYMBOL"'), r"symbols\[0\]\.symbol", "1 to 10"),
    (SYMBOL.replace('"AAPL"', '""'), r"symbols\[0\]\.symbol", "got ''"),
    (SYMBOL.replace("100.0", "0"), r"symbols\[0\]\.price", "positive price, got 0"),
    (SYMBOL.replace("100.0", "-5"), r"symbols\[0\]\.price", "positive price"),
    (SYMBOL.replace("0.2", "-0.2"), r"symbols\[0\]\.volatility", "0 or more, got -0.2"),
    (SYMBOL.replace("100.0", '"100"'), r"symbols\[0\]\.price", "expected a number, got a string"),
    (SYMBOL.replace("100.0", "true"), r"symbols\[0\]\.price", "expected a number"),
    (SYMBOL.replace("100.0", "nan"), r"symbols\[0\]\.price", "finite number"),
    (SYMBOL.replace('name = "Apple Inc."', ""), r"symbols\[0\]\.name: missing", "missing"),
    (SYMBOL + "prise = 1.0\n", r"symbols\[0\]\.prise: unknown key", "expected one of"),
    (config_with("[sever]\nport = 1\n"), r": sever: unknown key", "server"),
    (config_with("[server]\nprot = 1\n"), r"server\.prot: unknown key", "port"),
    (config_with("[server]\nport = 70000\n"), r"server\.port", "0 to 65535"),
    (config_with('[server]\nport = "8888"\n'), r"server\.port", "expected an integer"),
    (config_with("[server]\nport = 80.5\n"), r"server\.port", "expected an integer"),
    (config_with("[server]\nmax_clients = 0\n"), r"server\.max_clients", "positive"),
    (config_with("[server]\nhost = \"localhost:8888\"\n"), r"server\.host", "without a port"),
    (
        config_with("[server]\nidle_connection_timeout = 0\n"),
        r"server\.idle_connection_timeout",
        "positive",
    ),
    (config_with("[server]\nbody_timeout = -1.0\n"), r"server\.body_timeout", "positive"),
    (
        config_with("[server]\nmax_header_size = 100\n"),
        r"server\.max_header_size",
        "at least 1024 bytes, got 100",
    ),
    (config_with("[server]\nmax_body_size = -1\n"), r"server\.max_body_size", "0 bytes or more"),
    (config_with("[feed]\ntick_interval = 0\n"), r"feed\.tick_interval", "positive"),
    (config_with("[feed]\nseed = 1.5\n"), r"feed\.seed", "expected an integer"),
    (config_with("[feed]\nseed = true\n"), r"feed\.seed", "expected an integer"),
    (config_with("[hub]\nhistory_size = -1\n"), r"hub\.history_size", "positive"),
    (
        config_with("[longpoll]\nhold_timeout = 90.0\n"),
        r"longpoll\.hold_timeout",
        "at most max_hold_timeout",
    ),
    (
        config_with("[websocket]\nping_interval = 10.0\nping_timeout = 30.0\n"),
        r"websocket\.ping_timeout",
        "at most ping_interval (10.0), got 30.0",
    ),
    (config_with("[websocket]\nping_interval = -1\n"), r"websocket\.ping_interval", "0 (no pings)"),
    (config_with("server = 1\n"), r": server: expected a table", "[server]"),
    ("[[symbols]]\nsymbol = \n", r"invalid TOML", "line 2"),
    (config_with("[transports]\nenabled = []\n"), r"transports\.enabled", "enable at least one"),
    (config_with('[transports]\nenabled = "sse"\n'), r"transports\.enabled", "array of strings"),
    (config_with("[transports]\nenabled = [1]\n"), r"transports\.enabled", "array of strings"),
    (
        config_with('[transports]\nenabled = ["sse", "poll", "sse"]\n'),
        r"transports\.enabled\[2\]",
        "duplicate transport 'sse'",
    ),
    (config_with("[sse]\nheartbeat_interval = 0\n"), r"sse\.heartbeat_interval", "positive"),
    (config_with("[sse]\nretry_interval = -1\n"), r"sse\.retry_interval", "positive"),
    (config_with("[sse]\nmax_pending_messages = 0\n"), r"sse\.max_pending_messages", "positive"),
    (config_with('[feed]\nmode = "live"\n'), r"feed\.mode", "simulated, replay, got 'live'"),
    (config_with("[feed]\nreplay_day_seconds = 0\n"), r"feed\.replay_day_seconds", "positive"),
    (SYMBOL + "mean_interval = 0\n", r"symbols\[0\]\.mean_interval", "positive"),
    (SYMBOL + "spread = 0.5\n", r"symbols\[0\]\.spread", "from 0 to 0.1"),
    (SYMBOL + "spread = -0.001\n", r"symbols\[0\]\.spread", "got -0.001"),
    (
        config_with('[feed]\nmode = "replay"\n').replace('"AAPL"', '"NVDA"'),
        r"symbols\[0\]\.symbol: 'NVDA' has no rows in the replay file",
        "the file has AAPL, FB, GOOG, IBM, MSFT",
    ),
    (
        config_with('[feed]\nmode = "replay"\nreplay_file = "/nonexistent/prices.csv"\n'),
        r"feed\.replay_file: file not found",
        "/nonexistent/prices.csv",
    ),
]


@pytest.mark.parametrize(("text", "key", "words"), INVALID_CASES)
def test_invalid_config_names_key(text: str, key: str, words: str) -> None:
    with pytest.raises(ConfigError, match=key) as caught:
        parse_config(text, source="bad.toml")
    message = str(caught.value)
    assert message.startswith("bad.toml: ")
    assert words in message


def test_ping_timeout_may_exceed_disabled_interval() -> None:
    config = parse_config(config_with("[websocket]\nping_interval = 0\nping_timeout = 30.0\n"))
    assert config.websocket.ping_interval == 0


def test_missing_file_names_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="nope.toml: file not found"):
        load_config(missing)


def test_load_names_file_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SYMBOL.replace("100.0", "-1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config\.toml: symbols\[0\]\.price"):
        load_config(path)


def test_symbol_settings_default_from_feed() -> None:
    config = parse_config(config_with("[feed]\ntick_interval = 2"))
    assert config.symbols[0].mean_interval == 2.0
    assert config.symbols[0].spread == 0.0005
    config = parse_config(SYMBOL + "mean_interval = 0.25\nspread = 0.001\n")
    assert config.symbols[0].mean_interval == 0.25
    assert config.symbols[0].spread == 0.001


def test_replay_without_tables_takes_file_symbols() -> None:
    config = parse_config('[feed]\nmode = "replay"\n')
    assert config.symbol_names() == ("AAPL", "FB", "GOOG", "IBM", "MSFT")
    assert config.replay is not None
    # The start price is the first open in the file; the model keys are not needed.
    assert config.symbols[0].price == 548.17


def test_replay_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(
        "symbol,date,open,high,low,close,volume\n"
        "ZZZ,2020-01-02,10,11,9,10.5,100\nZZZ,2020-01-03,10.5,12,10,11,200\n",
        encoding="utf-8",
    )
    path = tmp_path / "config.toml"
    path.write_text(
        '[feed]\nmode = "replay"\nreplay_file = "prices.csv"\n\n'
        '[[symbols]]\nsymbol = "ZZZ"\nname = "Zed"\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.symbol_names() == ("ZZZ",)
    assert config.symbols[0].name == "Zed"
    assert config.replay is not None
    assert config.replay.dates == ("2020-01-02", "2020-01-03")


def test_invalid_replay_file_names_line(tmp_path: Path) -> None:
    (tmp_path / "prices.csv").write_text(
        "symbol,date,open,high,low,close,volume\nZZZ,2020-01-02,10,11,9,99,100\n",
        encoding="utf-8",
    )
    path = tmp_path / "config.toml"
    path.write_text('[feed]\nmode = "replay"\nreplay_file = "prices.csv"\n', encoding="utf-8")
    expected = r"config\.toml: feed\.replay_file: invalid daily prices"
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path)
    assert "line 2: close 99.0 is outside the day's low 9.0 and high 11.0" in str(caught.value)
