import { RingBuffer } from "./ringbuffer.js";

/**
 * Per-second rates of named counters over the last `windowMs`.
 *
 * Each add() is one event carrying counts, such as `{ bytes: 512, requests: 1 }`.
 * The event buffer is bounded, so at very high event rates the window covers
 * less than `windowMs` and the rates are computed over the time it does cover.
 */
export class CounterRates {
  #events;
  #startedAt;

  constructor({ windowMs = 5000, maxEvents = 2000, now = performance.now() } = {}) {
    this.windowMs = windowMs;
    this.#events = new RingBuffer(maxEvents);
    this.#startedAt = now;
  }

  add(counts, now = performance.now()) {
    this.#events.push({ at: now, counts });
  }

  reset(now = performance.now()) {
    this.#events.clear();
    this.#startedAt = now;
  }

  /**
   * Returns `{ events, <name>: ... }` at `now`: events per second, and the
   * sum per second of each counter in `names`.
   */
  summary(names, now = performance.now()) {
    while (this.#events.length > 0 && now - this.#events.first().at > this.windowMs) {
      this.#events.shift();
    }
    let spanMs = Math.min(this.windowMs, now - this.#startedAt);
    if (this.#events.length === this.#events.capacity) {
      spanMs = Math.min(spanMs, now - this.#events.first().at);
    }
    // Below one second the rate would jump around too much to read.
    spanMs = Math.max(spanMs, 1000);

    const totals = Object.fromEntries(names.map((name) => [name, 0]));
    for (const event of this.#events) {
      for (const name of names) {
        totals[name] += event.counts[name] ?? 0;
      }
    }
    const rates = { events: (this.#events.length * 1000) / spanMs };
    for (const name of names) {
      rates[name] = (totals[name] * 1000) / spanMs;
    }
    return rates;
  }
}

/** Messages and ticks per second over the last `windowMs`, counting each message as one event. */
export class RateMeter {
  #rates;

  constructor(options = {}) {
    this.#rates = new CounterRates(options);
  }

  get windowMs() {
    return this.#rates.windowMs;
  }

  add(tickCount, now = performance.now()) {
    this.#rates.add({ ticks: tickCount }, now);
  }

  reset(now = performance.now()) {
    this.#rates.reset(now);
  }

  /** Returns { messagesPerSecond, ticksPerSecond } at `now`. */
  summary(now = performance.now()) {
    const rates = this.#rates.summary(["ticks"], now);
    return { messagesPerSecond: rates.events, ticksPerSecond: rates.ticks };
  }
}
