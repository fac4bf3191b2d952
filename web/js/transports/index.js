import { Transport } from "./transport.js";

/** Lists the server's enabled transports, in menu order. */
export const TRANSPORTS_URL = "/api/transports";

/** A transport module that loaded but has no Transport subclass as its default export. */
export class InvalidTransportModuleError extends Error {}

/**
 * The transports that the server offers, from `GET /api/transports`.
 *
 * Each entry is `{ name, label, description, module }`, where `module` is
 * the URL of an ES module whose default export is a Transport subclass. The
 * server serves those modules from `/transports/`, outside `/static/`, so a
 * transport module imports shared code by absolute path
 * (`/static/js/transports/transport.js`), never by `./`. Adding a transport
 * therefore changes no file of the page.
 */
export class TransportRegistry {
  #entries = new Map();
  /** Loaded transport classes by name. A failed import is not cached, so it can be retried. */
  #classes = new Map();

  /** @param {{name: string, label: string, description: string, module: string}[]} entries */
  constructor(entries) {
    for (const [index, entry] of entries.entries()) {
      validateEntry(entry, index);
      if (this.#entries.has(entry.name)) {
        throw new Error(`${TRANSPORTS_URL} lists the transport "${entry.name}" twice`);
      }
      this.#entries.set(entry.name, entry);
    }
  }

  /** Fetches the transport list. Throws an Error when the request or the list is invalid. */
  static async load(url = TRANSPORTS_URL) {
    const response = await fetch(url, { cache: "no-store" });
    if (!response.ok) {
      throw new Error(`${url} failed with HTTP ${response.status}`);
    }
    const body = await response.json();
    if (!Array.isArray(body.transports)) {
      throw new Error(`${url} returned no "transports" array`);
    }
    return new TransportRegistry(body.transports);
  }

  /** Entries in menu order. */
  get entries() {
    return [...this.#entries.values()];
  }

  /** Returns the entry named `name`, or undefined. */
  get(name) {
    return this.#entries.get(name);
  }

  has(name) {
    return this.#entries.has(name);
  }

  /**
   * Imports the module of the transport `name` (once) and returns a new
   * instance of its class, built with `options`. Throws an Error for an
   * unknown name, the import() error when the module fails to load, and an
   * InvalidTransportModuleError when it exports no Transport subclass.
   */
  async create(name, options) {
    const TransportClass = await this.#loadClass(name);
    return new TransportClass(options);
  }

  async #loadClass(name) {
    const cached = this.#classes.get(name);
    if (cached !== undefined) {
      return cached;
    }
    const entry = this.#entries.get(name);
    if (entry === undefined) {
      const known = [...this.#entries.keys()].join(", ");
      throw new Error(`unknown transport "${name}"; the server offers: ${known}`);
    }
    const module = await import(entry.module);
    const TransportClass = module.default;
    if (!(typeof TransportClass === "function" && TransportClass.prototype instanceof Transport)) {
      throw new InvalidTransportModuleError(
        `${entry.module} has no default export that extends Transport`,
      );
    }
    this.#classes.set(name, TransportClass);
    return TransportClass;
  }
}

/** Throws an Error naming the field when `entry` is not a usable transport entry. */
function validateEntry(entry, index) {
  const where = `${TRANSPORTS_URL}: transports[${index}]`;
  for (const field of ["name", "label", "module"]) {
    if (typeof entry?.[field] !== "string" || entry[field] === "") {
      throw new Error(`${where}.${field} is missing, empty or not a string`);
    }
  }
  // The module runs with the page's rights, so it must come from the page's own server.
  const moduleUrl = new URL(entry.module, window.location.href);
  if (moduleUrl.origin !== window.location.origin) {
    throw new Error(
      `${where}.module ${entry.module} is not on ${window.location.origin}; expected a path such as /transports/<name>.js`,
    );
  }
}
