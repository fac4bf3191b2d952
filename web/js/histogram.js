const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Upper edges in ms of the latency histogram's buckets, on a 1-2-5 series so
 * that the buckets are close to evenly spaced on a log scale and the edges
 * read as round numbers. One more bucket below the first edge counts smaller
 * latencies, including negative ones that clock offset error can produce,
 * and one above the last edge counts larger latencies.
 */
export const BUCKET_EDGES_MS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000];
export const BUCKET_COUNT = BUCKET_EDGES_MS.length + 1;

/** Axis labels: the edge index each one sits on and its text. */
const AXIS_LABELS = [
  [0, "0.1 ms"],
  [3, "1 ms"],
  [6, "10 ms"],
  [9, "100 ms"],
  [12, "1 s"],
  [15, "10 s"],
];

/** Returns the index of the bucket that contains `latencyMs`. */
export function bucketIndex(latencyMs) {
  const index = BUCKET_EDGES_MS.findIndex((edge) => latencyMs < edge);
  return index === -1 ? BUCKET_EDGES_MS.length : index;
}

/** Returns the number of values in each bucket, as an array of BUCKET_COUNT counts. */
export function countBuckets(values) {
  const counts = new Array(BUCKET_COUNT).fill(0);
  for (const value of values) {
    counts[bucketIndex(value)] += 1;
  }
  return counts;
}

/**
 * Returns where `latencyMs` sits on the chart's x axis, in bucket widths
 * from the left: inside a bounded bucket by log interpolation between its
 * edges, and at the middle of the two open-ended buckets.
 */
export function axisPosition(latencyMs) {
  const index = bucketIndex(latencyMs);
  if (index === 0 || index === BUCKET_EDGES_MS.length) {
    return index + 0.5;
  }
  const low = Math.log(BUCKET_EDGES_MS[index - 1]);
  const high = Math.log(BUCKET_EDGES_MS[index]);
  return index + (Math.log(latencyMs) - low) / (high - low);
}

/** Returns a bucket's range as text, such as "2–5 ms" or "≥ 10 s". */
export function describeBucket(index) {
  const text = (ms) => (ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`);
  if (index === 0) {
    return `< ${text(BUCKET_EDGES_MS[0])}`;
  }
  if (index === BUCKET_EDGES_MS.length) {
    return `\u2265 ${text(BUCKET_EDGES_MS[index - 1])}`;
  }
  const low = BUCKET_EDGES_MS[index - 1];
  const high = BUCKET_EDGES_MS[index];
  // "1–2 s" rather than "1 s–2 s", but "500 ms–1 s" where the unit changes.
  if ((low >= 1000) === (high >= 1000)) {
    const scale = high >= 1000 ? 1000 : 1;
    return `${low / scale}\u2013${high / scale} ${high >= 1000 ? "s" : "ms"}`;
  }
  return `${text(low)}\u2013${text(high)}`;
}

const SLOT_WIDTH = 10;
const BAR_WIDTH = 8;
const CHART_WIDTH = SLOT_WIDTH * BUCKET_COUNT;
const CHART_HEIGHT = 60;

/**
 * Bar chart of a latency histogram: one bar per bucket, each scaled to the
 * tallest bar of the chart, with lines at the 50th and the 99th percentile.
 * Each bar's tooltip gives its range, count and share.
 */
export class HistogramChart {
  #bars = [];
  #p50Line;
  #p99Line;

  /** @param {HTMLElement} container receives the SVG and the axis labels */
  constructor(container) {
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", `0 0 ${CHART_WIDTH} ${CHART_HEIGHT}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("class", "histogram-chart");
    svg.setAttribute("role", "img");

    for (let index = 0; index < BUCKET_COUNT; index += 1) {
      const bar = document.createElementNS(SVG_NS, "rect");
      bar.setAttribute("x", String(index * SLOT_WIDTH + (SLOT_WIDTH - BAR_WIDTH) / 2));
      bar.setAttribute("width", String(BAR_WIDTH));
      bar.setAttribute("y", String(CHART_HEIGHT));
      bar.setAttribute("height", "0");
      const open = index === 0 || index === BUCKET_COUNT - 1;
      bar.setAttribute("class", open ? "bar bar-open" : "bar");
      const title = document.createElementNS(SVG_NS, "title");
      bar.append(title);
      svg.append(bar);
      this.#bars.push({ bar, title });
    }
    this.#p50Line = this.#createLine(svg, "marker marker-p50");
    this.#p99Line = this.#createLine(svg, "marker marker-p99");

    const axis = document.createElement("div");
    axis.className = "histogram-axis";
    axis.setAttribute("aria-hidden", "true");
    for (const [edgeIndex, text] of AXIS_LABELS) {
      const label = document.createElement("span");
      label.textContent = text;
      label.style.left = `${((edgeIndex + 1) / BUCKET_COUNT) * 100}%`;
      axis.append(label);
    }

    this.svg = svg;
    container.append(svg, axis);
  }

  /**
   * Draws the histogram of `sorted`, the latencies in ascending order, with
   * lines at `p50Ms` and `p99Ms` (null hides them).
   */
  render(sorted, p50Ms, p99Ms) {
    const counts = countBuckets(sorted);
    const tallest = Math.max(...counts);
    for (const [index, { bar, title }] of this.#bars.entries()) {
      const count = counts[index];
      const height = tallest === 0 ? 0 : (count / tallest) * (CHART_HEIGHT - 2);
      bar.setAttribute("y", (CHART_HEIGHT - height).toFixed(2));
      bar.setAttribute("height", height.toFixed(2));
      const share = sorted.length === 0 ? 0 : (count / sorted.length) * 100;
      title.textContent = `${describeBucket(index)}: ${count} ticks (${share.toFixed(1)} %)`;
    }
    this.svg.dataset.counts = counts.join(",");
    this.svg.setAttribute(
      "aria-label",
      sorted.length === 0 ? "no latency samples yet" : `latency histogram of ${sorted.length} ticks`,
    );
    this.#placeLine(this.#p50Line, p50Ms);
    this.#placeLine(this.#p99Line, p99Ms);
  }

  #createLine(svg, className) {
    const line = document.createElementNS(SVG_NS, "line");
    line.setAttribute("class", className);
    line.setAttribute("y1", "0");
    line.setAttribute("y2", String(CHART_HEIGHT));
    line.setAttribute("vector-effect", "non-scaling-stroke");
    line.setAttribute("visibility", "hidden");
    svg.append(line);
    return line;
  }

  #placeLine(line, latencyMs) {
    if (latencyMs === null) {
      line.setAttribute("visibility", "hidden");
      return;
    }
    const x = (axisPosition(latencyMs) * SLOT_WIDTH).toFixed(2);
    line.setAttribute("x1", x);
    line.setAttribute("x2", x);
    line.setAttribute("visibility", "visible");
  }
}
