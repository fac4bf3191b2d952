"""The soak script: its checks catch each failure, and a short run passes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from conftest import REPO_ROOT, TIME_UNIT
from ticker.clients.base import RESET, SNAPSHOT, TICKS, Event


def load_soak() -> ModuleType:
    spec = importlib.util.spec_from_file_location("soak", REPO_ROOT / "scripts" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["soak"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


soak = load_soak()
SYMBOLS = ["AAPL", "MSFT", "KO"]
# Three symbols per batch, in this order: seq 1 is AAPL, 2 MSFT, 3 KO, 4 AAPL...
SYMBOL_OF = {seq: SYMBOLS[(seq - 1) % 3] for seq in range(1, 31)}


def ticks(*seqs: int) -> list[dict[str, object]]:
    return [{"seq": seq, "symbol": SYMBOL_OF[seq]} for seq in seqs]


def record_of(symbols: frozenset[str] | None, *events: Event) -> Any:
    record = soak.Record("client", symbols)
    for event in events:
        record.add(event)
    return record


def test_every_tick_received_passes() -> None:
    record = record_of(
        frozenset({"KO"}),
        Event(SNAPSHOT, "e", 3),
        Event(TICKS, "e", 6, ticks(6)),
        Event(TICKS, "e", 12, ticks(9, 12)),
    )
    assert soak.missing_and_repeated(record, SYMBOL_OF) == ([], [])


def test_gap_is_missing() -> None:
    record = record_of(
        None,
        Event(SNAPSHOT, "e", 3),
        Event(TICKS, "e", 5, ticks(4, 5)),
        Event(TICKS, "e", 9, ticks(8, 9)),
    )
    missing, repeated = soak.missing_and_repeated(record, SYMBOL_OF)
    assert missing == [6, 7]
    assert repeated == []


def test_repeat_is_reported() -> None:
    record = record_of(
        None, Event(SNAPSHOT, "e", 3), Event(TICKS, "e", 5, ticks(4, 5)), Event(TICKS, "e", 5, ticks(5))
    )
    assert soak.missing_and_repeated(record, SYMBOL_OF) == ([], [5])


def test_reset_starts_new_segment() -> None:
    record = record_of(
        None,
        Event(SNAPSHOT, "e", 3),
        Event(TICKS, "e", 4, ticks(4)),
        Event(RESET, "f", 20),
        Event(TICKS, "f", 21, ticks(21)),
    )
    assert soak.missing_and_repeated(record, SYMBOL_OF) == ([], [])
    assert record.resets == 1


def test_seqs_after_reference_unchecked() -> None:
    record = record_of(None, Event(SNAPSHOT, "e", 27), Event(TICKS, "e", 33, ticks(28, 29, 30)))
    assert soak.missing_and_repeated(record, SYMBOL_OF) == ([], [])


def test_rss_growth_compares_thirds() -> None:
    samples = [(float(at), 100 + at) for at in range(13)]
    # After warm-up: 104 to 112; the medians of the first and the last three.
    assert soak.rss_growth(samples, warmup_end=4.0) == (105, 111)
    assert soak.rss_growth(samples[:5], warmup_end=4.0) is None


def test_log_problems_finds_errors() -> None:
    lines = [
        "2026-01-01 00:00:00,000 INFO    ticker.server: ticker listening\n",
        "2026-01-01 00:00:00,000 WARNING ticker.feed: feed is 1 s behind\n",
        "2026-01-01 00:00:00,000 ERROR   tornado.application: Uncaught exception\n",
        "Traceback (most recent call last):\n",
    ]
    assert soak.log_problems(lines) == lines[2:]


def test_short_soak_passes(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    command = [
        sys.executable, str(REPO_ROOT / "scripts" / "soak.py"),
        "--duration", "4", "--clients", "20", "--warmup", "1", "--sample-interval", "0.25",
        "--mean-session", "1", "--max-rss-growth", "1.0", "--log", str(log),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120 * TIME_UNIT, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("PASS")
    assert "ticker listening on" in log.read_text()
