import { formatOffset } from "./format.js";

/**
 * Clock offset figure: the offset of the server's clock from the browser's
 * and its uncertainty, filled from the state of a ClockSync.
 *
 * The root element's `data-state` is "measuring" before the first estimate,
 * "aligned" once one succeeded, and "failed" while estimates fail. The note
 * element explains the first and the last. `data-estimates` on the root
 * counts the successful estimates.
 */
export class ClockView {
  /**
   * @param {object} elements
   * @param {HTMLElement} elements.root carries data-state
   * @param {HTMLElement} elements.offset the offset in ms, signed
   * @param {HTMLElement} elements.uncertainty half the round trip of the estimate, in ms
   * @param {HTMLElement} elements.note the state when it is not "aligned"
   */
  constructor(elements) {
    this.elements = elements;
  }

  show(state) {
    const { root, offset, uncertainty, note } = this.elements;
    offset.textContent = formatOffset(state.offsetMs);
    uncertainty.textContent = formatOffset(state.uncertaintyMs, { signed: false });
    root.dataset.estimates = String(state.estimates);
    if (state.error !== null) {
      root.dataset.state = "failed";
      // An older estimate stays in use while new ones fail.
      note.textContent =
        state.offsetMs === null ? `${state.error}; retrying` : `${state.error}; using the last estimate`;
    } else if (state.offsetMs === null) {
      root.dataset.state = "measuring";
      note.textContent = "measuring\u2026";
    } else {
      root.dataset.state = "aligned";
      note.textContent = "";
    }
  }
}
