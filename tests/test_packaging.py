"""A regular wheel carries the dashboard and the default config inside the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT, TIME_UNIT, start_server_process


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO_ROOT)],
        check=True,
        timeout=300 * TIME_UNIT,
    )
    [built] = out.glob("ticker-*.whl")
    return built


def install_wheel(wheel: Path, tmp_path: Path) -> Path:
    """Install ``wheel`` into a folder of its own under ``tmp_path`` and return that folder."""
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
        check=True,
        timeout=120 * TIME_UNIT,
    )
    return target


def test_wheel_contains_web_and_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ticker/config.toml" in names
    assert "ticker/web/index.html" in names
    web_files = {
        path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "web").rglob("*") if path.is_file()
    }
    assert {f"ticker/{name}" for name in web_files} <= names


def test_installed_wheel_serves_dashboard(wheel: Path, tmp_path: Path) -> None:
    target = install_wheel(wheel, tmp_path)
    workdir = tmp_path / "elsewhere"  # no config.toml and no web/ here
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    server = start_server_process(["serve", "--port", "0"], cwd=workdir, env=env)
    try:
        assert f"loaded config from {target / 'ticker' / 'config.toml'}" in "".join(server.lines)
        with urllib.request.urlopen(f"{server.base_url}/", timeout=10 * TIME_UNIT) as response:
            assert response.read() == (REPO_ROOT / "web" / "index.html").read_bytes()
    finally:
        assert server.stop() == 0


def test_wheel_contains_replay_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "ticker/data/daily-prices-2012.csv" in names
    assert "ticker/data/README.md" in names


def test_installed_wheel_replays_shipped_prices(wheel: Path, tmp_path: Path) -> None:
    target = install_wheel(wheel, tmp_path)
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    (workdir / "config.toml").write_text('[feed]\nmode = "replay"\nseed = 1\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(target)}
    server = start_server_process(["serve", "--port", "0"], cwd=workdir, env=env)
    try:
        assert f"replay of {target / 'ticker' / 'data' / 'daily-prices-2012.csv'}" in "".join(
            server.lines
        )
        url = f"{server.base_url}/long-poll?cursor=0&symbols=AAPL&timeout=10"
        with urllib.request.urlopen(url, timeout=15 * TIME_UNIT) as response:
            tick = json.load(response)["ticks"][0]
        assert tick["date"] == "2012-03-01"
        assert 538.77 <= tick["price"] <= 548.21  # within AAPL's range on 2012-03-01
    finally:
        assert server.stop() == 0
