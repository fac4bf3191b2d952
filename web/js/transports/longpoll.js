import { CursorPollingTransport } from "/static/js/transports/polling.js";

/**
 * Transport over HTTP long-polling (`GET /long-poll`). The server holds each
 * poll until ticks after the cursor exist or its hold timeout passes, so the
 * next poll starts as soon as a response arrives.
 */
export default class LongPollTransport extends CursorPollingTransport {
  get pollPath() {
    return "/long-poll";
  }
}
