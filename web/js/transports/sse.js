import { Transport } from "/static/js/transports/transport.js";
import { buildUrl, checkResponse, reportRequestError } from "/static/js/transports/http.js";
import { serverSentEventBytes } from "/static/js/transports/traffic.js";

/**
 * Transport over Server-Sent Events (`GET /sse`, read with EventSource).
 *
 * The stream starts with a `snapshot` event and continues with one `ticks`
 * event per published batch. Every event's id is `<epoch>:<cursor>`.
 *
 * EventSource would reconnect by itself after the server's `retry:` delay,
 * but then the page could neither show a countdown nor back off. So on any
 * error this transport closes the EventSource and opens a new one after the
 * backoff delay, passing the last event id as `lastEventId` in the query
 * string. The server then replays the missed ticks, or sends a `reset` event
 * with a fresh snapshot when the id is too old or from another epoch.
 */
export default class ServerSentEventsTransport extends Transport {
  #source = null;
  /** Aborts the request that looks up why a stream was rejected. */
  #probe = null;
  /** Id of the last event received, `<epoch>:<cursor>`, or null before the first. */
  #lastEventId = null;
  #epoch = null;

  open() {
    const url = buildUrl(
      this.baseUrl,
      "/sse",
      { lastEventId: this.#lastEventId, key: this.accessKey },
      this.symbols,
    );
    const source = new EventSource(url);
    const resuming = this.#lastEventId !== null;
    let opened = false;
    this.#source = source;
    this.countTraffic({ requests: 1 });

    source.addEventListener("open", () => {
      if (this.#source !== source) {
        return;
      }
      opened = true;
      // The server validated the request before it started the stream. A
      // fresh stream goes live with its snapshot, which carries the epoch.
      if (resuming) {
        this.markLive(this.#epoch);
      }
    });
    source.addEventListener("snapshot", (event) => this.#receive(source, event, true));
    source.addEventListener("reset", (event) => this.#receive(source, event, true));
    source.addEventListener("ticks", (event) => this.#receive(source, event, false));
    source.addEventListener("symbols", (event) => {
      if (this.#source === source) {
        this.countTraffic({ bytes: serverSentEventBytes(event) });
        this.emitSymbols(JSON.parse(event.data));
      }
    });
    source.addEventListener("error", () => {
      if (this.#source !== source) {
        return;
      }
      // CLOSED before open means that the browser rejected the response
      // (an HTTP error or another content type), not that the network failed.
      const rejected = !opened && source.readyState === EventSource.CLOSED;
      this.#source = null;
      source.close();
      if (opened) {
        this.retryLater("event stream ended");
      } else if (rejected) {
        this.#reportRejection(url);
      } else {
        this.retryLater("cannot connect to server");
      }
    });
  }

  shutdown() {
    this.#source?.close();
    this.#source = null;
    this.#probe?.abort();
    this.#probe = null;
  }

  /** Starts over from a snapshot of the new symbols. */
  resubscribe() {
    this.shutdown();
    this.#lastEventId = null;
    this.emitStatus({ state: "connecting" });
    this.open();
  }

  #receive(source, event, isSnapshot) {
    if (this.#source !== source) {
      return;
    }
    this.countTraffic({ bytes: serverSentEventBytes(event) });
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      this.fail(`server sent a ${event.type} event that is not JSON`);
      return;
    }
    this.#lastEventId = event.lastEventId || this.#lastEventId;
    if (isSnapshot) {
      this.#epoch = data.epoch;
      this.markLive(data.epoch);
    }
    this.emitTicks(data.ticks, isSnapshot);
  }

  /**
   * Requests `url` once with fetch() to learn why EventSource rejected it,
   * because EventSource reports no status code. A 4xx response, such as the
   * one for an unknown symbol, becomes an error status, and anything else is
   * retried.
   */
  async #reportRejection(url) {
    const controller = new AbortController();
    this.#probe = controller;
    let reason;
    try {
      const response = await checkResponse(
        await fetch(url, { signal: controller.signal, cache: "no-store" }),
      );
      const type = response.headers.get("Content-Type") ?? "none";
      reason = type.startsWith("text/event-stream")
        ? "event stream failed to open"
        : `/sse responded with Content-Type ${type}, expected text/event-stream`;
    } catch (error) {
      if (this.#probe === controller) {
        this.#probe = null;
        reportRequestError(this, error);
      }
      return;
    } finally {
      // A 200 response is a live stream, so stop reading it.
      controller.abort();
    }
    if (this.#probe === controller) {
      this.#probe = null;
      this.retryLater(reason);
    }
  }
}
