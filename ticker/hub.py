"""The subscription hub: the one place where ticks live.

The hub numbers every tick with a global seq, encodes it to JSON once, keeps the latest tick per
symbol and a bounded history, and hands each published batch to its subscribers. It does no I/O
and imports no Tornado: transports subscribe with an object that turns a batch into writes, and
``publish`` never waits for any of them.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ticker.errors import HubFull, InvalidRequest

logger = logging.getLogger("ticker.hub")

Symbols = frozenset[str] | None
"""A symbol filter; None means every symbol."""


@dataclass(frozen=True, slots=True)
class Quote:
    """The quote fields that go with a price: dollars, except ``size`` in shares."""

    bid: float
    ask: float
    size: int
    """Shares traded at the price."""
    open: float
    """The session's first price; ``change`` is measured against it."""
    high: float
    low: float
    date: str | None = None
    """The trading day a replayed price belongs to (``YYYY-MM-DD``); None when simulated."""


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """A new price from a publisher, with the moment it was scheduled for (ms since the epoch).

    Without a ``quote``, the tick has no quote fields and ``change`` is measured against the
    symbol's start price.
    """

    symbol: str
    price: float
    ts: float
    quote: Quote | None = None


@dataclass(slots=True)
class SymbolChange:
    """Symbols added to or removed from a running hub."""

    version: int
    """The hub's ``symbols_version`` after the change."""
    added: tuple[str, ...]
    removed: tuple[str, ...]
    symbols: tuple[str, ...]
    """Every symbol after the change, in order."""
    rendered: dict[str, str] = field(default_factory=dict)
    """Messages built from this change, by transport name, built once for all subscribers."""


@dataclass(frozen=True, slots=True)
class Tick:
    seq: int
    symbol: str
    price: float
    change: float
    change_pct: float
    ts: float
    json: str
    """The tick encoded once at publish; every transport sends this text as it is."""
    published_at: float
    """The hub clock's reading at publish (``time.monotonic`` by default), for delay counters."""


@dataclass(frozen=True, slots=True)
class NumberedTick:
    """A tick that another process already numbered and encoded, as a backplane carries it."""

    seq: int
    symbol: str
    price: float
    ts: float
    json: str


@dataclass(slots=True)
class Selection:
    """The ticks of one batch that match one symbol filter, and their JSON array."""

    ticks: list[Tick]
    json: str
    rendered: dict[str, str] = field(default_factory=dict)
    """Messages built from this selection, by transport name, so that the subscribers that
    share a filter share one message instead of formatting it each."""


@dataclass(slots=True)
class Batch:
    """The ticks of one ``publish`` call, in seq order."""

    ticks: list[Tick]
    _selections: dict[Symbols, Selection] = field(default_factory=dict)

    @property
    def cursor(self) -> int:
        return self.ticks[-1].seq

    def select(self, symbols: Symbols) -> Selection:
        """Return the ticks for ``symbols``; subscribers with the same filter share one result."""
        selection = self._selections.get(symbols)
        if selection is None:
            if symbols is None:
                ticks = self.ticks
            else:
                ticks = [tick for tick in self.ticks if tick.symbol in symbols]
            selection = Selection(ticks, encode_ticks(ticks))
            self._selections[symbols] = selection
        return selection


class Subscriber(Protocol):
    """The interface a transport implements to receive batches from the hub."""

    def deliver(self, batch: Batch, selection: Selection) -> None:
        """Take the ticks of ``batch`` that match the subscription; called only when some do.

        Runs inside ``Hub.publish``, so it must not block; an exception is logged and the other
        subscribers still receive the batch.
        """

    def hub_closed(self) -> None:
        """Say goodbye to the client because the server is shutting down."""


class SymbolsSubscriber(Subscriber, Protocol):
    """A subscriber that also hears when symbols are added or removed while the server runs.

    The method is optional: the hub calls it only on subscribers that define it, so a
    transport written against ``Subscriber`` alone keeps working.
    """

    def symbols_changed(self, change: SymbolChange) -> None:
        """Tell the client about ``change``; runs inside ``Hub.update_symbols``, so never block."""


class RestartSubscriber(Subscriber, Protocol):
    """A subscriber that distinguishes a feed restart from a shutdown.

    The method is optional: without it, ``Hub.restart`` calls ``hub_closed`` instead.
    """

    def hub_restarted(self) -> None:
        """End the subscription so that the client resumes and gets a reset; never block."""


