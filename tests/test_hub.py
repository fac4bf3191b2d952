from __future__ import annotations

import json

import pytest

from ticker.errors import HubFull, InvalidRequest
from ticker.hub import Batch, Hub, PriceUpdate, Selection


def make_hub(history_size: int = 10, max_subscribers: int = 5) -> Hub:
    return Hub({"AAA": 10.0, "BBB": 20.0, "CCC": 40.0}, history_size, max_subscribers, epoch="e1")


def publish(hub: Hub, **prices: float) -> Batch:
    batch = hub.publish(PriceUpdate(symbol, price, 1000.5) for symbol, price in prices.items())
    assert batch is not None
    return batch


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.closed = False

    def deliver(self, batch: Batch, selection: Selection) -> None:
        self.batches.append([tick.seq for tick in selection.ticks])

    def hub_closed(self) -> None:
        self.closed = True


def test_publish_assigns_consecutive_seqs() -> None:
    hub = make_hub()
    first = publish(hub, AAA=10.5, BBB=19.0)
    second = publish(hub, CCC=41.0)
    assert [tick.seq for tick in first.ticks] == [1, 2]
    assert [tick.seq for tick in second.ticks] == [3]
    assert second.cursor == 3
    assert hub.last_seq == 3


def test_tick_fields_and_json() -> None:
    hub = make_hub()
    [tick] = publish(hub, AAA=10.456).ticks
    assert tick.price == 10.46
    assert tick.change == 0.46
    assert tick.change_pct == 4.6
    assert json.loads(tick.json) == {
        "seq": 1,
        "symbol": "AAA",
        "price": 10.46,
        "change": 0.46,
        "change_pct": 4.6,
        "ts": 1000.5,
    }


def test_publish_rejects_unknown_symbol_whole_batch() -> None:
    hub = make_hub()
    with pytest.raises(InvalidRequest, match="unknown symbol 'ZZZ'"):
        hub.publish([PriceUpdate("AAA", 11.0, 1.0), PriceUpdate("ZZZ", 1.0, 1.0)])
    assert hub.last_seq == 0
    assert hub.snapshot() == (0, [])


@pytest.mark.parametrize("price", [0.0, -1.0, 0.001, float("nan"), float("inf")])
def test_publish_rejects_invalid_price(price: float) -> None:
    hub = make_hub()
    with pytest.raises(InvalidRequest, match="expected a finite price of at least 0.01"):
        hub.publish([PriceUpdate("AAA", price, 1.0)])
    assert hub.last_seq == 0


def test_empty_publish_returns_none() -> None:
    hub = make_hub()
    assert hub.publish([]) is None
    assert hub.last_seq == 0


def test_snapshot_holds_latest_per_symbol() -> None:
    hub = make_hub()
    publish(hub, AAA=11.0, BBB=21.0)
    publish(hub, AAA=12.0)
    cursor, ticks = hub.snapshot()
    assert cursor == 3
    assert [(t.symbol, t.price, t.seq) for t in ticks] == [("AAA", 12.0, 3), ("BBB", 21.0, 2)]
    cursor, ticks = hub.snapshot(frozenset({"BBB", "CCC"}))
    assert [t.symbol for t in ticks] == ["BBB"]


def test_ticks_after_filters_and_advances_cursor() -> None:
    hub = make_hub()
    publish(hub, AAA=11.0, BBB=21.0, CCC=41.0)
    publish(hub, AAA=12.0, BBB=22.0, CCC=42.0)
    ticks, cursor = hub.ticks_after(1, frozenset({"BBB"}), limit=100)
    assert [t.seq for t in ticks] == [2, 5]
    assert cursor == 6  # past the CCC tick it did not need
    ticks, cursor = hub.ticks_after(6, None, limit=100)
    assert (ticks, cursor) == ([], 6)


def test_ticks_after_stops_at_limit() -> None:
    hub = make_hub()
    publish(hub, AAA=11.0, BBB=21.0, CCC=41.0)
    ticks, cursor = hub.ticks_after(0, None, limit=2)
    assert [t.seq for t in ticks] == [1, 2]
    assert cursor == 2


def test_history_is_bounded_ring() -> None:
    hub = make_hub(history_size=4)
    for price in (11.0, 12.0, 13.0, 14.0, 15.0, 16.0):
        publish(hub, AAA=price)
    assert hub.first_seq == 3
    assert hub.has_cursor(2)  # ticks 3-6 are all there
    assert not hub.has_cursor(1)  # tick 2 was evicted
    assert not hub.has_cursor(7)  # ahead of the newest seq
    ticks, _ = hub.ticks_after(2, None, limit=100)
    assert [t.price for t in ticks] == [13.0, 14.0, 15.0, 16.0]
    with pytest.raises(ValueError, match="cursor 1 is outside the history"):
        hub.ticks_after(1, None, limit=100)


