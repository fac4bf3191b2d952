"""Daily price bars read from a CSV file, for the replay feed and for calibration.

The file has a header row with the columns ``symbol,date,open,high,low,close,volume`` (in any
order; other columns are ignored) and one row per symbol and trading day. Dates are ISO
``YYYY-MM-DD``; prices are in dollars.
"""

from __future__ import annotations

import csv
import datetime
import io
import math
from dataclasses import dataclass
from pathlib import Path

from ticker.resources import PACKAGE_DIR

COLUMNS = ("symbol", "date", "open", "high", "low", "close", "volume")
SHIPPED_PRICES = PACKAGE_DIR / "data" / "daily-prices-2012.csv"
"""Real daily prices of five US stocks, March 2012 to March 2013; data/README.md has the source."""


@dataclass(frozen=True, slots=True)
class DailyBar:
    date: str
    """The trading day, ``YYYY-MM-DD``."""
    open: float
    high: float
    low: float
    close: float
    volume: int
    """Shares traded that day."""


@dataclass(frozen=True)
class DailyPrices:
    """The bars of one file, per symbol in date order."""

    source: str
    bars: dict[str, tuple[DailyBar, ...]]
    dates: tuple[str, ...]
    """Every date that any symbol trades on, in order."""

    def symbols(self) -> tuple[str, ...]:
        return tuple(self.bars)


def read_daily_prices(path: str | Path) -> DailyPrices:
    """Read and check the CSV file at ``path``.

    Raises ValueError, naming the line and the value, for a missing column, an unreadable
    number, a bar whose open or close lies outside its low and high, a repeated or out-of-order
    date, or a file without rows. Raises OSError when the file cannot be read.
    """
    text = Path(path).read_text(encoding="utf-8")
    return parse_daily_prices(text, source=str(path))


def parse_daily_prices(text: str, source: str = "<string>") -> DailyPrices:
    """Check CSV text as ``read_daily_prices`` does; ``source`` names it in messages."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise ValueError(
            f"{source}: missing columns {', '.join(missing)}; "
            f"expected a header row with {','.join(COLUMNS)}"
        )

    rows: dict[str, list[DailyBar]] = {}
    for row in reader:
        line = reader.line_num
        symbol = (row["symbol"] or "").strip()
        if not symbol:
            raise ValueError(f"{source}: line {line}: empty symbol")
        bar = _parse_bar(row, f"{source}: line {line}")
        bars = rows.setdefault(symbol, [])
        if bars and bar.date <= bars[-1].date:
            raise ValueError(
                f"{source}: line {line}: {symbol} {bar.date} is not after {bars[-1].date}; "
                "sort the rows of each symbol by date, one row per day"
            )
        bars.append(bar)
    if not rows:
        raise ValueError(f"{source}: no rows after the header")

    dates = sorted({bar.date for bars in rows.values() for bar in bars})
    return DailyPrices(source, {symbol: tuple(bars) for symbol, bars in rows.items()}, tuple(dates))


def _parse_bar(row: dict[str, str], where: str) -> DailyBar:
    date = (row["date"] or "").strip()
    try:
        datetime.date.fromisoformat(date)
    except ValueError:
        raise ValueError(f"{where}: invalid date {date!r}; expected YYYY-MM-DD") from None
    prices = {}
    for column in ("open", "high", "low", "close"):
        raw = row[column]
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: invalid {column} {raw!r}; expected a price") from None
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{where}: invalid {column} {raw!r}; expected a positive price")
        prices[column] = value
    raw_volume = row["volume"]
    try:
        volume = int(float(raw_volume))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"{where}: invalid volume {raw_volume!r}; expected a share count"
        ) from None
    if volume < 0:
        raise ValueError(f"{where}: invalid volume {raw_volume!r}; expected 0 or more")
    bar = DailyBar(date, prices["open"], prices["high"], prices["low"], prices["close"], volume)
    for name, value in (("open", bar.open), ("close", bar.close)):
        if not bar.low <= value <= bar.high:
            raise ValueError(
                f"{where}: {name} {value} is outside the day's low {bar.low} and high {bar.high}"
            )
    return bar
