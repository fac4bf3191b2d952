import { direction } from "./format.js";
import { RingBuffer } from "./ringbuffer.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 120;
const HEIGHT = 28;
const PADDING = 2;

/**
 * Inline SVG line of a symbol's most recent prices, at most `maxPoints` of
 * them. The line is scaled to the range of the points it shows and colored by
 * whether the last point is above or below the first.
 */
export class Sparkline {
  #points;
  #line;

  constructor({ maxPoints = 120 } = {}) {
    this.#points = new RingBuffer(maxPoints);

    this.element = document.createElementNS(SVG_NS, "svg");
    this.element.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    this.element.setAttribute("preserveAspectRatio", "none");
    this.element.setAttribute("class", "sparkline");
    this.element.setAttribute("aria-hidden", "true");

    this.#line = document.createElementNS(SVG_NS, "polyline");
    this.#line.setAttribute("vector-effect", "non-scaling-stroke");
    this.element.append(this.#line);
  }

  get length() {
    return this.#points.length;
  }

  push(price) {
    this.#points.push(price);
  }

  clear() {
    this.#points.clear();
  }

  render() {
    const prices = Array.from(this.#points);
    this.element.dataset.points = String(prices.length);
    if (prices.length < 2) {
      this.#line.setAttribute("points", "");
      this.element.dataset.trend = "flat";
      return;
    }

    const low = Math.min(...prices);
    const high = Math.max(...prices);
    const xStep = WIDTH / (prices.length - 1);
    const usableHeight = HEIGHT - 2 * PADDING;
    const toY = (price) =>
      high === low ? HEIGHT / 2 : PADDING + ((high - price) / (high - low)) * usableHeight;

    const coordinates = prices.map((price, index) => `${(index * xStep).toFixed(2)},${toY(price).toFixed(2)}`);
    this.#line.setAttribute("points", coordinates.join(" "));

    this.element.dataset.trend = direction(prices[prices.length - 1] - prices[0]);
  }
}
