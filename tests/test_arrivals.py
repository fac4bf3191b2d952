"""Per-symbol update times: seeded statistics, so every bound below is exact for its seed."""

from __future__ import annotations

import math
import random
import statistics

from ticker.prices.arrivals import MAX_LATENESS, Arrivals


def run_until(arrivals: Arrivals, end: float) -> dict[str, list[float]]:
    """Pop every update up to ``end`` at its due time; return the update times per symbol."""
    times: dict[str, list[float]] = {}
    while (due := arrivals.next_due()) is not None and due <= end:
        fired, skipped = arrivals.pop_due(due)
        assert skipped == 0
        for symbol, at in fired:
            times.setdefault(symbol, []).append(at)
    return times


def test_mean_gap_matches_mean_interval() -> None:
    arrivals = Arrivals(random.Random(6))
    arrivals.add("AAA", 0.3, now=0.0)
    draws = 20_000
    gaps = [arrivals.draw_gap("AAA") for _ in range(draws)]
    # Exponential gaps: the standard deviation equals the mean, so the standard error of the
    # sample mean is mean / sqrt(draws); 4 of them bound a fair seed with room to spare.
    assert abs(statistics.fmean(gaps) - 0.3) < 4 * 0.3 / math.sqrt(draws)
    assert statistics.stdev(gaps) > 0.9 * 0.3  # uneven: a fixed beat would have 0


def test_symbols_update_at_own_rates() -> None:
    arrivals = Arrivals(random.Random(7))
    arrivals.add("BUSY", 0.25, now=0.0)
    arrivals.add("QUIET", 5.0, now=0.0)
    hour = 3600.0
    times = run_until(arrivals, hour)

    for symbol, mean in (("BUSY", 0.25), ("QUIET", 5.0)):
        expected = hour / mean
        # A Poisson count has variance equal to its mean.
        assert abs(len(times[symbol]) - expected) < 4 * math.sqrt(expected), symbol


def test_updates_come_in_time_order() -> None:
    arrivals = Arrivals(random.Random(8))
    for index in range(5):
        arrivals.add(f"S{index}", 0.1 * (index + 1), now=0.0)
    fired, skipped = arrivals.pop_due(now=0.5)
    assert skipped == 0
    assert [at for _symbol, at in fired] == sorted(at for _symbol, at in fired)


def test_late_call_takes_every_due_update() -> None:
    arrivals = Arrivals(random.Random(9))
    arrivals.add("AAA", 0.01, now=0.0)
    arrivals.add("BBB", 0.01, now=0.0)
    fired, skipped = arrivals.pop_due(now=0.5)
    assert skipped == 0
    # About 50 each: a late loop publishes what fell due meanwhile, in one batch.
    assert sum(1 for symbol, _at in fired if symbol == "AAA") > 20
    assert sum(1 for symbol, _at in fired if symbol == "BBB") > 20
    next_due = arrivals.next_due()
    assert next_due is not None and next_due > 0.5


def test_far_behind_skips_missed_updates() -> None:
    arrivals = Arrivals(random.Random(10))
    arrivals.add("AAA", 0.1, now=0.0)
    now = 10 * MAX_LATENESS
    fired, skipped = arrivals.pop_due(now)
    assert [symbol for symbol, _at in fired] == ["AAA"]
    assert skipped == 1
    next_due = arrivals.next_due()
    assert next_due is not None and next_due > now


def test_removed_symbol_stops() -> None:
    arrivals = Arrivals(random.Random(11))
    arrivals.add("AAA", 0.1, now=0.0)
    arrivals.add("BBB", 0.1, now=0.0)
    arrivals.remove("AAA")
    arrivals.remove("AAA")
    times = run_until(arrivals, 60.0)
    assert set(times) == {"BBB"}


def test_new_mean_interval_applies() -> None:
    arrivals = Arrivals(random.Random(12))
    arrivals.add("AAA", 1.0, now=0.0)
    arrivals.set_mean_interval("AAA", 0.1)
    times = run_until(arrivals, 600.0)
    expected = 600.0 / 0.1
    assert abs(len(times["AAA"]) - expected) < 4 * math.sqrt(expected) + 1
