"""Every built-in transport through the shared conformance suite in ticker.conformance."""

from __future__ import annotations

import pytest

from ticker.conformance import *  # noqa: F401,F403  (collects the suite's tests)

BUILT_IN = ["websocket", "sse", "longpoll", "poll"]


@pytest.fixture(params=BUILT_IN)
def transport_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(autouse=True)
def allow_feed_lag(log_guard) -> None:  # type: ignore[no-untyped-def]
    # The suite's feed beats every 2 ms, which a busy machine cannot always keep.
    log_guard.expect(r"feed is .* behind")
