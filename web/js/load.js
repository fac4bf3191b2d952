import { checkAccess, keyHeaders, pageKey } from "./access.js";
import { Backoff } from "./backoff.js";

/**
 * Returns what `load()` resolves to, retrying with backoff until it succeeds.
 *
 * @param {() => Promise<*>} load
 * @param {object} [options]
 * @param {(error: Error, retryAt: number) => void} [options.onRetry] called
 *   before each wait with the error and the Date.now() time of the next try
 * @param {() => boolean} [options.isCurrent] once it returns false, the loop
 *   returns null instead of reporting or trying again
 * @param {(error: Error) => boolean} [options.isPermanent] errors that a retry
 *   would only repeat; they are thrown at once
 */
export async function loadWithRetry(
  load,
  { onRetry = () => {}, isCurrent = () => true, isPermanent = () => false } = {},
) {
  const backoff = new Backoff();
  for (;;) {
    try {
      return await load();
    } catch (error) {
      if (!isCurrent()) {
        return null;
      }
      if (isPermanent(error)) {
        throw error;
      }
      const delayMs = backoff.next();
      onRetry(error, Date.now() + delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (!isCurrent()) {
        return null;
      }
    }
  }
}

/**
 * Fetches `GET /api/symbols`: `{symbols, version, feed}`, the symbols that
 * the page's key may see (all configured symbols without access control),
 * the version of that list and the feed's mode. Throws an AccessDeniedError
 * for a missing or invalid key.
 */
export async function fetchSymbolList() {
  const response = await fetch("/api/symbols", { cache: "no-store", headers: keyHeaders(pageKey()) });
  await checkAccess(response);
  if (!response.ok) {
    throw new Error(`/api/symbols failed with HTTP ${response.status}`);
  }
  return response.json();
}

/** Fetches the configured symbols from `GET /api/symbols`. */
export async function fetchSymbols() {
  const body = await fetchSymbolList();
  return body.symbols;
}
