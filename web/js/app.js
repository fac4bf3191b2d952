import { AccessDeniedError, keepKeyInLinks } from "./access.js";
import { ClockSync } from "./clock.js";
import { ClockView } from "./clockview.js";
import { LatencyView } from "./latencyview.js";
import { LatencyWindow, nowMs } from "./latency.js";
import { fetchSymbolList, loadWithRetry } from "./load.js";
import { RateMeter } from "./rate.js";
import { StatusView } from "./statusview.js";
import { PriceTable } from "./table.js";
import { InvalidTransportModuleError, TransportRegistry } from "./transports/index.js";

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

const clockView = new ClockView({
  root: byId("clock"),
  offset: byId("clock-offset"),
  uncertainty: byId("clock-uncertainty"),
  note: byId("clock-note"),
});

const latencyView = new LatencyView({
  last: byId("latency-last"),
  median: byId("latency-median"),
  p99: byId("latency-p99"),
  samples: byId("latency-samples"),
  ticksPerSecond: byId("rate-ticks"),
  messagesPerSecond: byId("rate-messages"),
});

/**
 * Returns what `load()` resolves to, retrying with backoff until it succeeds
 * and showing each retry in the status line, where `resourceName` names the
 * data. The options are those of loadWithRetry(), without onRetry.
 */
function loadWithStatus(resourceName, load, options = {}) {
  const onRetry = (error, retryAt) => {
    const reason = `cannot load ${resourceName} (${error.message})`;
    showStatus({ state: "reconnecting", epoch: null, reason, retryAt });
  };
  return loadWithRetry(load, { ...options, onRetry });
}

/**
 * Returns the transport named in the page URL's `?transport=` when the
 * server offers it, else the first one the server lists.
 */
function initialTransportName(registry) {
  const requested = new URLSearchParams(window.location.search).get("transport");
  return registry.has(requested) ? requested : registry.entries[0].name;
}

function fillTransportMenu(select, registry, selected) {
  for (const { name, label, description } of registry.entries) {
    const option = new Option(label, name, false, name === selected);
    option.title = description ?? "";
    select.add(option);
  }
}

/** Connects one transport at a time to the table and the latency panel. */
class Dashboard {
  #transport = null;
  #transportName = null;
  /**
   * Incremented by each useTransport() and close() call, so a transport
   * whose module loads after a later switch or close is never connected.
   */
  #switchCount = 0;
  #latency = new LatencyWindow(LATENCY_WINDOW);
  #rates = new RateMeter({ windowMs: RATE_WINDOW_MS });

  /** Version of the symbol list the table shows, from `/api/symbols` or an announcement. */
  #symbolsVersion;

  constructor(registry, symbolList, table, clock) {
    this.registry = registry;
    this.clock = clock;
    this.table = table;
    this.feedMode = symbolList.feed.mode;
    this.#symbolsVersion = symbolList.version;
  }

  /** Shows the rows of `symbols` if `version` is newer than the list shown. */
  showSymbols(symbols, version) {
    if (version <= this.#symbolsVersion) {
      return;
    }
    this.#symbolsVersion = version;
    this.table.setSymbols(symbols);
    byId("symbol-count").textContent = String(symbols.length);
  }

  /**
   * Fetches the symbol list again, for announcements missed while the
   * connection was down.
   */
  async refreshSymbols() {
    try {
      const body = await fetchSymbolList();
      this.showSymbols(body.symbols, body.version);
    } catch (error) {
      console.warn("ticker: cannot refresh the symbol list", error);
    }
  }

  get transportName() {
    return this.#transportName;
  }

