import { Backoff } from "./backoff.js";
import { LatencyView } from "./latencyview.js";
import { LatencyWindow, nowMs } from "./latency.js";
import { RateMeter } from "./rate.js";
import { StatusView } from "./statusview.js";
import { PriceTable } from "./table.js";
import { DEFAULT_TRANSPORT, TRANSPORTS, createTransport } from "./transports/index.js";

/** Sliding windows of the latency panel. Both start empty again on a transport switch. */
const LATENCY_WINDOW = { maxSamples: 1000, maxAgeMs: 30_000 };
const RATE_WINDOW_MS = 5000;
const PANEL_REFRESH_MS = 500;

const byId = (id) => document.getElementById(id);

const statusView = new StatusView({
  root: byId("status"),
  text: byId("status-text"),
  transport: byId("current-transport"),
  epoch: byId("epoch"),
  reconnect: byId("reconnect"),
});

const latencyView = new LatencyView({
  last: byId("latency-last"),
  median: byId("latency-median"),
  p99: byId("latency-p99"),
  samples: byId("latency-samples"),
  ticksPerSecond: byId("rate-ticks"),
  messagesPerSecond: byId("rate-messages"),
});

/** Fetches the configured symbols, retrying with backoff until the request succeeds. */
async function loadSymbols() {
  const backoff = new Backoff();
  for (;;) {
    try {
      const response = await fetch("/api/symbols", { cache: "no-store" });
      if (!response.ok) {
        throw new Error(`/api/symbols failed with HTTP ${response.status}`);
      }
      const body = await response.json();
      return body.symbols;
    } catch (error) {
      const delayMs = backoff.next();
      statusView.show({
        state: "reconnecting",
        epoch: null,
        reason: `cannot load the symbol list (${error.message})`,
        retryAt: Date.now() + delayMs,
      });
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

/** Returns the transport named in the page URL's `?transport=`, or the default. */
function initialTransportName() {
  const requested = new URLSearchParams(window.location.search).get("transport");
  return TRANSPORTS.has(requested) ? requested : DEFAULT_TRANSPORT;
}

function fillTransportMenu(select, selected) {
  for (const [name, { label }] of TRANSPORTS) {
    select.add(new Option(label, name, false, name === selected));
  }
}

/** Connects one transport at a time to the table and the latency panel. */
class Dashboard {
  #transport = null;
  #transportName = null;
  #latency = new LatencyWindow(LATENCY_WINDOW);
  #rates = new RateMeter({ windowMs: RATE_WINDOW_MS });

  constructor(symbols, table) {
    this.symbols = symbols.map((entry) => entry.symbol);
    this.table = table;
  }

  get transportName() {
    return this.#transportName;
  }

  /**
   * Closes the current transport and connects `name` in its place. The table
   * keeps its rows, and the latency and rate windows start empty so that the
   * figures belong to the new transport alone.
   */
  useTransport(name) {
    const previous = this.#transport;
    const transport = createTransport(name);
    this.#transport = transport;
    this.#transportName = name;
    previous?.close();

    this.#latency.reset();
    this.#rates.reset();
    statusView.setTransport(name, TRANSPORTS.get(name).label);

    transport.onStatus((status) => {
      if (this.#transport === transport) {
        statusView.show(status);
        // Figures from before a disconnect stay on screen, so mark them as old.
        byId("figures").dataset.stale = String(status.state !== "live");
      }
    });
    transport.onTicks((ticks, isSnapshot) => {
      if (this.#transport === transport) {
        this.#receive(ticks, isSnapshot, transport.status.epoch);
      }
    });
    transport.subscribe(this.symbols);
    transport.connect();
  }

  close() {
    this.#transport?.close();
  }

  refreshPanel() {
    latencyView.show(this.#latency.summary(), this.#rates.summary());
  }

  #receive(ticks, isSnapshot, epoch) {
    const receivedAt = nowMs();
    this.table.update(ticks, epoch);
    // A snapshot repeats ticks published earlier, so it counts neither as
    // throughput nor as latency of the transport.
    if (isSnapshot) {
      return;
    }
    this.#rates.add(ticks.length);
    for (const tick of ticks) {
      this.#latency.add(receivedAt, tick.ts);
    }
  }
}

async function main() {
  const select = byId("transport");
  const initialName = initialTransportName();
  fillTransportMenu(select, initialName);
  statusView.setTransport(initialName, TRANSPORTS.get(initialName).label);
  statusView.show({ state: "connecting", epoch: null });

  const symbols = await loadSymbols();
  const table = new PriceTable(byId("price-rows"), symbols);
  byId("symbol-count").textContent = String(symbols.length);
  const dashboard = new Dashboard(symbols, table);

  select.addEventListener("change", () => {
    dashboard.useTransport(select.value);
    const url = new URL(window.location.href);
    url.searchParams.set("transport", select.value);
    window.history.replaceState(null, "", url);
  });
  byId("reconnect").addEventListener("click", () => dashboard.useTransport(dashboard.transportName));
  // Leaving the page ends the poll or socket at once. A page restored from
  // the back/forward cache connects again.
  window.addEventListener("pagehide", () => dashboard.close());
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      dashboard.useTransport(dashboard.transportName);
    }
  });

  dashboard.useTransport(select.value);
  setInterval(() => dashboard.refreshPanel(), PANEL_REFRESH_MS);
  document.body.dataset.ready = "true";
}

main();
