"""The [access] config section: keys and their sources, entitlements, origins, and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SMALL_CONFIG
from ticker.config import load_config, parse_config
from ticker.errors import ConfigError

KEY = "k" * 24


def access(body: str) -> str:
    return SMALL_CONFIG + "\n[access]\n" + body


def key_table(source: str = f'key = "{KEY}"', symbols: str = '["*"]', name: str = "app") -> str:
    return f'\n[[access.keys]]\nname = "{name}"\n{source}\nsymbols = {symbols}\n'


def test_access_off_by_default() -> None:
    config = parse_config(SMALL_CONFIG)
    assert config.access.enabled is False
    assert config.access.keys == ()
    assert config.access.allowed_origins == ()
    assert config.access.cors_origins == ()


def test_key_with_entitlement() -> None:
    config = parse_config(access("enabled = true\n" + key_table(symbols='["KO", "AAPL"]')))
    (key,) = config.access.keys
    assert key.name == "app"
    assert key.secret == KEY
    assert key.symbols == frozenset({"KO", "AAPL"})


def test_star_means_every_symbol() -> None:
    (key,) = parse_config(access("enabled = true\n" + key_table())).access.keys
    assert key.symbols is None


def test_secret_not_in_repr() -> None:
    config = parse_config(access("enabled = true\n" + key_table()))
    assert KEY not in repr(config)


def test_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TICKER_TEST_KEY", f"  {KEY}\n")
    config = parse_config(access("enabled = true\n" + key_table('key_env = "TICKER_TEST_KEY"')))
    assert config.access.keys[0].secret == KEY


def test_key_from_file_beside_config(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "app.key").write_text(KEY + "\n", encoding="utf-8")
    path = tmp_path / "config.toml"
    path.write_text(
        access("enabled = true\n" + key_table('key_file = "secrets/app.key"')), encoding="utf-8"
    )
    assert load_config(path).access.keys[0].secret == KEY


@pytest.mark.parametrize(
    "body, key, problem",
    [
        ("enabled = 1", "access.enabled", "expected true or false, got 1"),
        ("enabled = true", "access.keys", r"missing; add at least one \[\[access.keys\]\]"),
        ("enable = true", "access.enable", "unknown key; expected one of: enabled"),
        (key_table('key = "short"'), r"access.keys\[0\].key", "invalid key of 5 characters"),
        (key_table('key = "has spaces in the key!!"'), r"access.keys\[0\].key", "invalid key"),
        (key_table('key_env = "TICKER_TEST_UNSET_KEY"'), r"access.keys\[0\].key_env",
         "the environment variable TICKER_TEST_UNSET_KEY is not set"),
        (key_table('key_file = "missing.key"'), r"access.keys\[0\].key_file", "cannot read"),
        (key_table(f'key = "{KEY}"\nkey_env = "X"'), r"access.keys\[0\]",
         "expected exactly one of key, key_env and key_file"),
        (key_table(symbols='["AAPL", "NVDA"]'), r"access.keys\[0\].symbols\[1\]",
         "unknown symbol 'NVDA'; configured symbols: AAPL, MSFT, KO"),
        (key_table(symbols="[]"), r"access.keys\[0\].symbols", "expected a non-empty array"),
        (key_table(name="has space"), r"access.keys\[0\].name", "expected 1 to 64 characters"),
        (key_table() + key_table(f'key = "{"j" * 24}"'), r"access.keys\[1\].name",
         "duplicate key name 'app'"),
        (key_table() + key_table(name="other"), r"access.keys\[1\]",
         "the same key as the one named 'app'"),
        ('allowed_origins = ["https://example.com/"]', r"access.allowed_origins\[0\]",
         "invalid origin 'https://example.com/'"),
        ('cors_origins = ["example.com"]', r"access.cors_origins\[0\]", "invalid origin"),
        ('cors_origins = ["HTTPS://EXAMPLE.COM"]', r"access.cors_origins\[0\]", "lower-case"),
        ("cors_origins = 1", "access.cors_origins", "expected an array of origins"),
    ],
)
def test_invalid_access_names_key(body: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"^test.toml: {key}: .*{problem}"):
        parse_config(access(body), source="test.toml")


def test_invalid_key_message_hides_secret() -> None:
    secret = "not a valid key but secret"
    with pytest.raises(ConfigError, match="invalid key") as caught:
        parse_config(access(key_table(f'key = "{secret}"')))
    assert secret not in str(caught.value)


def test_any_origin_allowed() -> None:
    config = parse_config(access('allowed_origins = ["*"]\ncors_origins = ["*", "http://a.example:8080"]'))
    assert config.access.allowed_origins == ("*",)
    assert config.access.cors_origins == ("*", "http://a.example:8080")


def test_check_config_reports_missing_key_env(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        access("enabled = true\n" + key_table('key_env = "TICKER_TEST_UNSET_KEY"')), encoding="utf-8"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ticker", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    expected = f"{path}: access.keys[0].key_env: the environment variable TICKER_TEST_UNSET_KEY"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
