"""The ``ticker`` command as a user runs it: real processes, real sockets."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO_ROOT, SMALL_CONFIG, TIME_UNIT, ServerProcess, start_server_process
from ticker.cli import choose_config_path
from ticker.resources import default_config_path


def run_ticker(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticker", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30 * TIME_UNIT,
    )


def get_json(url: str) -> dict[str, object]:
    with urllib.request.urlopen(url, timeout=10 * TIME_UNIT) as response:
        assert response.status == 200
        result: dict[str, object] = json.load(response)
        return result


def test_serve_answers_snapshot(ticker_process) -> None:
    server: ServerProcess = ticker_process(SMALL_CONFIG)
    symbols = get_json(f"{server.base_url}/api/symbols")
    assert [s["symbol"] for s in symbols["symbols"]] == ["AAPL", "MSFT", "KO"]  # type: ignore[index]
    # Each symbol updates every 10 ms on average; a poll without cursor waits for the next.
    poll = get_json(f"{server.base_url}/long-poll?timeout=5")
    # Every symbol has ticked once a long-poll for it from cursor 0 has returned.
    for symbol in ("AAPL", "MSFT", "KO"):
        get_json(f"{server.base_url}/long-poll?cursor=0&symbols={symbol}&timeout=5")
    snapshot = get_json(f"{server.base_url}/api/snapshot")
    assert snapshot["cursor"] >= 3  # type: ignore[operator]
    assert len(snapshot["ticks"]) == 3  # type: ignore[arg-type]
    assert snapshot["epoch"] == poll["epoch"]

    assert server.stop(signal.SIGTERM) == 0
    log = "".join(server.lines)
    assert "loaded config from" in log
    assert "3 symbols, transports: websocket, sse, longpoll, poll" in log
    assert "received SIGTERM" in log
    assert "ticker stopped" in log
    assert "Traceback" not in log


def test_serve_stops_on_sigint(ticker_process) -> None:
    server: ServerProcess = ticker_process(SMALL_CONFIG)
    assert server.stop(signal.SIGINT) == 0
    assert "ticker stopped" in "".join(server.lines)


def test_serve_without_config_uses_local_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(SMALL_CONFIG, encoding="utf-8")
    server = start_server_process(["serve", "--port", "0"], cwd=tmp_path)
    try:
        assert f"loaded config from {tmp_path / 'config.toml'}" in "".join(server.lines)
    finally:
        assert server.stop() == 0


def test_serve_without_local_config_uses_shipped(tmp_path: Path) -> None:
    server = start_server_process(["serve", "--port", "0"], cwd=tmp_path)
    try:
        log = "".join(server.lines)
        assert f"loaded config from {default_config_path()}" in log
        assert "12 symbols" in log
    finally:
        assert server.stop() == 0


def test_choose_config_prefers_argument(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert choose_config_path(None) == default_config_path()
    (tmp_path / "config.toml").write_text("", encoding="utf-8")
    assert choose_config_path(None) == Path("config.toml")
    assert choose_config_path(Path("other.toml")) == Path("other.toml")


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL_CONFIG, encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_ticker("serve", "--config", str(config), "--port", str(port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_config_stops_start(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(SMALL_CONFIG.replace("price = 200.0", "price = -200.0"), encoding="utf-8")
    result = run_ticker("serve", "--config", str(config), "--port", "0", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{config}: symbols[1].price: expected a positive price, got -200.0" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_valid_file(tmp_path: Path) -> None:
    result = run_ticker("check-config", str(REPO_ROOT / "config.toml"), cwd=tmp_path)
    assert result.returncode == 0
    assert "valid, 12 symbols" in result.stdout
    assert "transports: websocket, sse, longpoll, poll" in result.stdout


def test_check_config_rejects_unknown_transport(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL_CONFIG + '\n[transports]\nenabled = ["websockets"]\n', encoding="utf-8")
    result = run_ticker("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "transports.enabled[0]: unknown transport 'websockets'" in result.stderr


def test_check_config_rejects_invalid_file(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(SMALL_CONFIG.replace("[feed]", "[fed]"), encoding="utf-8")
    result = run_ticker("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {config}: fed: unknown key")


def test_check_config_reports_toml_position(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "8888\n', encoding="utf-8")
    result = run_ticker("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "invalid TOML" in result.stderr
    assert "line 2" in result.stderr


def test_no_command_prints_help(tmp_path: Path) -> None:
    result = run_ticker(cwd=tmp_path)
    assert result.returncode == 2
    assert "serve" in result.stdout
    assert "check-config" in result.stdout


@pytest.mark.parametrize("port", ["-1", "70000"])
def test_invalid_port_is_usage_error(tmp_path: Path, port: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(SMALL_CONFIG, encoding="utf-8")
    result = run_ticker("serve", "--config", str(config), "--port", port, cwd=tmp_path)
    assert result.returncode == 2
    assert f"invalid --port {port}" in result.stderr
