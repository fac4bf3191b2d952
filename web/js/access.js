/**
 * The API key of a server that requires one (docs/protocol.md, "Access
 * control"). The page takes it from its own URL, `?key=KEY`, and hands it on:
 * as an `Authorization: Bearer` header to fetch(), and as the `key` query
 * parameter to EventSource and WebSocket, which cannot set headers.
 */

/** Query parameter that carries the key, in page URLs and in requests. */
export const KEY_PARAMETER = "key";

/** Returns the key in the page URL's `?key=`, or null. */
export function pageKey() {
  return new URLSearchParams(window.location.search).get(KEY_PARAMETER) || null;
}

/** Returns the fetch() headers that send `key`; none when `key` is null. */
export function keyHeaders(key) {
  return key === null ? {} : { Authorization: `Bearer ${key}` };
}

/** Adds the page's key to the same-origin links in `links`, so that the next page has it too. */
export function keepKeyInLinks(links) {
  const key = pageKey();
  if (key === null) {
    return;
  }
  for (const link of links) {
    const url = new URL(link.href, window.location.href);
    if (url.origin === window.location.origin) {
      url.searchParams.set(KEY_PARAMETER, key);
      link.href = url.pathname + url.search;
    }
  }
}

/** A 401 or 403 response: retrying without another key would only repeat it. */
export class AccessDeniedError extends Error {}

/** Throws an AccessDeniedError that explains to the user how to pass a key when `response` is 401 or 403. */
export async function checkAccess(response) {
  if (response.status !== 401 && response.status !== 403) {
    return;
  }
  let message = response.statusText;
  try {
    message = (await response.clone().json()).error ?? message;
  } catch {
    // The body is not the server's JSON error, so the status text is the message.
  }
  const hint =
    response.status === 401 ? `; open the page with ?${KEY_PARAMETER}=YOUR_API_KEY in its URL` : "";
  throw new AccessDeniedError(`${new URL(response.url).pathname}: ${message}${hint}`);
}
