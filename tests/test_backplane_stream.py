"""The backplane without Redis: numbered publishing, the entry format and following the stream."""

from __future__ import annotations

import json

import pytest

from ticker.backplane.connection import describe_url
from ticker.backplane.node import StreamFollower, newest_run
from ticker.backplane.stream import (
    MalformedEntry,
    StreamBatch,
    decode_entry,
    encode_batch,
    stream_length,
)
from ticker.config import parse_config
from ticker.errors import ConfigError
from ticker.hub import Batch, Hub, NumberedTick, PriceUpdate, Selection

from conftest import SMALL_CONFIG


def make_hub(epoch: str = "node-start", history_size: int = 10) -> Hub:
    return Hub({"AAA": 10.0, "BBB": 20.0}, history_size, max_subscribers=5, epoch=epoch)


def numbered(*seqs: int, symbol: str = "AAA") -> list[NumberedTick]:
    return [
        NumberedTick(seq, symbol, 10.0 + seq, 1000.0, json.dumps({"seq": seq})) for seq in seqs
    ]


def batch(epoch: str, *seqs: int, entry_id: str = "1-0") -> StreamBatch:
    return StreamBatch(entry_id, epoch, numbered(*seqs))


class Recorder:
    def __init__(self) -> None:
        self.seqs: list[int] = []
        self.closed = 0

    def deliver(self, batch: Batch, selection: Selection) -> None:
        self.seqs.extend(tick.seq for tick in selection.ticks)

    def hub_closed(self) -> None:
        self.closed += 1


# Hub.publish_numbered and Hub.restart


def test_publish_numbered_keeps_seq_and_json() -> None:
    hub = make_hub()
    hub.restart("feed-1", 40)
    recorder = Recorder()
    hub.subscribe(recorder, None, "test", "t-1")
    published = hub.publish_numbered(numbered(41, 42))
    assert published is not None
    assert [tick.json for tick in published.ticks] == ['{"seq": 41}', '{"seq": 42}']
    assert recorder.seqs == [41, 42]
    assert hub.last_seq == 42
    assert hub.epoch == "feed-1"


def test_publish_numbered_computes_change() -> None:
    hub = make_hub()
    published = hub.publish_numbered([NumberedTick(1, "BBB", 25.0, 1.0, "{}")])
    assert published is not None
    assert published.ticks[0].change == 5.0
    assert published.ticks[0].change_pct == 25.0


def test_publish_numbered_rejects_gap() -> None:
    hub = make_hub()
    hub.publish_numbered(numbered(1))
    with pytest.raises(ValueError, match="seq 3 does not follow seq 1"):
        hub.publish_numbered(numbered(3))
    assert hub.last_seq == 1


def test_restart_history_starts_after_floor() -> None:
    hub = make_hub(history_size=10)
    hub.restart("feed-1", 100)
    hub.publish_numbered(numbered(101, 102))
    assert hub.first_seq == 101
    assert hub.has_cursor(100)
    assert not hub.has_cursor(99)
    ticks, cursor = hub.ticks_after(100, None, 10)
    assert [tick.seq for tick in ticks] == [101, 102]
    assert cursor == 102


def test_restart_tells_subscribers() -> None:
    hub = make_hub()
    recorder = Recorder()
    hub.subscribe(recorder, None, "test", "t-1")
    hub.restart("feed-2", 0)
    assert recorder.closed == 1
    assert hub.counts() == {}
    # Unlike close, restart leaves the hub open for new clients.
    hub.subscribe(Recorder(), None, "test", "t-2")


def test_restart_new_epoch_forgets_latest() -> None:
    hub = make_hub(epoch="feed-1")
    hub.publish_numbered(numbered(1))
    hub.restart("feed-1", 5)
    assert [tick.seq for tick in hub.snapshot()[1]] == [1]
    hub.restart("feed-2", 0)
    assert hub.snapshot() == (0, [])


def test_publish_after_restart_continues_numbering() -> None:
    hub = make_hub()
    hub.restart("feed-1", 7)
    published = hub.publish([PriceUpdate("AAA", 11.0, 1.0)])
    assert published is not None
    assert published.cursor == 8


# The entry format


def test_entry_round_trip() -> None:
    hub = make_hub()
    published = hub.publish([PriceUpdate("AAA", 11.0, 5.5), PriceUpdate("BBB", 21.0, 5.5)])
    assert published is not None
    decoded = decode_entry("7-0", encode_batch(hub.epoch, published.ticks))
    assert decoded.epoch == hub.epoch
    assert decoded.entry_id == "7-0"
    assert [(t.seq, t.symbol, t.price, t.ts) for t in decoded.ticks] == [
        (1, "AAA", 11.0, 5.5),
        (2, "BBB", 21.0, 5.5),
    ]
    assert [t.json for t in decoded.ticks] == [t.json for t in published.ticks]


