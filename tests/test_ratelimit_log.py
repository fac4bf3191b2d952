"""RateLimitedLog: a cap per kind and interval, and a count of what it suppressed."""

from __future__ import annotations

import logging

import pytest

from ticker.ratelimit_log import RateLimitedLog


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_caps_each_kind_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = RateLimitedLog(logging.getLogger("ticker.test"), interval=60.0, burst=2, clock=clock)
    with caplog.at_level(logging.INFO, logger="ticker.test"):
        for number in range(5):
            log.log(logging.INFO, "a", "a %d", number)
        log.log(logging.INFO, "b", "b %d", 0)
        assert [r.getMessage() for r in caplog.records] == ["a 0", "a 1", "b 0"]

        clock.now = 60.0
        log.log(logging.INFO, "a", "a %d", 5)
        log.log(logging.INFO, "a", "a %d", 6)
    assert [r.getMessage() for r in caplog.records][3:] == [
        "a 5 (3 similar records suppressed)",
        "a 6",
    ]
