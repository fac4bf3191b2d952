/**
 * Estimates of the bytes a transport receives, for the traffic figures of
 * the compare view. A page script gets decoded messages and response
 * objects, not the bytes on the wire, so each function rebuilds the wire size
 * from them. Every result is an estimate.
 */

const encoder = new TextEncoder();

/** Returns the length of `text` in UTF-8 bytes. */
export function utf8ByteLength(text) {
  return encoder.encode(text).byteLength;
}

/**
 * Returns the estimated size of an HTTP/1.1 response's status line and
 * header block: `HTTP/1.1 <status> <text>\r\n`, one `name: value\r\n` per
 * header and the closing `\r\n`. Headers that fetch() hides from scripts,
 * such as Set-Cookie, are not counted.
 */
export function estimateHeaderBytes(response) {
  let bytes = `HTTP/1.1 ${response.status} ${response.statusText}\r\n`.length + 2;
  for (const [name, value] of response.headers) {
    bytes += name.length + 2 + utf8ByteLength(value) + 2;
  }
  return bytes;
}

/**
 * Returns the size of a WebSocket frame from the server that carries
 * `payloadBytes` bytes, per RFC 6455 section 5.2: a 2-byte header, plus a
 * 2-byte extended length from 126 bytes or an 8-byte one from 65,536 bytes.
 * Frames from a server are not masked, so no masking key is added.
 */
export function webSocketFrameBytes(payloadBytes) {
  if (payloadBytes < 126) {
    return 2 + payloadBytes;
  }
  if (payloadBytes < 65_536) {
    return 4 + payloadBytes;
  }
  return 10 + payloadBytes;
}

/**
 * Returns the estimated length in bytes of the event-stream text that
 * produced the MessageEvent `event`. The text is the `event:` line (unless
 * the type is the default "message"), the `id:` line, one `data:` line per
 * line of data, and the blank line that ends the event.
 *
 * EventSource keeps the last id for events without one, so the `id:` line is
 * counted for them too. That matches the ticker server, which sends an id
 * with every event.
 * Comment lines such as heartbeats never reach the page and are not counted.
 */
export function serverSentEventBytes(event) {
  let bytes = 1;
  if (event.type !== "message") {
    bytes += `event: ${event.type}\n`.length;
  }
  if (event.lastEventId) {
    bytes += utf8ByteLength(`id: ${event.lastEventId}\n`);
  }
  for (const line of event.data.split("\n")) {
    bytes += utf8ByteLength(`data: ${line}\n`);
  }
  return bytes;
}
