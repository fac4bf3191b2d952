import { Transport } from "./transport.js";

/** An HTTP error response that retrying would only repeat, such as a 400. */
class RejectedError extends Error {}

/** A failure worth retrying. `retryAfterMs` is the server's Retry-After, or 0. */
class RetryableError extends Error {
  constructor(message, retryAfterMs = 0) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

async function readErrorMessage(response) {
  try {
    const body = await response.json();
    if (typeof body.error === "string") {
      return body.error;
    }
  } catch {
    // The body is not the JSON error object, so the status text stands in for it.
  }
  return response.statusText || "no message";
}

/**
 * Transport over HTTP long-polling: one `GET /api/snapshot`, then a loop of
 * `GET /long-poll?cursor=&epoch=&symbols=` that continues from the cursor of
 * each response.
 *
 * After a network or server error it waits with backoff and resumes from its
 * cursor, so no tick is lost while the server keeps them in its history. A
 * reset answer replaces the table with its snapshot. close() aborts the
 * request in flight at once.
 */
export class LongPollTransport extends Transport {
  #controller = null;
  /** Incremented by shutdown(), so a loop that outlived its attempt stops. */
  #generation = 0;
  #cursor = null;
  #epoch = null;

  open() {
    const generation = this.#generation;
    this.#controller = new AbortController();
    this.#run(generation, this.#controller.signal);
  }

  shutdown() {
    this.#generation += 1;
    this.#controller?.abort();
    this.#controller = null;
  }

  /** Starts over from a snapshot of the new symbols. */
  resubscribe() {
    this.shutdown();
    this.#cursor = null;
    this.emitStatus({ state: "connecting" });
    this.open();
  }

  #isCurrent(generation) {
    return this.active && generation === this.#generation;
  }

  async #run(generation, signal) {
    try {
      if (this.#cursor === null) {
        await this.#loadSnapshot(generation, signal);
      }
      while (this.#isCurrent(generation)) {
        await this.#poll(generation, signal);
      }
    } catch (error) {
      if (!this.#isCurrent(generation)) {
        return;
      }
      if (error instanceof RejectedError) {
        this.fail(error.message);
      } else if (error instanceof RetryableError) {
        this.retryLater(error.message, error.retryAfterMs);
      } else if (error instanceof TypeError) {
        // fetch() rejects with a TypeError when the network request fails.
        this.retryLater("cannot reach server");
      } else {
        throw error;
      }
    }
  }

  #url(path, params) {
    const url = new URL(path, this.baseUrl);
    for (const [name, value] of Object.entries(params)) {
      url.searchParams.set(name, value);
    }
    if (this.symbols.length > 0) {
      url.searchParams.set("symbols", this.symbols.join(","));
    }
    return url;
  }

  async #fetch(url, signal) {
    const response = await fetch(url, { signal, cache: "no-store" });
    if (response.status === 200 || response.status === 204) {
      return response;
    }
    const message = await readErrorMessage(response);
    const description = `${url.pathname} failed with HTTP ${response.status}: ${message}`;
    if (response.status === 503 || response.status === 429) {
      const retryAfterSeconds = Number(response.headers.get("Retry-After"));
      const retryAfterMs = Number.isFinite(retryAfterSeconds) ? retryAfterSeconds * 1000 : 0;
      throw new RetryableError(description, retryAfterMs);
    }
    if (response.status >= 400 && response.status < 500) {
      throw new RejectedError(description);
    }
    throw new RetryableError(description);
  }

  async #readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      if (error.name === "AbortError") {
        throw error;
      }
      throw new RetryableError(`${new URL(response.url).pathname} sent a body that is not JSON`);
    }
  }

  async #loadSnapshot(generation, signal) {
    const response = await this.#fetch(this.#url("/api/snapshot", {}), signal);
    const body = await this.#readJson(response);
    if (!this.#isCurrent(generation)) {
      return;
    }
    this.#cursor = body.cursor;
    this.#epoch = body.epoch;
    this.markLive(body.epoch);
    this.emitTicks(body.ticks, true);
  }

  async #poll(generation, signal) {
    const url = this.#url("/long-poll", { cursor: this.#cursor, epoch: this.#epoch });
    const response = await this.#fetch(url, signal);

    if (response.status === 204) {
      if (!this.#isCurrent(generation)) {
        return;
      }
      // The headers give the newest seq, so a poll for few symbols keeps its
      // cursor inside the history. After a changed epoch the cursor stays,
      // so the next poll gets a reset from the server.
      const epoch = response.headers.get("X-Ticker-Epoch");
      const cursor = Number(response.headers.get("X-Ticker-Cursor"));
      if (epoch === this.#epoch && Number.isInteger(cursor) && cursor > this.#cursor) {
        this.#cursor = cursor;
      }
      this.markLive(this.#epoch);
      return;
    }

    const body = await this.#readJson(response);
    if (!this.#isCurrent(generation)) {
      return;
    }
    this.#cursor = body.cursor;
    this.#epoch = body.epoch;
    this.markLive(body.epoch);
    this.emitTicks(body.ticks, body.reset === true);
  }
}
