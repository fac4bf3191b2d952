import { pageKey } from "../access.js";
import { Backoff } from "../backoff.js";

/**
 * Base class of every transport: listener lists, connection status and
 * reconnect scheduling. A subclass implements three hooks:
 *
 *   open()        start one connection attempt for `this.symbols`
 *   shutdown()    tear down the current attempt at once, with no callbacks after it
 *   resubscribe() apply a changed `this.symbols` to an open connection
 *
 * and reports back through emitTicks(), markLive(), retryLater() and fail(),
 * and through emitSymbols() when the server announces a changed symbol list.
 * It may also call countTraffic() for each request it makes and each
 * response or message it receives, for pages that measure what a transport
 * costs. The compare view shows no traffic figures for a transport that
 * never calls it.
 *
 * Status objects passed to onStatus listeners have the form
 *   { state, epoch, reason, retryAt }
 * where state is "connecting", "live", "reconnecting", "error" or "closed",
 * epoch is the server epoch last seen (or null), reason explains
 * "reconnecting" and "error", and retryAt is the Date.now() time of the next
 * attempt while reconnecting.
 */
export class Transport {
  #tickListeners = [];
  #statusListeners = [];
  #trafficListeners = [];
  #symbolListeners = [];
  #retryTimer = null;
  #backoff;

  /**
   * @param {object} options
   * @param {string} [options.baseUrl] origin of the ticker server; defaults to the page's origin
   * @param {Backoff} [options.backoff] reconnect delays; defaults to 0.5 s doubling up to 10 s
   * @param {string|null} [options.accessKey] API key to send; defaults to the page URL's `?key=`
   */
  constructor({ baseUrl = window.location.origin, backoff = new Backoff(), accessKey = pageKey() } = {}) {
    this.baseUrl = baseUrl;
    /** API key for a server with access control, or null. */
    this.accessKey = accessKey;
    this.#backoff = backoff;
    /** Symbols to receive; an empty list means all symbols. */
    this.symbols = [];
    /** True between connect() and close(). */
    this.active = false;
    this.status = { state: "closed", epoch: null, reason: null, retryAt: null };
  }

  /**
   * Registers `callback(ticks, isSnapshot)`. It is called once per server
   * message. isSnapshot is true when the ticks are the latest tick per symbol
   * (a snapshot or a reset) rather than new updates.
   */
  onTicks(callback) {
    this.#tickListeners.push(callback);
  }

  /** Registers `callback(status)`. The class comment lists the status fields. */
  onStatus(callback) {
    this.#statusListeners.push(callback);
  }

  /**
   * Registers `callback({ requests, bytes })`, called by countTraffic():
   * `requests` is the number of HTTP requests started (a WebSocket handshake
   * and an EventSource connection count as one each) and `bytes` is the
   * client's estimate of the bytes received, headers and framing included.
   */
  onTraffic(callback) {
    this.#trafficListeners.push(callback);
  }

  /**
   * Registers `callback(change)`, called when the server announces that
   * symbols were added or removed. `change` has `version` and `symbols`, the
   * list as `GET /api/symbols` returns it, and from push transports also
   * `added` and `removed`.
   */
  onSymbols(callback) {
    this.#symbolListeners.push(callback);
  }

  /** Sets the symbols to receive, replacing the previous list. */
  subscribe(symbols) {
    this.symbols = [...symbols];
    if (this.active) {
      this.resubscribe();
    }
  }

  /** Starts connecting. The transport reconnects by itself until close() is called. */
  connect() {
    if (this.active) {
      return;
    }
    this.active = true;
    this.#backoff.reset();
    this.emitStatus({ state: "connecting" });
    this.open();
  }

  /** Stops the transport at once. Listeners get a "closed" status and nothing after it. */
  close() {
    if (!this.active) {
      return;
    }
    this.active = false;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.shutdown();
    this.emitStatus({ state: "closed" });
  }

  open() {
    throw new Error(`${this.constructor.name} does not implement open()`);
  }

  shutdown() {
    throw new Error(`${this.constructor.name} does not implement shutdown()`);
  }

  resubscribe() {
    throw new Error(`${this.constructor.name} does not implement resubscribe()`);
  }

  emitTicks(ticks, isSnapshot) {
    if (!this.active) {
      return;
    }
    for (const callback of this.#tickListeners) {
      callback(ticks, isSnapshot);
    }
  }

  emitSymbols(change) {
    if (!this.active) {
      return;
    }
    for (const callback of this.#symbolListeners) {
      callback(change);
    }
  }

  /** Reports requests started and bytes received to the onTraffic listeners. */
  countTraffic({ requests = 0, bytes = 0 }) {
    if (!this.active) {
      return;
    }
    for (const callback of this.#trafficListeners) {
      callback({ requests, bytes });
    }
  }

  /** Merges `changes` into the status and notifies listeners. */
  emitStatus(changes) {
    this.status = { ...this.status, reason: null, retryAt: null, ...changes };
    for (const callback of this.#statusListeners) {
      callback(this.status);
    }
  }

  /** Records a working connection: resets the backoff and reports "live". */
  markLive(epoch = this.status.epoch) {
    this.#backoff.reset();
    if (this.status.state !== "live" || this.status.epoch !== epoch) {
      this.emitStatus({ state: "live", epoch });
    }
  }

  /**
   * Reports "reconnecting" and calls open() again after the next backoff
   * delay, or after `minDelayMs` if that is longer (a server's Retry-After).
   */
  retryLater(reason, minDelayMs = 0) {
    if (!this.active) {
      return;
    }
    const delayMs = Math.max(this.#backoff.next(), minDelayMs);
    this.emitStatus({ state: "reconnecting", reason, retryAt: Date.now() + delayMs });
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.active) {
        this.emitStatus({ state: "connecting" });
        this.open();
      }
    }, delayMs);
  }

  /**
   * Reports an error that retrying would only repeat. No retry is scheduled,
   * so the subclass decides whether its connection stays open.
   */
  fail(reason) {
    if (this.active) {
      this.emitStatus({ state: "error", reason });
    }
  }
}
