import { PLACEHOLDER } from "./format.js";

/**
 * Connection status line: state, transport and epoch.
 *
 * The root element's `data-state` is the transport's state ("connecting",
 * "live", "reconnecting", "error" or "closed"). While reconnecting, the text
 * counts down to the next attempt.
 */
export class StatusView {
  #countdownTimer = null;

  /**
   * @param {object} elements
   * @param {HTMLElement} elements.root carries data-state
   * @param {HTMLElement} elements.text the human-readable status
   * @param {HTMLElement} [elements.transport] the current transport's name
   * @param {HTMLElement} [elements.epoch] the server epoch
   * @param {HTMLButtonElement} elements.reconnect shown only in the error state
   */
  constructor(elements) {
    this.elements = elements;
  }

  setTransport(name, label) {
    this.elements.transport.textContent = label;
    this.elements.transport.dataset.transport = name;
  }

  show(status) {
    const { root, epoch, reconnect } = this.elements;
    clearInterval(this.#countdownTimer);
    this.#countdownTimer = null;

    root.dataset.state = status.state;
    if (epoch) {
      epoch.textContent = status.epoch ?? PLACEHOLDER;
    }
    reconnect.hidden = status.state !== "error";
    this.#renderText(status);

    if (status.state === "reconnecting") {
      this.#countdownTimer = setInterval(() => this.#renderText(status), 250);
    }
  }

  #renderText(status) {
    this.elements.text.textContent = describe(status);
  }
}

function describe(status) {
  switch (status.state) {
    case "connecting":
      return "Connecting\u2026";
    case "live":
      return "Live";
    case "reconnecting": {
      const seconds = Math.max(0, Math.ceil((status.retryAt - Date.now()) / 1000));
      return `Reconnecting in ${seconds} s: ${status.reason}`;
    }
    case "error":
      return `Error: ${status.reason}`;
    case "closed":
      return "Closed";
    default:
      return status.state;
  }
}
