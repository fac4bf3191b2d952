import { PLACEHOLDER, formatBytes, formatMillisecondsCompact, formatRate } from "./format.js";
import { HistogramChart } from "./histogram.js";
import { StatusView } from "./statusview.js";

/**
 * One transport's card on the compare page: its status, latency histogram
 * and figures. Built from the page's `#card-template`.
 *
 * Each figure element carries `data-figure` with its name, and `data-value`
 * with the number shown (empty while there is none), for tests and scripts.
 */
export class CompareCard {
  #figures = new Map();

  /**
   * @param {HTMLTemplateElement} template
   * @param {{name: string, label: string, description: string}} entry the transport's list entry
   */
  constructor(template, entry) {
    this.element = template.content.firstElementChild.cloneNode(true);
    this.element.dataset.transport = entry.name;
    const title = this.element.querySelector(".card-title");
    title.textContent = entry.label;
    title.title = entry.description ?? "";

    for (const element of this.element.querySelectorAll("[data-figure]")) {
      this.#figures.set(element.dataset.figure, element);
    }
    this.chart = new HistogramChart(this.element.querySelector(".histogram-plot"));
    this.status = new StatusView({
      root: this.element.querySelector(".status"),
      text: this.element.querySelector(".status-text"),
      reconnect: this.element.querySelector(".status-reconnect"),
    });
  }

  /** Registers `callback()` for the card's Reconnect button, shown in the error state. */
  onReconnect(callback) {
    this.element.querySelector(".status-reconnect").addEventListener("click", callback);
  }

  /** Shows `status` and, unless it is "live", marks the figures as old. */
  showStatus(status) {
    this.status.show(status);
    this.element.dataset.stale = String(status.state !== "live");
  }

  /**
   * Shows the figures of one refresh.
   *
   * @param {object} figures
   * @param {number[]} figures.sorted corrected latencies in ascending order
   * @param {object} figures.latency a LatencyWindow summary
   * @param {number} figures.updatesPerSecond
   * @param {number|null} figures.bytesPerSecond null while the transport reported no traffic
   * @param {number|null} figures.requestsPerSecond likewise
   */
  show({ sorted, latency, updatesPerSecond, bytesPerSecond, requestsPerSecond }) {
    this.#set("samples", latency.count, String(latency.count));
    this.#set("p50", latency.p50Ms, formatMillisecondsCompact(latency.p50Ms));
    this.#set("p90", latency.p90Ms, formatMillisecondsCompact(latency.p90Ms));
    this.#set("p99", latency.p99Ms, formatMillisecondsCompact(latency.p99Ms));
    this.#set("max", latency.maxMs, formatMillisecondsCompact(latency.maxMs));
    this.#set("updates", updatesPerSecond, formatRate(updatesPerSecond));
    this.#set("bytes", bytesPerSecond, formatBytes(bytesPerSecond));
    this.#set("requests", requestsPerSecond, requestsPerSecond === null ? PLACEHOLDER : formatRate(requestsPerSecond));
    // Without a clock offset the latencies are not known, so the chart stays empty.
    this.chart.render(latency.p50Ms === null ? [] : sorted, latency.p50Ms, latency.p99Ms);
  }

  #set(name, value, text) {
    const element = this.#figures.get(name);
    element.textContent = text;
    element.dataset.value = value === null ? "" : String(value);
  }
}
