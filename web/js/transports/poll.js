import { CursorPollingTransport } from "/static/js/transports/polling.js";
import { sleep } from "/static/js/transports/http.js";

/**
 * Transport over short polling (`GET /poll`). The server responds to each
 * poll at once, with the ticks after the cursor or 204, and the transport
 * polls again after `intervalMs`. When the server reports `"more": true` it polls
 * again without waiting, to fetch the rest of a long backlog.
 */
export default class PollTransport extends CursorPollingTransport {
  /**
   * @param {object} options the Transport options, plus:
   * @param {number} [options.intervalMs] delay between the end of one poll and
   *   the start of the next, in ms; defaults to 500, as ticker bench --poll-interval
   */
  constructor({ intervalMs = 500, ...options } = {}) {
    super(options);
    if (!(Number.isFinite(intervalMs) && intervalMs >= 0)) {
      throw new RangeError(`invalid intervalMs ${intervalMs}: expected a number of ms, 0 or more`);
    }
    this.intervalMs = intervalMs;
  }

  get pollPath() {
    return "/poll";
  }

  async pause(more, signal) {
    if (!more) {
      await sleep(this.intervalMs, signal);
    }
  }
}
