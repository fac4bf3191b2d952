import { AccessDeniedError, keepKeyInLinks } from "./access.js";
import { ClockSync } from "./clock.js";
import { ClockView } from "./clockview.js";
import { CompareCard } from "./compareview.js";
import { LatencyWindow, nowMs } from "./latency.js";
import { fetchSymbols, loadWithRetry } from "./load.js";
import { CounterRates, RateMeter } from "./rate.js";
import { InvalidTransportModuleError, TransportRegistry } from "./transports/index.js";

/**
 * Sliding windows of each connection. The latency window is larger than the
 * dashboard's because the histogram needs more samples to show its shape.
 */
const LATENCY_WINDOW = { maxSamples: 3000, maxAgeMs: 30_000 };
const RATE_WINDOW_MS = 5000;
const REFRESH_MS = 500;

const byId = (id) => document.getElementById(id);

/**
 * One connection of one transport, with its own latency and rate windows
 * and its card. Connections share the page's clock estimate.
 */
class Connection {
  #transport = null;
  /** Incremented by each start() and close(), so a module that loads late is not connected. */
  #startCount = 0;
  #latency = new LatencyWindow(LATENCY_WINDOW);
  #updates = new RateMeter({ windowMs: RATE_WINDOW_MS });
  #traffic = new CounterRates({ windowMs: RATE_WINDOW_MS });
  /** False until the transport reports traffic, so one that never does shows no figure. */
  #reportsTraffic = false;

  constructor(registry, entry, symbols, clock, card) {
    this.registry = registry;
    this.entry = entry;
    this.symbols = symbols;
    this.clock = clock;
    this.card = card;
    card.onReconnect(() => this.start());
  }

  /**
   * Connects a new transport instance, closing the previous one, with empty
   * windows. A module that fails to load is retried with backoff.
   */
  async start() {
    this.close();
    const startNumber = this.#startCount;
    const isCurrent = () => startNumber === this.#startCount;
    this.#latency.reset();
    this.#updates.reset();
    this.#traffic.reset();
    this.card.showStatus({ state: "connecting", epoch: null });

    let transport;
    try {
      transport = await loadWithRetry(() => this.registry.create(this.entry.name), {
        isCurrent,
        isPermanent: (error) => error instanceof InvalidTransportModuleError,
        onRetry: (error, retryAt) =>
          this.card.showStatus({
            state: "reconnecting",
            epoch: null,
            reason: `cannot load the transport (${error.message})`,
            retryAt,
          }),
      });
    } catch (error) {
      this.card.showStatus({ state: "error", epoch: null, reason: error.message });
      return;
    }
    if (!isCurrent()) {
      transport?.close();
      return;
    }
    this.#transport = transport;

    transport.onStatus((status) => this.card.showStatus(status));
    transport.onTicks((ticks, isSnapshot) => this.#receive(ticks, isSnapshot));
    transport.onTraffic((traffic) => {
      this.#reportsTraffic = true;
      this.#traffic.add(traffic);
    });
    this.clock.refreshOnReconnect(transport);
    transport.subscribe(this.symbols);
    transport.connect();
  }

  /** Closes the transport, and drops one whose module is still loading. */
  close() {
    this.#startCount += 1;
    this.#transport?.close();
    this.#transport = null;
  }

  refresh() {
    const offsetMs = this.clock.offsetMs;
    const latency = this.#latency.summary(offsetMs);
    const traffic = this.#traffic.summary(["bytes", "requests"]);
    this.card.show({
      sorted: this.#latency.sortedLatencies(offsetMs ?? 0),
      latency,
      updatesPerSecond: this.#updates.summary().ticksPerSecond,
      bytesPerSecond: this.#reportsTraffic ? traffic.bytes : null,
      requestsPerSecond: this.#reportsTraffic ? traffic.requests : null,
    });
  }

  #receive(ticks, isSnapshot) {
    const receivedAt = nowMs();
    // A snapshot repeats ticks published earlier, so it counts neither as
    // updates nor as latency of the transport.
    if (isSnapshot) {
      return;
    }
    this.#updates.add(ticks.length);
    for (const tick of ticks) {
      this.#latency.add(receivedAt, tick.ts);
    }
  }
}

/** Shows a page-wide message, such as a failed load. Null hides it. */
function showPageStatus(text) {
  const element = byId("page-status");
  element.hidden = text === null;
  element.textContent = text ?? "";
}

async function main() {
  const clock = new ClockSync();
  const clockView = new ClockView({
    root: byId("clock"),
    offset: byId("clock-offset"),
    uncertainty: byId("clock-uncertainty"),
    note: byId("clock-note"),
  });
  clockView.show(clock.state);
  clock.onChange((state) => clockView.show(state));
  clock.start();

  const showRetry = (resourceName) => (error, retryAt) => {
    const seconds = Math.max(1, Math.round((retryAt - Date.now()) / 1000));
    showPageStatus(`Cannot load ${resourceName} (${error.message}); retrying in ${seconds} s.`);
  };
  keepKeyInLinks(document.querySelectorAll(".page-nav a"));
  let registry;
  let symbols;
  try {
    [registry, symbols] = await Promise.all([
      loadWithRetry(() => TransportRegistry.load(), { onRetry: showRetry("the transport list") }),
      loadWithRetry(fetchSymbols, {
        onRetry: showRetry("the symbol list"),
        isPermanent: (error) => error instanceof AccessDeniedError,
      }),
    ]);
  } catch (error) {
    showPageStatus(`Cannot load the symbol list: ${error.message}.`);
    document.body.dataset.ready = "true";
    return;
  }
  showPageStatus(null);
  if (registry.entries.length === 0) {
    showPageStatus("The server has no transport enabled.");
    document.body.dataset.ready = "true";
    return;
  }

  const symbolNames = symbols.map((entry) => entry.symbol);
  byId("symbol-count").textContent = String(symbolNames.length);
  const template = byId("card-template");
  const cards = byId("cards");
  cards.dataset.count = String(registry.entries.length);
  const connections = registry.entries.map((entry) => {
    const card = new CompareCard(template, entry);
    cards.append(card.element);
    return new Connection(registry, entry, symbolNames, clock, card);
  });

  // Leaving the page ends every poll, stream and socket at once. A page
  // restored from the back/forward cache connects again.
  window.addEventListener("pagehide", () => {
    clock.stop();
    for (const connection of connections) {
      connection.close();
    }
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      clock.start();
      for (const connection of connections) {
        connection.start();
      }
    }
  });

  for (const connection of connections) {
    connection.start();
  }
  const refreshAll = () => {
    for (const connection of connections) {
      connection.refresh();
    }
  };
  refreshAll();
  setInterval(refreshAll, REFRESH_MS);
  document.body.dataset.ready = "true";
}

main();
