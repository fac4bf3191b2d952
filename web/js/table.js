import { PLACEHOLDER, direction, formatChange, formatPercent, formatPrice } from "./format.js";
import { Sparkline } from "./sparkline.js";

/** Matches the flash animation's duration in style.css. */
const FLASH_MS = 250;

/**
 * Price table with one row per configured symbol; setSymbols() adds and
 * removes rows when the server's symbol list changes.
 *
 * update() records ticks at once and the rows are redrawn on the next
 * animation frame, so a burst of ticks costs one redraw per row. A tick whose
 * seq the row has already seen in the same epoch is skipped: a new transport's
 * snapshot repeats the latest tick. A tick from a new epoch clears the row's
 * sparkline, because the server restarted its price paths.
 */
export class PriceTable {
  #rows = new Map();
  #dirty = new Set();
  #frameRequested = false;
  #sparklinePoints;
  /** The trading day of the newest replayed tick, or null for simulated prices. */
  latestDate = null;

  /**
   * @param {HTMLTableSectionElement} body the <tbody> to fill
   * @param {{symbol: string, name: string}[]} symbols rows in display order
   * @param {object} [options]
   * @param {number} [options.sparklinePoints] prices kept per sparkline
   */
  constructor(body, symbols, { sparklinePoints = 120 } = {}) {
    this.body = body;
    this.#sparklinePoints = sparklinePoints;
    body.replaceChildren();
    this.setSymbols(symbols);
  }

  /** The symbols that have a row, in display order. */
  get symbols() {
    return [...this.#rows.keys()];
  }

  /**
   * Shows one row per entry of `symbols`, in that order: rows of symbols
   * still listed keep their prices and sparklines, new symbols get an empty
   * row, and rows of symbols no longer listed are removed.
   */
  setSymbols(symbols) {
    const listed = new Set(symbols.map((entry) => entry.symbol));
    for (const [symbol, row] of this.#rows) {
      if (!listed.has(symbol)) {
        row.element.remove();
        this.#rows.delete(symbol);
        this.#dirty.delete(row);
      }
    }
    for (const { symbol, name } of symbols) {
      let row = this.#rows.get(symbol);
      if (row === undefined) {
        row = this.#createRow(symbol, name, this.#sparklinePoints);
        this.#rows.set(symbol, row);
      } else {
        row.name.textContent = name;
        row.name.title = name;
      }
      // Appending a row that is already in the table moves it to the end.
      this.body.append(row.element);
    }
  }

  /**
   * Records ticks from one server message. `epoch` is the epoch they belong
   * to. Ticks of symbols without a row are ignored.
   */
  update(ticks, epoch) {
    for (const tick of ticks) {
      const row = this.#rows.get(tick.symbol);
      if (row === undefined) {
        continue;
      }
      if (row.epoch !== epoch) {
        row.epoch = epoch;
        row.seq = 0;
        row.sparkline.clear();
      } else if (tick.seq <= row.seq) {
        continue;
      }
      row.seq = tick.seq;
      row.tick = tick;
      this.latestDate = tick.date ?? this.latestDate;
      row.sparkline.push(tick.price);
      this.#dirty.add(row);
    }
    this.#requestFrame();
  }

  #requestFrame() {
    if (this.#frameRequested || this.#dirty.size === 0) {
      return;
    }
    this.#frameRequested = true;
    requestAnimationFrame(() => {
      this.#frameRequested = false;
      for (const row of this.#dirty) {
        this.#render(row);
      }
      this.#dirty.clear();
    });
  }

  #createRow(symbol, name, sparklinePoints) {
    const element = document.createElement("tr");
    element.dataset.symbol = symbol;

    const cell = (field, text = PLACEHOLDER) => {
      const td = document.createElement("td");
      td.dataset.field = field;
      td.textContent = text;
      element.append(td);
      return td;
    };

    cell("symbol", symbol).setAttribute("scope", "row");
    const nameCell = cell("name", name);
    nameCell.title = name;
    const sparkline = new Sparkline({ maxPoints: sparklinePoints });
    const row = {
      element,
      name: nameCell,
      price: cell("price"),
      bid: cell("bid"),
      ask: cell("ask"),
      change: cell("change"),
      changePercent: cell("change-pct"),
      range: cell("range"),
      sparkline,
      epoch: null,
      seq: 0,
      tick: null,
      shownPrice: null,
      flashTimer: null,
    };
    cell("trend", "").append(sparkline.element);
    return row;
  }

  #render(row) {
    const { tick } = row;
    const trend = direction(tick.change);

    row.price.textContent = formatPrice(tick.price);
    // Quote fields are optional in the protocol, so a tick without them shows dashes.
    row.bid.textContent = tick.bid === undefined ? PLACEHOLDER : formatPrice(tick.bid);
    row.ask.textContent = tick.ask === undefined ? PLACEHOLDER : formatPrice(tick.ask);
    row.range.textContent =
      tick.low === undefined ? PLACEHOLDER : `${formatPrice(tick.low)}–${formatPrice(tick.high)}`;
    row.changePercent.title =
      tick.open === undefined ? "" : `against the open, ${formatPrice(tick.open)}`;
    row.change.textContent = formatChange(tick.change);
    row.changePercent.textContent = formatPercent(tick.change_pct);
    row.element.dataset.direction = trend;
    row.element.dataset.seq = String(tick.seq);
    row.sparkline.render();

    if (row.shownPrice !== null && tick.price !== row.shownPrice) {
      this.#flash(row, tick.price > row.shownPrice ? "up" : "down");
    }
    row.shownPrice = tick.price;
  }

  /** Highlights the price cell briefly; `move` is "up" or "down". */
  #flash(row, move) {
    const cell = row.price;
    cell.dataset.move = move;
    // Restarting the CSS animation needs the class off for one style
    // recalculation, which reading offsetWidth forces.
    cell.classList.remove("flash");
    void cell.offsetWidth;
    cell.classList.add("flash");
    clearTimeout(row.flashTimer);
    row.flashTimer = setTimeout(() => cell.classList.remove("flash"), FLASH_MS);
  }
}