  /**
   * Closes the current transport and connects `name` in its place, loading
   * its module first if needed. The table keeps its rows, and the latency and
   * rate windows start empty so that the figures belong to the new transport
   * alone. A module that fails to load is retried with backoff like a lost
   * connection, and one without a Transport class shows as an error.
   */
  async useTransport(name) {
    this.#switchCount += 1;
    const switchNumber = this.#switchCount;
    const previous = this.#transport;
    this.#transport = null;
    this.#transportName = name;
    previous?.close();

    this.#latency.reset();
    this.#rates.reset();
    const { label } = this.registry.get(name);
    statusView.setTransport(name, label);
    showStatus({ state: "connecting", epoch: null });

    const isCurrent = () => switchNumber === this.#switchCount;
    let transport;
    try {
      transport = await loadWithStatus(`the ${label} transport`, () => this.registry.create(name), {
        isCurrent,
        isPermanent: (error) => error instanceof InvalidTransportModuleError,
      });
    } catch (error) {
      showStatus({ state: "error", epoch: null, reason: error.message });
      return;
    }
    if (!isCurrent()) {
      transport?.close();
      return;
    }
    this.#transport = transport;

    let wasLive = false;
    transport.onStatus((status) => {
      if (this.#transport !== transport) {
        return;
      }
      showStatus(status);
      const isLive = status.state === "live";
      if (isLive && !wasLive) {
        this.refreshSymbols();
      }
      wasLive = isLive;
    });
    transport.onSymbols((change) => {
      if (this.#transport === transport) {
        this.showSymbols(change.symbols, change.version);
      }
    });
    transport.onTicks((ticks, isSnapshot) => {
      if (this.#transport === transport) {
        this.#receive(ticks, isSnapshot, transport.status.epoch);
      }
    });
    this.clock.refreshOnReconnect(transport);
    // Every symbol, so that a symbol added while the page is open ticks at once.
    transport.subscribe([]);
    transport.connect();
  }

  /** Closes the current transport, and drops a transport whose module is still loading. */
  close() {
    this.#switchCount += 1;
    this.#transport?.close();
    this.#transport = null;
  }

  refreshPanel() {
    latencyView.show(this.#latency.summary(this.clock.offsetMs), this.#rates.summary());
    const feedMode = byId("feed-mode");
    feedMode.dataset.mode = this.feedMode;
    feedMode.textContent =
      this.feedMode === "replay"
        ? `replaying ${this.table.latestDate ?? "…"}`
        : "simulated prices";
    // Names the transport whose windows the panel shows, for readers and tests.
    byId("figures").dataset.transport = this.#transportName;
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

/** Shows `status` and, unless it is "live", marks the figures as old. */
function showStatus(status) {
  statusView.show(status);
  // Figures from before a disconnect stay on screen, so mark them as old.
  byId("figures").dataset.stale = String(status.state !== "live");
}

async function main() {
  showStatus({ state: "connecting", epoch: null });
  const clock = new ClockSync();
  clockView.show(clock.state);
  clock.onChange((state) => clockView.show(state));
  clock.start();
  keepKeyInLinks(document.querySelectorAll(".page-nav a"));
  let registry;
  let symbolList;
  try {
    [registry, symbolList] = await Promise.all([
      loadWithStatus("the transport list", () => TransportRegistry.load()),
      loadWithStatus("the symbol list", fetchSymbolList, {
        isPermanent: (error) => error instanceof AccessDeniedError,
      }),
    ]);
  } catch (error) {
    showStatus({ state: "error", epoch: null, reason: error.message });
    document.body.dataset.ready = "true";
    return;
  }
  const { symbols } = symbolList;
  if (registry.entries.length === 0) {
    showStatus({ state: "error", epoch: null, reason: "the server has no transport enabled" });
    return;
  }

  const select = byId("transport");
  const initialName = initialTransportName(registry);
  fillTransportMenu(select, registry, initialName);

  const table = new PriceTable(byId("price-rows"), symbols);
  byId("symbol-count").textContent = String(symbols.length);
  const dashboard = new Dashboard(registry, symbolList, table, clock);

  select.addEventListener("change", () => {
    dashboard.useTransport(select.value);
    const url = new URL(window.location.href);
    url.searchParams.set("transport", select.value);
    window.history.replaceState(null, "", url);
  });
  byId("reconnect").addEventListener("click", () => dashboard.useTransport(dashboard.transportName));
  // Leaving the page ends the poll, stream or socket at once. A page restored
  // from the back/forward cache connects again.
  window.addEventListener("pagehide", () => {
    dashboard.close();
    clock.stop();
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      clock.start();
      dashboard.useTransport(dashboard.transportName);
    }
  });

  dashboard.useTransport(initialName);
  setInterval(() => dashboard.refreshPanel(), PANEL_REFRESH_MS);
  document.body.dataset.ready = "true";
}

main();
