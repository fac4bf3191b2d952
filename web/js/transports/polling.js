import { keyHeaders } from "../access.js";
import { buildUrl, checkResponse, readJson, reportRequestError } from "./http.js";
import { estimateHeaderBytes } from "./traffic.js";
import { Transport } from "./transport.js";

/**
 * Base class of the transports that poll an HTTP endpoint with a cursor:
 * one `GET /api/snapshot`, then a loop of `GET <pollPath>?cursor=&epoch=&symbols=`
 * that continues from the cursor of each response. The endpoints respond as
 * `/long-poll` does (docs/protocol.md): 200 with ticks, 200 with a reset, or
 * 204 with the newest cursor in headers.
 *
 * Each poll after the first sends the `symbols_version` it has seen, so a
 * response after a change to the server's symbols carries the new list,
 * which goes to the onSymbols listeners.
 *
 * A subclass sets `pollPath` and may override pause(), which runs between
 * two polls. After a network or server error the loop waits with backoff and
 * resumes from its cursor, so no tick is lost while the server keeps them in
 * its history. A reset response replaces the table with its snapshot. close()
 * aborts the request or pause in progress at once.
 */
export class CursorPollingTransport extends Transport {
  #controller = null;
  /** Incremented by shutdown(), so a loop that outlived its attempt stops. */
  #generation = 0;
  #cursor = null;
  #epoch = null;
  /** The server's symbol list version last seen, or null before the first poll. */
  #symbolsVersion = null;

  /** Path of the poll endpoint, such as "/long-poll". */
  get pollPath() {
    throw new Error(`${this.constructor.name} does not define pollPath`);
  }

  /**
   * Waits before the next poll. `more` is true when the server reported
   * more ticks ready after the new cursor. The default does not wait.
   */
  async pause(_more, _signal) {}

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
        const more = await this.#poll(generation, signal);
        if (this.#isCurrent(generation)) {
          await this.pause(more, signal);
        }
      }
    } catch (error) {
      if (this.#isCurrent(generation)) {
        reportRequestError(this, error);
      }
    }
  }

  async #get(path, params, signal) {
    const url = buildUrl(this.baseUrl, path, params, this.symbols);
    this.countTraffic({ requests: 1 });
    const response = await fetch(url, { signal, cache: "no-store", headers: keyHeaders(this.accessKey) });
    this.countTraffic({ bytes: estimateHeaderBytes(response) });
    return checkResponse(response);
  }

  async #loadSnapshot(generation, signal) {
    const response = await this.#get("/api/snapshot", {}, signal);
    const body = await readJson(response, (bytes) => this.countTraffic({ bytes }));
    if (!this.#isCurrent(generation)) {
      return;
    }
    this.#cursor = body.cursor;
    this.#epoch = body.epoch;
    this.markLive(body.epoch);
    this.emitTicks(body.ticks, true);
  }

  /** Polls once and returns the `more` flag of the response. */
  async #poll(generation, signal) {
    const params = {
      cursor: this.#cursor,
      epoch: this.#epoch,
      symbols_version: this.#symbolsVersion,
    };
    const response = await this.#get(this.pollPath, params, signal);

    if (response.status === 204) {
      if (!this.#isCurrent(generation)) {
        return false;
      }
      // The headers give the newest seq, so a poll for few symbols keeps its
      // cursor inside the history. After a changed epoch the cursor stays,
      // so the next poll gets a reset from the server.
      const epoch = response.headers.get("X-Ticker-Epoch");
      const cursor = Number(response.headers.get("X-Ticker-Cursor"));
      this.#symbolsVersion ??= Number(response.headers.get("X-Ticker-Symbols-Version")) || null;
      if (epoch === this.#epoch && Number.isInteger(cursor) && cursor > this.#cursor) {
        this.#cursor = cursor;
      }
      this.markLive(this.#epoch);
      return false;
    }

    const body = await readJson(response, (bytes) => this.countTraffic({ bytes }));
    if (!this.#isCurrent(generation)) {
      return false;
    }
    this.#cursor = body.cursor;
    this.#epoch = body.epoch;
    this.markLive(body.epoch);
    if (Array.isArray(body.symbols)) {
      this.emitSymbols({ version: body.symbols_version, symbols: body.symbols });
    }
    this.#symbolsVersion = body.symbols_version ?? this.#symbolsVersion;
    // A response that only announces new symbols has no ticks to pass on.
    if (body.ticks.length > 0 || body.reset === true) {
      this.emitTicks(body.ticks, body.reset === true);
    }
    return body.more === true;
  }
}