@pytest.mark.parametrize(
    "fields",
    [
        {"ticks": "[]"},
        {"epoch": "e", "ticks": "not json"},
        {"epoch": "e", "ticks": "[[1, 2]]"},
        {"epoch": "e", "ticks": "[]"},
    ],
)
def test_malformed_entry_names_id(fields: dict[str, str]) -> None:
    with pytest.raises(MalformedEntry, match="stream entry 9-1"):
        decode_entry("9-1", fields)


def test_stream_length_covers_history() -> None:
    assert stream_length(10000) == 10000
    assert stream_length(1) == 1


# Following the stream


def test_follower_takes_feed_epoch() -> None:
    hub = make_hub()
    follower = StreamFollower(hub)
    follower.apply(batch("feed-1", 31, 32, entry_id="5-0"))
    assert hub.epoch == "feed-1"
    assert hub.first_seq == 31
    assert hub.last_seq == 32
    assert follower.last_entry_id == "5-0"


def test_follower_skips_duplicates() -> None:
    hub = make_hub()
    follower = StreamFollower(hub)
    follower.apply(batch("feed-1", 1, 2))
    recorder = Recorder()
    hub.subscribe(recorder, None, "test", "t-1")
    follower.apply(batch("feed-1", 2, 3, entry_id="2-0"))
    follower.apply(batch("feed-1", 3, entry_id="3-0"))
    assert recorder.seqs == [3]
    assert recorder.closed == 0
    assert follower.last_entry_id == "3-0"


def test_follower_declares_gap(log_guard) -> None:
    log_guard.expect("missed seq 3-4 of epoch feed-1")
    hub = make_hub()
    follower = StreamFollower(hub)
    follower.apply(batch("feed-1", 1, 2))
    recorder = Recorder()
    hub.subscribe(recorder, None, "test", "t-1")
    follower.apply(batch("feed-1", 5, 6))
    assert recorder.closed == 1
    assert follower.gaps == 1
    assert hub.epoch == "feed-1"
    assert not hub.has_cursor(2)
    assert hub.has_cursor(4)


def test_follower_switches_epoch() -> None:
    hub = make_hub()
    follower = StreamFollower(hub)
    follower.apply(batch("feed-1", 1, 2, 3))
    recorder = Recorder()
    hub.subscribe(recorder, None, "test", "t-1")
    follower.apply(batch("feed-2", 1))
    assert recorder.closed == 1
    assert hub.epoch == "feed-2"
    assert hub.last_seq == 1
    assert follower.epoch_changes == 2


def test_follower_skips_malformed_entry(log_guard) -> None:
    log_guard.expect("stream entry 4-0 is not a ticker batch")
    follower = StreamFollower(make_hub())
    follower.apply_entry("4-0", {"epoch": "e"})
    assert follower.last_entry_id == "4-0"
    assert len(log_guard.matching("4-0")) == 1


def test_newest_run_stops_at_gap_and_epoch() -> None:
    batches = [
        batch("old", 7),
        batch("new", 1),
        batch("new", 2),
        batch("new", 4),
        batch("new", 5, 6),
    ]
    assert [b.ticks[0].seq for b in newest_run(batches)] == [4, 5]
    assert newest_run(batches[:3]) == batches[1:3]
    assert newest_run([]) == []


# Configuration and messages


def test_config_backplane_defaults_off() -> None:
    config = parse_config(SMALL_CONFIG)
    assert config.backplane.url == ""
    assert config.backplane.stream == "ticker"


def test_config_backplane_url_checked() -> None:
    text = SMALL_CONFIG + '\n[backplane]\nurl = "http://user:secret@host/"\n'
    with pytest.raises(ConfigError, match="backplane.url: expected a Redis URL") as raised:
        parse_config(text, source="c.toml")
    assert "secret" not in str(raised.value)


def test_config_backplane_accepts_redis_url() -> None:
    text = SMALL_CONFIG + '\n[backplane]\nurl = "redis://10.0.0.5:6380/2"\nstream = "prices"\n'
    config = parse_config(text)
    assert config.backplane.url == "redis://10.0.0.5:6380/2"
    assert config.backplane.stream == "prices"


def test_describe_url_hides_password() -> None:
    assert describe_url("redis://:hunter2@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert describe_url("redis://app:pw@h/0") == "redis://app:***@h/0"
    assert describe_url("redis://10.0.0.5:6379/0") == "redis://10.0.0.5:6379/0"
