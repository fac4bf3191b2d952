/**
 * Exponential backoff with jitter for reconnect delays.
 *
 * The n-th delay in a row is drawn uniformly from the upper half of
 * min(maxMs, baseMs * 2^n), so clients that lost the same server do not all
 * come back at the same moment. reset() starts the sequence over and is
 * called after a successful connection.
 */
export class Backoff {
  #attempt = 0;

  constructor({ baseMs = 500, maxMs = 10_000 } = {}) {
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** Returns the next delay in ms and advances the sequence. */
  next() {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.#attempt);
    if (ceiling < this.maxMs) {
      this.#attempt += 1;
    }
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  reset() {
    this.#attempt = 0;
  }
}