class Subscription:
    """A subscriber's registration with the hub; ``close`` is idempotent."""

    def __init__(self, hub: Hub, subscriber: Subscriber, symbols: Symbols, kind: str, client_id: str):
        self.hub = hub
        self.subscriber = subscriber
        self.symbols = symbols
        self.kind = kind
        self.client_id = client_id
        self.closed = False

    def update(self, symbols: Symbols) -> None:
        self.symbols = symbols

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.hub._remove(self)


class Hub:
    """Holds the snapshot and history, assigns seqs and fans batches out to subscribers.

    ``start_prices`` maps every symbol the hub accepts to its start price, against which
    ``change`` is computed. ``history_size`` ticks are kept for cursor catch-up. At most
    ``max_subscribers`` subscriptions may be open at once.
    """

    def __init__(
        self,
        start_prices: Mapping[str, float],
        history_size: int,
        max_subscribers: int,
        epoch: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if history_size < 1:
            raise ValueError(f"history_size must be positive, got {history_size}")
        self.start_prices = dict(start_prices)
        self.symbols = tuple(self.start_prices)
        self.symbols_version = 1
        """Incremented by every ``update_symbols`` call that adds or removes a symbol."""
        self.retired_symbols: set[str] = set()
        """Symbols removed while running. Filters may still name them, so that a client's
        resume or poll URL keeps working; they get no new ticks."""
        self.history_size = history_size
        self.max_subscribers = max_subscribers
        self.epoch = epoch if epoch is not None else secrets.token_hex(6)
        self.clock = clock
        self.last_seq = 0
        self._floor = 0
        """No tick at or below this seq is in the history; it moves only with ``restart``."""
        self.encoded_ticks = 0
        """Ticks encoded to JSON so far; equals the ticks published, whatever the client count."""
        self.closed = False

        self._latest: dict[str, Tick] = {}
        # A ring buffer indexed by seq: the tick with seq s sits at s % history_size.
        self._history: list[Tick | None] = [None] * history_size
        self._subscriptions: dict[int, Subscription] = {}

    @property
    def first_seq(self) -> int:
        """The oldest seq still in the history (1 before anything was evicted)."""
        return max(self._floor + 1, self.last_seq - self.history_size + 1)

    def validate_symbols(self, symbols: Iterable[str]) -> frozenset[str]:
        """Return the symbols as a set; raise InvalidRequest naming the first unknown one."""
        result = frozenset(symbols)
        for symbol in sorted(result):
            if symbol not in self.start_prices and symbol not in self.retired_symbols:
                # A client's name is cut, so that a huge one cannot flood the error message.
                shown = symbol if len(symbol) <= 40 else symbol[:37] + "..."
                raise InvalidRequest(
                    f"unknown symbol {shown!r}; known symbols: {', '.join(self.symbols)}"
                )
        return result

    def publish(self, updates: Iterable[PriceUpdate]) -> Batch | None:
        """Number, store and fan out one batch; return it, or None if ``updates`` is empty.

        Raises InvalidRequest for a symbol the hub was not configured with or a price below one
        cent; then nothing of the batch is published.
        """
        updates = list(updates)
        if not updates:
            return None
        for update in updates:
            if update.symbol not in self.start_prices:
                raise InvalidRequest(f"cannot publish unknown symbol {update.symbol!r}")
            if not update.price >= 0.01 or math.isinf(update.price):
                raise InvalidRequest(
                    f"cannot publish price {update.price!r} for {update.symbol}; "
                    "expected a finite price of at least 0.01"
                )

        published_at = self.clock()
        ticks = [self._make_tick(update, published_at) for update in updates]
        for tick in ticks:
            self._latest[tick.symbol] = tick
            self._history[tick.seq % self.history_size] = tick
        return self._fan_out(Batch(ticks))

    def _fan_out(self, batch: Batch) -> Batch:
        ticks = batch.ticks
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "published seq %d-%d (%d ticks) to %d subscribers",
                ticks[0].seq,
                ticks[-1].seq,
                len(ticks),
                len(self._subscriptions),
            )

        # A subscriber may close its subscription while being called, so iterate over a copy.
        for subscription in list(self._subscriptions.values()):
            if subscription.closed:
                continue
            selection = batch.select(subscription.symbols)
            if not selection.ticks:
                continue
            try:
                subscription.subscriber.deliver(batch, selection)
            except Exception:
                logger.exception(
                    "delivering seq %d to %s client %s failed",
                    batch.cursor,
                    subscription.kind,
                    subscription.client_id,
                )
        return batch

    def _make_tick(self, update: PriceUpdate, published_at: float) -> Tick:
        self.last_seq += 1
        quote = update.quote
        start = quote.open if quote is not None else self.start_prices[update.symbol]
        price = round(update.price, 2)
        change = round(price - start, 2)
        change_pct = round(100.0 * (price - start) / start, 4)
        body: dict[str, object] = {
            "seq": self.last_seq,
            "symbol": update.symbol,
            "price": price,
            "change": change,
            "change_pct": change_pct,
            "ts": update.ts,
        }
        if quote is not None:
            body.update(
                bid=round(quote.bid, 2),
                ask=round(quote.ask, 2),
                size=quote.size,
                open=round(quote.open, 2),
                high=round(quote.high, 2),
                low=round(quote.low, 2),
            )
            if quote.date is not None:
                body["date"] = quote.date
        self.encoded_ticks += 1
        encoded = json.dumps(body, separators=(",", ":"))
        return Tick(
            self.last_seq, update.symbol, price, change, change_pct, update.ts, encoded, published_at
        )

    def update_symbols(self, start_prices: Mapping[str, float]) -> SymbolChange | None:
        """Make ``start_prices`` the hub's symbols, and tell subscribers what was added or removed.

        Seqs, the history and every subscription stay: a removed symbol's ticks remain in the
        history and filters may still name it. A symbol that stays takes its new start price.
        Returns the change, or None when no symbol was added or removed.
        """
        added = tuple(symbol for symbol in start_prices if symbol not in self.start_prices)
        removed = tuple(symbol for symbol in self.symbols if symbol not in start_prices)
        self.start_prices = dict(start_prices)
        self.symbols = tuple(self.start_prices)
        if not added and not removed:
            return None

        self.retired_symbols.difference_update(added)
        self.retired_symbols.update(removed)
        for symbol in removed:
            self._latest.pop(symbol, None)
        self.symbols_version += 1
        change = SymbolChange(self.symbols_version, added, removed, self.symbols)
        logger.info(
            "symbols changed (version %d): added %s, removed %s",
            change.version,
            ", ".join(added) or "none",
            ", ".join(removed) or "none",
        )
        for subscription in list(self._subscriptions.values()):
            notify = getattr(subscription.subscriber, "symbols_changed", None)
            if subscription.closed or notify is None:
                continue
            try:
                notify(change)
            except Exception:
                logger.exception(
                    "announcing symbols to %s client %s failed",
                    subscription.kind,
                    subscription.client_id,
                )
        return change

    def snapshot(self, symbols: Symbols = None) -> tuple[int, list[Tick]]:
        """Return the current cursor and the latest tick of each symbol that has one."""
        selected = self.symbols if symbols is None else [s for s in self.symbols if s in symbols]
        ticks = [self._latest[symbol] for symbol in selected if symbol in self._latest]
        return self.last_seq, ticks

    def has_cursor(self, cursor: int) -> bool:
        """Return whether every tick after ``cursor`` is still in the history."""
        return self.first_seq - 1 <= cursor <= self.last_seq

    def ticks_after(self, cursor: int, symbols: Symbols, limit: int) -> tuple[list[Tick], int]:
        """Return up to ``limit`` ticks after ``cursor`` for ``symbols``, and the next cursor.

        The next cursor is the seq of the last tick returned when ``limit`` was reached, and
        otherwise the newest seq, so a client skips the ticks of other symbols for good. The
        lookup starts at ``cursor`` in the ring buffer and never scans older history. Raises
        ValueError if the cursor is not in the history (check ``has_cursor`` first).
        """
        if not self.has_cursor(cursor):
            raise ValueError(f"cursor {cursor} is outside the history")
        found: list[Tick] = []
        for seq in range(cursor + 1, self.last_seq + 1):
            tick = self._history[seq % self.history_size]
            assert tick is not None and tick.seq == seq
            if symbols is None or tick.symbol in symbols:
                found.append(tick)
                if len(found) == limit:
                    return found, seq
        return found, self.last_seq

    def subscribe(
        self, subscriber: Subscriber, symbols: Symbols, kind: str, client_id: str
    ) -> Subscription:
        """Register ``subscriber`` for batches with ticks of ``symbols``.

        ``kind`` names the transport in counts and logs. Raises HubFull when ``max_subscribers``
        subscriptions are open, and RuntimeError after ``close``.
        """
        if self.closed:
            raise RuntimeError("the hub is closed")
        if len(self._subscriptions) >= self.max_subscribers:
            raise HubFull(f"{self.max_subscribers} clients connected")
        subscription = Subscription(self, subscriber, symbols, kind, client_id)
        self._subscriptions[id(subscription)] = subscription
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        self._subscriptions.pop(id(subscription), None)

    def counts(self) -> dict[str, int]:
        """Return the open subscriptions per transport kind."""
        result: dict[str, int] = {}
        for subscription in self._subscriptions.values():
            result[subscription.kind] = result.get(subscription.kind, 0) + 1
        return result

    def close(self) -> None:
        """Tell every subscriber that the server is shutting down and drop them; idempotent."""
        if self.closed:
            return
        self.closed = True
        self._drop_subscribers()

    def _drop_subscribers(self, restarted: bool = False) -> None:
        subscriptions = list(self._subscriptions.values())
        self._subscriptions.clear()
        for subscription in subscriptions:
            subscription.closed = True
            subscriber = subscription.subscriber
            goodbye = subscriber.hub_closed
            if restarted:
                goodbye = getattr(subscriber, "hub_restarted", goodbye)
            try:
                goodbye()
            except Exception:
                logger.exception(
                    "closing %s client %s failed", subscription.kind, subscription.client_id
                )


    # Ticks numbered elsewhere: a server node fed by a backplane keeps the feed's seqs and epoch,
    # so that a cursor or event id from one node means the same on every other node.

    def publish_numbered(self, ticks: Sequence[NumberedTick]) -> Batch | None:
        """Store and fan out ticks that already carry their seq and JSON, as ``publish`` does.

        The seqs must continue ``last_seq`` without a gap (call ``restart`` to declare one).
        Raises ValueError otherwise; then nothing of the batch is published. A symbol the hub
        was not configured with is stored with a change of 0.
        """
        if not ticks:
            return None
        for offset, numbered in enumerate(ticks):
            if numbered.seq != self.last_seq + 1 + offset:
                raise ValueError(
                    f"seq {numbered.seq} does not follow seq {self.last_seq + offset}; "
                    "restart the hub to declare a gap"
                )
        published_at = self.clock()
        stored = [self._store_numbered(numbered, published_at) for numbered in ticks]
        self.last_seq = stored[-1].seq
        return self._fan_out(Batch(stored))

    def _store_numbered(self, numbered: NumberedTick, published_at: float) -> Tick:
        start = self.start_prices.get(numbered.symbol, numbered.price)
        change = round(numbered.price - start, 2)
        change_pct = round(100.0 * (numbered.price - start) / start, 4)
        tick = Tick(
            numbered.seq,
            numbered.symbol,
            numbered.price,
            change,
            change_pct,
            numbered.ts,
            numbered.json,
            published_at,
        )
        self._latest[tick.symbol] = tick
        self._history[tick.seq % self.history_size] = tick
        return tick

    def restart(self, epoch: str, last_seq: int) -> None:
        """Continue as epoch ``epoch`` after seq ``last_seq``, as a restarted server would.

        The history is emptied and every subscriber gets ``hub_restarted`` (``hub_closed``
        when it has no such method), so that clients resume and get a reset. A new epoch also
        clears the latest tick per symbol. The same epoch keeps them (a declared gap in the seqs).
        """
        if epoch != self.epoch:
            self._latest.clear()
        self.epoch = epoch
        self.last_seq = last_seq
        self._floor = last_seq
        self._history = [None] * self.history_size
        self._drop_subscribers(restarted=True)


def encode_ticks(ticks: Collection[Tick]) -> str:
    """Join already-encoded ticks into a JSON array without encoding them again."""
    return "[" + ",".join(tick.json for tick in ticks) + "]"
