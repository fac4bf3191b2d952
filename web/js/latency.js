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
 * Latency samples over a rolling window: the last `maxAgeMs` of samples, but
 * at most `maxSamples` of them.
 *
 * A sample stores the receive time minus the tick `ts` as the browser's clock
 * gives it. The clock offset is added when figures are read, so a new offset
 * estimate applies to every sample still in the window.
 */
export class LatencyWindow {
  #samples;

  constructor({ maxSamples = 1000, maxAgeMs = 30_000 } = {}) {
    this.maxAgeMs = maxAgeMs;
    this.#samples = new RingBuffer(maxSamples);
  }

  add(receivedAt, tickTs) {
    this.#samples.push({ receivedAt, rawLatencyMs: receivedAt - tickTs });
  }

  reset() {
    this.#samples.clear();
  }

  /**
   * Returns the latencies in ms of the samples still inside the window at
   * `now`, each corrected by `offsetMs` (server clock minus browser clock),
   * in ascending order.
   */
  sortedLatencies(offsetMs, now = nowMs()) {
    this.#dropOld(now);
    return Array.from(this.#samples, (sample) => sample.rawLatencyMs + offsetMs).sort((a, b) => a - b);
  }

  /**
   * Returns { count, lastMs, medianMs, p50Ms, p90Ms, p99Ms, maxMs } for the
   * samples still inside the window at `now`, corrected by `offsetMs`. The
   * percentiles are nearest-rank, so each is a latency that some tick had,
   * while the median averages the two middle samples of an even count. The
   * latency figures are null when there are no samples or `offsetMs` is null
   * (no clock estimate yet).
   */
  summary(offsetMs, now = nowMs()) {
    const sorted = this.sortedLatencies(offsetMs ?? 0, now);
    if (sorted.length === 0 || offsetMs === null) {
      return {
        count: sorted.length,
        lastMs: null,
        medianMs: null,
        p50Ms: null,
        p90Ms: null,
        p99Ms: null,
        maxMs: null,
      };
    }
    return {
      count: sorted.length,
      lastMs: this.#samples.last().rawLatencyMs + offsetMs,
      medianMs: median(sorted),
      p50Ms: percentile(sorted, 50),
      p90Ms: percentile(sorted, 90),
      p99Ms: percentile(sorted, 99),
      maxMs: sorted[sorted.length - 1],
    };
  }

  #dropOld(now) {
    while (this.#samples.length > 0 && now - this.#samples.first().receivedAt > this.maxAgeMs) {
      this.#samples.shift();
    }
  }
}
