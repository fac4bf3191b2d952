import { Backoff } from "./backoff.js";
import { nowMs } from "./latency.js";

export const TIME_URL = "/api/time";

/**
 * Measures one round trip to `GET /api/time` and returns
 * `{ offsetMs, roundTripMs }`. The offset is the server's clock minus the
 * browser's clock (nowMs()), assuming that the server read its clock halfway
 * through the round trip.
 *
 * The round trip ends when the response headers arrive. The server reads its
 * clock before it sends them, so waiting for the body as well would only add
 * the browser's internal delay to the round trip.
 */
async function measureRoundTrip(url, signal) {
  const sentAt = nowMs();
  const response = await fetch(url, { signal, cache: "no-store" });
  const receivedAt = nowMs();
  if (!response.ok) {
    throw new Error(`${url} failed with HTTP ${response.status}`);
  }
  const body = await response.json();
  const serverTime = body?.server_time_ms;
  if (typeof serverTime !== "number" || !Number.isFinite(serverTime)) {
    throw new Error(`${url} returned no server_time_ms number`);
  }
  return { offsetMs: serverTime - (sentAt + receivedAt) / 2, roundTripMs: receivedAt - sentAt };
}

/**
 * Estimate of the offset between the server's clock and the browser's, so
 * that latency (receive time + offset - tick `ts`) is right when the two
 * machines' clocks differ.
 *
 * Each estimate makes `roundTrips` sequential requests to `GET /api/time` and
 * keeps the one with the shortest round trip, as NTP does, because it left
 * the least room for delay on one leg only. The true offset then lies within
 * half that round trip of the estimate, which is the `uncertaintyMs` shown
 * next to it. The page estimates again every `intervalMs` and on refresh().
 * A failed estimate keeps the previous one and is retried with backoff.
 *
 * Listeners registered with onChange() receive the state
 * `{ offsetMs, uncertaintyMs, measuredAt, estimates, error }`. Offset and
 * uncertainty are null until the first estimate succeeds. `measuredAt` is
 * the nowMs() time of the last successful estimate and `estimates` counts
 * them. `error` is the message of the last failed estimate, or null once one
 * succeeds.
 */
export class ClockSync {
  #listeners = [];
  #timer = null;
  #controller = null;
  /** The estimate in progress, so that refresh() during one does not start another. */
  #running = null;
  #backoff = new Backoff({ baseMs: 1000, maxMs: 30_000 });

  constructor({ url = TIME_URL, roundTrips = 8, intervalMs = 60_000 } = {}) {
    this.url = url;
    this.roundTrips = roundTrips;
    this.intervalMs = intervalMs;
    this.state = { offsetMs: null, uncertaintyMs: null, measuredAt: null, estimates: 0, error: null };
  }

  /** Server clock minus browser clock in ms, or null before the first estimate. */
  get offsetMs() {
    return this.state.offsetMs;
  }

  onChange(callback) {
    this.#listeners.push(callback);
  }

  /** Estimates the offset now, and again every `intervalMs` until stop(). */
  start() {
    this.refresh();
  }

  /**
   * Estimates the offset now unless an estimate is in progress, and restarts
   * the periodic timer from its end. Returns a promise that settles when the
   * estimate ends.
   */
  refresh() {
    if (this.#running === null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      this.#controller = new AbortController();
      this.#running = this.#estimate(this.#controller.signal).finally(() => {
        this.#running = null;
      });
    }
    return this.#running;
  }

  /**
   * Estimates again each time `transport` goes live after a reconnect,
   * because a lost connection may mean a new server or a suspended machine.
   */
  refreshOnReconnect(transport) {
    let reconnecting = false;
    transport.onStatus((status) => {
      if (status.state === "reconnecting") {
        reconnecting = true;
      } else if (status.state === "live" && reconnecting) {
        reconnecting = false;
        this.refresh();
      }
    });
  }

  /** Stops the periodic estimates and aborts the one in progress. */
  stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#controller?.abort();
    this.#controller = null;
  }

  async #estimate(signal) {
    let best = null;
    try {
      for (let i = 0; i < this.roundTrips; i += 1) {
        const sample = await measureRoundTrip(this.url, signal);
        if (best === null || sample.roundTripMs < best.roundTripMs) {
          best = sample;
        }
      }
    } catch (error) {
      if (signal.aborted) {
        return;
      }
      this.#update({ error: `cannot estimate the clock offset (${error.message})` });
      this.#schedule(this.#backoff.next());
      return;
    }
    if (signal.aborted) {
      return;
    }
    this.#backoff.reset();
    this.#update({
      offsetMs: best.offsetMs,
      uncertaintyMs: best.roundTripMs / 2,
      measuredAt: nowMs(),
      estimates: this.state.estimates + 1,
      error: null,
    });
    this.#schedule(this.intervalMs);
  }

  #schedule(delayMs) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.refresh(), delayMs);
  }

  #update(changes) {
    this.state = { ...this.state, ...changes };
    for (const callback of this.#listeners) {
      callback(this.state);
    }
  }
}
