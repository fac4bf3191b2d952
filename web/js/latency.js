import { RingBuffer } from "./ringbuffer.js";

/**
 * Current time in ms since the Unix epoch with sub-millisecond precision, on
 * the same scale as a tick's `ts`.
 */
export function nowMs() {
  return performance.timeOrigin + performance.now();
}

/** Returns the nearest-rank percentile (0 < p <= 100) of an ascending array. */
export function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)];
}

/** Returns the median of an ascending, non-empty array. */
export function median(sorted) {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * Latency samples (receive time minus tick `ts`, in ms) over a rolling
 * window: the last `maxAgeMs` of samples, but at most `maxSamples` of them.
 */
export class LatencyWindow {
  #samples;

  constructor({ maxSamples = 1000, maxAgeMs = 30_000 } = {}) {
    this.maxAgeMs = maxAgeMs;
    this.#samples = new RingBuffer(maxSamples);
  }

  add(receivedAt, tickTs) {
    this.#samples.push({ receivedAt, latencyMs: receivedAt - tickTs });
  }

  reset() {
    this.#samples.clear();
  }

  /**
   * Returns { count, lastMs, medianMs, p99Ms } for the samples still inside
   * the window at `now`. The figures are null when there are no samples.
   */
  summary(now = nowMs()) {
    while (this.#samples.length > 0 && now - this.#samples.first().receivedAt > this.maxAgeMs) {
      this.#samples.shift();
    }
    if (this.#samples.length === 0) {
      return { count: 0, lastMs: null, medianMs: null, p99Ms: null };
    }
    const sorted = Array.from(this.#samples, (sample) => sample.latencyMs).sort((a, b) => a - b);
    return {
      count: sorted.length,
      lastMs: this.#samples.last().latencyMs,
      medianMs: median(sorted),
      p99Ms: percentile(sorted, 99),
    };
  }
}
