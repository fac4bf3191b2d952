"""``ticker calibrate`` on the shipped daily prices."""

from __future__ import annotations

import csv
import math
import tomllib
from pathlib import Path

import pytest

from ticker.prices.bars import SHIPPED_PRICES
from ticker.cli import main
from ticker.config import parse_config


def closes(symbol: str) -> list[float]:
    with SHIPPED_PRICES.open(encoding="utf-8") as file:
        return [float(row["close"]) for row in csv.DictReader(file) if row["symbol"] == symbol]


def test_calibrate_prints_symbols_block(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(SHIPPED_PRICES)]) == 0
    output = capsys.readouterr().out
    tables = tomllib.loads(output)["symbols"]
    assert [table["symbol"] for table in tables] == ["AAPL", "FB", "GOOG", "IBM", "MSFT"]

    # An independent computation of the documented estimator for one symbol.
    prices = closes("IBM")
    returns = [math.log(b / a) for a, b in zip(prices, prices[1:])]
    mean = sum(returns) / len(returns)
    variance = sum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    volatility = math.sqrt(variance * 252)
    [ibm] = [table for table in tables if table["symbol"] == "IBM"]
    assert ibm["volatility"] == pytest.approx(volatility, abs=1e-4)
    assert ibm["drift"] == pytest.approx(mean * 252 + volatility**2 / 2, abs=1e-4)
    assert ibm["price"] == prices[-1]


def test_calibrate_output_is_valid_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", str(SHIPPED_PRICES)]) == 0
    config = parse_config(capsys.readouterr().out, source="calibrated.toml")
    assert len(config.symbols) == 5
    assert all(0.05 < entry.volatility < 1.0 for entry in config.symbols)


def test_calibrate_rejects_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("symbol,date,close\nAAA,2012-01-02,1\n", encoding="utf-8")
    assert main(["calibrate", str(path)]) == 1
    assert "missing columns open, high, low, volume" in capsys.readouterr().err
    assert main(["calibrate", str(tmp_path / "nope.csv")]) == 1
    assert "nope.csv: file not found" in capsys.readouterr().err


def test_calibrate_needs_three_days(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(
        "symbol,date,open,high,low,close,volume\nAAA,2012-01-02,1,1,1,1,1\n", encoding="utf-8"
    )
    assert main(["calibrate", str(path)]) == 1
    assert "AAA: 1 days of prices; calibration needs at least 3" in capsys.readouterr().err
