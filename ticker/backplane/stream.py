"""The stream's entry format: one entry per batch, the same on the feed and on every node.

An entry has two fields: ``epoch`` and ``ticks``, a JSON array of ``[seq, symbol, price, ts,
json]`` rows, where ``json`` is the tick exactly as the feed's hub encoded it. Nodes send that
text to clients without encoding it again. Everything here is pure: no Redis, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ticker.hub import NumberedTick, Tick

EPOCH_FIELD = "epoch"
TICKS_FIELD = "ticks"
LOCK_SUFFIX = ":feed-lock"


class MalformedEntry(ValueError):
    """A stream entry that this version cannot read; the message names the entry id."""


@dataclass(frozen=True, slots=True)
class StreamBatch:
    """One decoded entry: a batch of ticks of one epoch, in seq order."""

    entry_id: str
    epoch: str
    ticks: list[NumberedTick]

    @property
    def first_seq(self) -> int:
        return self.ticks[0].seq

    @property
    def last_seq(self) -> int:
        return self.ticks[-1].seq


def lock_key(stream: str) -> str:
    """Return the key whose owner is the one feed allowed to append to ``stream``."""
    return stream + LOCK_SUFFIX


def stream_length(history_size: int) -> int:
    """Return the entries to keep so that the stream covers a node's whole history.

    Symbols update at their own times, so a batch may hold a single tick: only as many entries
    as the history has ticks are sure to cover it. ``MAXLEN ~`` keeps at least this many.
    """
    return max(1, history_size)


def encode_batch(epoch: str, ticks: Sequence[Tick]) -> dict[str, str]:
    """Return the fields of the entry for ``ticks``, published by the feed's hub."""
    rows = [[tick.seq, tick.symbol, tick.price, tick.ts, tick.json] for tick in ticks]
    return {EPOCH_FIELD: epoch, TICKS_FIELD: json.dumps(rows, separators=(",", ":"))}


def decode_entry(entry_id: str, fields: Mapping[str, str]) -> StreamBatch:
    """Return the batch in one entry; raise MalformedEntry naming ``entry_id`` if it is not one."""
    try:
        epoch = fields[EPOCH_FIELD]
        rows = json.loads(fields[TICKS_FIELD])
        ticks = [
            NumberedTick(int(seq), str(symbol), float(price), float(ts), str(text))
            for seq, symbol, price, ts, text in rows
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEntry(f"stream entry {entry_id} is not a ticker batch: {exc!r}") from None
    if not ticks:
        raise MalformedEntry(f"stream entry {entry_id} has no ticks")
    return StreamBatch(entry_id, epoch, ticks)
