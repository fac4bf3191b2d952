/**
 * HTTP helpers shared by the transports that use fetch(): building request
 * URLs and sorting error responses into those worth retrying and those that
 * retrying would only repeat.
 */

/** An HTTP error response that retrying would only repeat, such as a 400. */
export class RejectedError extends Error {}

/** A failure worth retrying. `retryAfterMs` is the server's Retry-After, or 0. */
export class RetryableError extends Error {
  constructor(message, retryAfterMs = 0) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Returns the URL of `path` on `baseUrl` with `params` as query parameters,
 * plus `symbols` as a comma-separated list unless it is empty. Parameters
 * whose value is null or undefined are left out.
 */
export function buildUrl(baseUrl, path, params, symbols) {
  const url = new URL(path, baseUrl);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined) {
      url.searchParams.set(name, value);
    }
  }
  if (symbols.length > 0) {
    url.searchParams.set("symbols", symbols.join(","));
  }
  return url;
}

/** Returns the `error` field of a JSON error body, or the status text. */
export async function readErrorMessage(response) {
  try {
    const body = await response.json();
    if (typeof body.error === "string") {
      return body.error;
    }
  } catch {
    // The body is not the JSON error object, so the status text replaces it.
  }
  return response.statusText || "no message";
}

/**
 * Returns `response` when its status is 200 or 204. Otherwise throws a
 * RetryableError for 503, 429 and 5xx responses (with the Retry-After
 * delay) and a RejectedError for other 4xx responses. The message names the
 * path, the status and the server's error message.
 */
export async function checkResponse(response) {
  if (response.status === 200 || response.status === 204) {
    return response;
  }
  const message = await readErrorMessage(response);
  const description = `${new URL(response.url).pathname} failed with HTTP ${response.status}: ${message}`;
  if (response.status === 503 || response.status === 429) {
    const retryAfterSeconds = Number(response.headers.get("Retry-After"));
    const retryAfterMs = Number.isFinite(retryAfterSeconds) ? retryAfterSeconds * 1000 : 0;
    throw new RetryableError(description, retryAfterMs);
  }
  if (response.status >= 400 && response.status < 500) {
    throw new RejectedError(description);
  }
  throw new RetryableError(description);
}

/**
 * Returns the parsed JSON body. Throws a RetryableError when it is not JSON.
 * `onBodyBytes(byteCount)`, when given, receives the length of the body
 * after any content decoding.
 */
export async function readJson(response, onBodyBytes = null) {
  try {
    const body = await response.arrayBuffer();
    onBodyBytes?.(body.byteLength);
    return JSON.parse(new TextDecoder().decode(body));
  } catch (error) {
    if (error.name === "AbortError") {
      throw error;
    }
    throw new RetryableError(`${new URL(response.url).pathname} sent a body that is not JSON`);
  }
}

/**
 * Hands `error` from a request of `transport` to the matching Transport
 * method: fail() for a RejectedError, retryLater() for a RetryableError or a
 * network failure. Rethrows anything else, which is a bug.
 */
export function reportRequestError(transport, error) {
  if (error instanceof RejectedError) {
    transport.fail(error.message);
  } else if (error instanceof RetryableError) {
    transport.retryLater(error.message, error.retryAfterMs);
  } else if (error instanceof TypeError) {
    // fetch() rejects with a TypeError when the network request fails.
    transport.retryLater("cannot reach server");
  } else {
    throw error;
  }
}

/**
 * Resolves after `delayMs`, or rejects with an AbortError as soon as `signal`
 * is aborted.
 */
export function sleep(delayMs, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, delayMs);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
