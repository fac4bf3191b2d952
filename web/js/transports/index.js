import { LongPollTransport } from "./longpoll.js";
import { WebSocketTransport } from "./websocket.js";

/**
 * Transports the dashboard offers, by name, in menu order. Adding a transport
 * takes one module with a Transport subclass and one entry here.
 */
export const TRANSPORTS = new Map([
  ["websocket", { label: "WebSocket", create: (options) => new WebSocketTransport(options) }],
  ["longpoll", { label: "Long-poll", create: (options) => new LongPollTransport(options) }],
]);

export const DEFAULT_TRANSPORT = "websocket";

/** Creates the transport registered as `name`. Throws an Error for an unknown name. */
export function createTransport(name, options) {
  const entry = TRANSPORTS.get(name);
  if (entry === undefined) {
    throw new Error(`unknown transport "${name}"; known: ${[...TRANSPORTS.keys()].join(", ")}`);
  }
  return entry.create(options);
}
