import { Transport } from "/static/js/transports/transport.js";
import { utf8ByteLength, webSocketFrameBytes } from "/static/js/transports/traffic.js";

/** Meaning of the close codes, for a close that carries no reason of its own. */
const CLOSE_REASONS = new Map([
  [1001, "server is shutting down"],
  [1006, "connection lost"],
  [1008, "closed by the server's policy (slow consumer or too many connections)"],
  [1009, "client message too large"],
  [1011, "server error"],
  [1012, "the feed restarted"],
  [1013, "server is at its client limit"],
]);

function describeClose(event, wasOpen) {
  if (!wasOpen && event.code === 1006) {
    return "cannot connect to server";
  }
  // The server's own reason is the most precise, such as which limit a refusal hit.
  const meaning = event.reason || CLOSE_REASONS.get(event.code) || "connection closed";
  return `${meaning} (close code ${event.code})`;
}

function webSocketUrl(baseUrl, accessKey) {
  const url = new URL("/ws", baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  // A browser cannot set headers on a WebSocket handshake, so the key goes in the query.
  if (accessKey !== null) {
    url.searchParams.set("key", accessKey);
  }
  return url.href;
}

/**
 * Transport over the server's WebSocket endpoint `/ws`.
 *
 * On open it subscribes to `symbols` (all symbols when the list is empty) and
 * reports "live" once the snapshot arrives. It keeps the epoch and cursor of
 * the last message, so after an unexpected close it reconnects with backoff
 * and resumes from that cursor. The server then replays the missed ticks. When
 * the cursor is too old or the server restarted, it sends a snapshot with
 * `"reset": true` instead.
 */
export default class WebSocketTransport extends Transport {
  #socket = null;
  /** Symbols the server currently has subscribed for this socket. */
  #sentSymbols = [];
  /** Epoch and cursor of the last snapshot or ticks message, or null before the first. */
  #epoch = null;
  #cursor = null;
  /** True from a resuming subscribe until the server's first message after it. */
  #resuming = false;

  open() {
    const socket = new WebSocket(webSocketUrl(this.baseUrl, this.accessKey));
    let wasOpen = false;
    this.#socket = socket;
    this.countTraffic({ requests: 1 });

    socket.addEventListener("open", () => {
      wasOpen = true;
      this.#sentSymbols = [];
      this.#sendSubscription();
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) {
        this.countTraffic({ bytes: webSocketFrameBytes(utf8ByteLength(event.data)) });
        this.#handleMessage(event.data);
      }
    });
    socket.addEventListener("close", (event) => {
      if (this.#socket !== socket) {
        return;
      }
      this.#socket = null;
      this.retryLater(describeClose(event, wasOpen));
    });
  }

  shutdown() {
    const socket = this.#socket;
    this.#socket = null;
    if (socket !== null) {
      socket.close(1000, "client closed");
    }
  }

  resubscribe() {
    if (this.#socket?.readyState === WebSocket.OPEN) {
      this.#sendSubscription();
    } else {
      // The cursor belongs to the old symbols, so the next socket starts from a snapshot.
      this.#cursor = null;
    }
  }

  /**
   * Brings the server's subscription in line with `this.symbols`. The first
   * subscribe on a new socket carries the last epoch and cursor, if any, so
   * the server continues from there instead of sending a snapshot.
   */
  #sendSubscription() {
    const requested = this.symbols.length > 0 ? this.symbols : ["*"];
    const removed = this.#sentSymbols.filter((symbol) => !requested.includes(symbol));
    if (removed.length > 0) {
      this.#send({ type: "unsubscribe", symbols: removed });
    }
    const message = { type: "subscribe", symbols: requested };
    const isNewSocket = this.#sentSymbols.length === 0;
    this.#resuming = isNewSocket && this.#cursor !== null;
    if (this.#resuming) {
      message.epoch = this.#epoch;
      message.cursor = this.#cursor;
    }
    this.#send(message);
    this.#sentSymbols = requested;
  }

  #send(message) {
    this.#socket.send(JSON.stringify(message));
  }

  #handleMessage(data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      this.fail("server sent a message that is not JSON");
      return;
    }

    switch (message.type) {
      case "snapshot":
        this.#resuming = false;
        this.#epoch = message.epoch;
        this.#cursor = message.cursor;
        this.markLive(message.epoch);
        this.emitTicks(message.ticks, true);
        break;
      case "ticks":
        // A resumed subscription gets no snapshot, so its first replayed or
        // live ticks show that the server accepted it. Going live on the
        // socket's open event instead would reset the backoff even when the
        // server closes at once, as it does with 1013 at its client limit.
        if (this.#resuming) {
          this.#resuming = false;
          this.markLive(this.#epoch);
        }
        this.#cursor = message.cursor;
        this.emitTicks(message.ticks, false);
        break;
      case "error":
        // The server keeps the connection and the previous subscription.
        this.fail(`server rejected a request: ${message.message}`);
        break;
      case "symbols":
        this.emitSymbols(message);
        break;
      case "unsubscribed":
        break;
      default:
        console.warn("ticker: ignoring WebSocket message of unknown type", message.type);
    }
  }
}
