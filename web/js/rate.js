import { RingBuffer } from "./ringbuffer.js";

/**
 * Messages and ticks per second over the last `windowMs`.
 *
 * Each message from a transport is one event carrying its tick count. The
 * event buffer is bounded, so at very high message rates the window covers
 * less than `windowMs` and the rate is computed over the time it does cover.
 */
export class RateMeter {
  #events;
  #startedAt;

  constructor({ windowMs = 5000, maxEvents = 2000, now = performance.now() } = {}) {
    this.windowMs = windowMs;
    this.#events = new RingBuffer(maxEvents);
    this.#startedAt = now;
  }

  add(tickCount, now = performance.now()) {
    this.#events.push({ at: now, tickCount });
  }

  reset(now = performance.now()) {
    this.#events.clear();
    this.#startedAt = now;
  }

  /** Returns { messagesPerSecond, ticksPerSecond } at `now`. */
  summary(now = performance.now()) {
    while (this.#events.length > 0 && now - this.#events.first().at > this.windowMs) {
      this.#events.shift();
    }
    let spanMs = Math.min(this.windowMs, now - this.#startedAt);
    if (this.#events.length === this.#events.capacity) {
      spanMs = Math.min(spanMs, now - this.#events.first().at);
    }
    // Below one second the rate would jump around too much to read.
    spanMs = Math.max(spanMs, 1000);

    let ticks = 0;
    for (const event of this.#events) {
      ticks += event.tickCount;
    }
    return {
      messagesPerSecond: (this.#events.length * 1000) / spanMs,
      ticksPerSecond: (ticks * 1000) / spanMs,
    };
  }
}