def test_cursor_zero_is_valid_before_eviction() -> None:
    hub = make_hub(history_size=4)
    assert hub.has_cursor(0)
    publish(hub, AAA=11.0, BBB=21.0, CCC=41.0)
    assert hub.has_cursor(0)


def test_subscribers_get_only_their_symbols() -> None:
    hub = make_hub()
    all_symbols, only_bbb, none = Recorder(), Recorder(), Recorder()
    hub.subscribe(all_symbols, None, "websocket", "a")
    hub.subscribe(only_bbb, frozenset({"BBB"}), "websocket", "b")
    hub.subscribe(none, frozenset(), "websocket", "c")
    publish(hub, AAA=11.0, BBB=21.0)
    publish(hub, AAA=12.0)
    assert all_symbols.batches == [[1, 2], [3]]
    assert only_bbb.batches == [[2]]
    assert none.batches == []


def test_each_tick_encoded_once() -> None:
    hub = make_hub(max_subscribers=100)
    for index in range(50):
        hub.subscribe(Recorder(), None if index % 2 else frozenset({"AAA"}), "websocket", str(index))
    publish(hub, AAA=11.0, BBB=21.0, CCC=41.0)
    publish(hub, AAA=12.0)
    assert hub.encoded_ticks == 4


def test_unsubscribe_is_idempotent_and_counted() -> None:
    hub = make_hub()
    recorder = Recorder()
    subscription = hub.subscribe(recorder, None, "longpoll", "x")
    hub.subscribe(Recorder(), None, "websocket", "y")
    assert hub.counts() == {"longpoll": 1, "websocket": 1}
    subscription.close()
    subscription.close()
    assert hub.counts() == {"websocket": 1}
    publish(hub, AAA=11.0)
    assert recorder.batches == []


def test_subscribe_rejects_past_limit() -> None:
    hub = make_hub(max_subscribers=2)
    hub.subscribe(Recorder(), None, "websocket", "1")
    second = hub.subscribe(Recorder(), None, "websocket", "2")
    with pytest.raises(HubFull, match="2 clients connected"):
        hub.subscribe(Recorder(), None, "websocket", "3")
    second.close()
    hub.subscribe(Recorder(), None, "websocket", "3")


def test_failing_subscriber_does_not_stop_others(log_guard) -> None:
    log_guard.expect("delivering seq 1 to websocket client bad failed")

    class Failing(Recorder):
        def deliver(self, batch: Batch, selection: Selection) -> None:
            raise RuntimeError("boom")

    hub = make_hub()
    good = Recorder()
    hub.subscribe(Failing(), None, "websocket", "bad")
    hub.subscribe(good, None, "websocket", "good")
    publish(hub, AAA=11.0)
    assert good.batches == [[1]]
    assert len(log_guard.matching("client bad failed")) == 1


def test_subscriber_may_unsubscribe_during_delivery() -> None:
    hub = make_hub()

    class Leaving(Recorder):
        def deliver(self, batch: Batch, selection: Selection) -> None:
            super().deliver(batch, selection)
            self.subscription.close()

    leaving, staying = Leaving(), Recorder()
    leaving.subscription = hub.subscribe(leaving, None, "websocket", "l")
    hub.subscribe(staying, None, "websocket", "s")
    publish(hub, AAA=11.0)
    publish(hub, AAA=12.0)
    assert leaving.batches == [[1]]
    assert staying.batches == [[1], [2]]


def test_close_tells_subscribers_once() -> None:
    hub = make_hub()
    recorder = Recorder()
    hub.subscribe(recorder, None, "websocket", "r")
    hub.close()
    hub.close()
    assert recorder.closed
    assert hub.counts() == {}
    with pytest.raises(RuntimeError, match="closed"):
        hub.subscribe(Recorder(), None, "websocket", "late")


def test_validate_symbols_names_unknown() -> None:
    hub = make_hub()
    assert hub.validate_symbols(["AAA", "BBB"]) == frozenset({"AAA", "BBB"})
    with pytest.raises(InvalidRequest, match="unknown symbol 'ZZZ'; known symbols: AAA, BBB, CCC"):
        hub.validate_symbols(["AAA", "ZZZ"])


def test_epochs_differ_between_hubs() -> None:
    first = Hub({"AAA": 1.0}, 10, 10)
    second = Hub({"AAA": 1.0}, 10, 10)
    assert first.epoch != second.epoch
