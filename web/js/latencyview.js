import { formatMilliseconds, formatRate } from "./format.js";

/** Latency and rate panel, filled from the summaries of LatencyWindow and RateMeter. */
export class LatencyView {
  /**
   * @param {object} elements
   * @param {HTMLElement} elements.last
   * @param {HTMLElement} elements.median
   * @param {HTMLElement} elements.p99
   * @param {HTMLElement} elements.samples
   * @param {HTMLElement} elements.ticksPerSecond
   * @param {HTMLElement} elements.messagesPerSecond
   */
  constructor(elements) {
    this.elements = elements;
  }

  show(latency, rates) {
    const { last, median, p99, samples, ticksPerSecond, messagesPerSecond } = this.elements;
    last.textContent = formatMilliseconds(latency.lastMs);
    median.textContent = formatMilliseconds(latency.medianMs);
    p99.textContent = formatMilliseconds(latency.p99Ms);
    samples.textContent = String(latency.count);
    ticksPerSecond.textContent = formatRate(rates.ticksPerSecond);
    messagesPerSecond.textContent = formatRate(rates.messagesPerSecond);
  }
}
