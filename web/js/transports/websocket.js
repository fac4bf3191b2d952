import { Transport } from "./transport.js";

/** Meaning of the close codes that the ticker server sends. */
const CLOSE_REASONS = new Map([
  [1001, "server is shutting down"],
  [1006, "connection lost"],
  [1008, "client fell too far behind (slow consumer)"],
  [1009, "client message too large"],
  [1011, "server error"],
  [1013, "server is at its client limit"],
]);

function describeClose(event, wasOpen) {
  if (!wasOpen && event.code === 1006) {
    return "cannot connect to server";
  }
  const meaning = CLOSE_REASONS.get(event.code) || event.reason || "connection closed";
  return `${meaning} (close code ${event.code})`;
}

function webSocketUrl(baseUrl) {
  const url = new URL("/ws", baseUrl);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

/**
 * Transport over the server's WebSocket endpoint `/ws`.
 *
 * On open it subscribes to `symbols` (all symbols when the list is empty) and
 * reports "live" once the snapshot arrives. After an unexpected close it
 * reconnects with backoff and subscribes again, which brings a new snapshot.
 */
export class WebSocketTransport extends Transport {
  #socket = null;
  /** Symbols the server currently has subscribed for this socket. */
  #sentSymbols = [];

  open() {
    const socket = new WebSocket(webSocketUrl(this.baseUrl));
    let wasOpen = false;
    this.#socket = socket;

    socket.addEventListener("open", () => {
      wasOpen = true;
      this.#sentSymbols = [];
      this.#sendSubscription();
    });
    socket.addEventListener("message", (event) => {
      if (this.#socket === socket) {
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
    }
  }

  /** Brings the server's subscription in line with `this.symbols`. */
  #sendSubscription() {
    const requested = this.symbols.length > 0 ? this.symbols : ["*"];
    const removed = this.#sentSymbols.filter((symbol) => !requested.includes(symbol));
    if (removed.length > 0) {
      this.#send({ type: "unsubscribe", symbols: removed });
    }
    this.#send({ type: "subscribe", symbols: requested });
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
        this.markLive(message.epoch);
        this.emitTicks(message.ticks, true);
        break;
      case "ticks":
        this.emitTicks(message.ticks, false);
        break;
      case "error":
        // The server keeps the connection and the previous subscription.
        this.fail(`server rejected a request: ${message.message}`);
        break;
      case "unsubscribed":
        break;
      default:
        console.warn("ticker: ignoring WebSocket message of unknown type", message.type);
    }
  }
}
