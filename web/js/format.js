const PRICE = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const SIGNED = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});
const MILLISECONDS = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const RATE = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
/** Whole ms with no thousands separator, so that "1003" fits a narrow cell. */
const WHOLE_MS = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0, useGrouping: false });
/** Clock offsets: two decimals below 10 ms, one below 1 s, none above. */
const OFFSET_FORMATS = [2, 1, 0].map(
  (digits) =>
    new Intl.NumberFormat("en-US", {
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
      signDisplay: "exceptZero",
    }),
);
const BYTE_UNITS = ["B", "kB", "MB", "GB"];

export const PLACEHOLDER = "\u2014";

export function formatPrice(value) {
  return PRICE.format(value);
}

export function formatChange(value) {
  return SIGNED.format(value);
}

/** Formats a percentage given in percent units (0.1359 means 0.1359 %). */
export function formatPercent(value) {
  return `${SIGNED.format(value)}%`;
}

/** Formats ms with one decimal below 100 ms and whole numbers from there. */
export function formatMilliseconds(value) {
  if (value === null) {
    return PLACEHOLDER;
  }
  return Math.abs(value) < 100 ? MILLISECONDS.format(value) : WHOLE_MS.format(value);
}

/** Formats ms with one decimal below 100 ms and none from there, for narrow cells. */
export function formatMillisecondsCompact(value) {
  if (value === null) {
    return PLACEHOLDER;
  }
  return Math.abs(value) < 100 ? MILLISECONDS.format(value) : WHOLE_MS.format(value);
}

export function formatRate(value) {
  return RATE.format(value);
}

/**
 * Formats a clock offset or its uncertainty in ms, with a sign unless
 * `signed` is false, and fewer decimals the larger it is.
 */
export function formatOffset(value, { signed = true } = {}) {
  if (value === null) {
    return PLACEHOLDER;
  }
  const size = Math.abs(value);
  let format = OFFSET_FORMATS[2];
  if (size < 10) {
    format = OFFSET_FORMATS[0];
  } else if (size < 1000) {
    format = OFFSET_FORMATS[1];
  }
  const text = format.format(value);
  return signed ? text : text.replace(/^[+-]/, "");
}

/** Formats a byte count with decimal units: "812 B", "3.4 kB", "1.2 MB". */
export function formatBytes(value) {
  if (value === null) {
    return PLACEHOLDER;
  }
  let scaled = value;
  let unit = 0;
  while (scaled >= 1000 && unit < BYTE_UNITS.length - 1) {
    scaled /= 1000;
    unit += 1;
  }
  return `${RATE.format(scaled)} ${BYTE_UNITS[unit]}`;
}

/** Returns "up", "down" or "flat" for the sign of `value`. */
export function direction(value) {
  if (value > 0) {
    return "up";
  }
  if (value < 0) {
    return "down";
  }
  return "flat";
}
