const PRICE = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const SIGNED = new Intl.NumberFormat("en-US", {
  minimumFractionDigits: 2,
  maximumFractionDigits: 2,
  signDisplay: "exceptZero",
});
const MILLISECONDS = new Intl.NumberFormat("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const RATE = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

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

export function formatMilliseconds(value) {
  return value === null ? PLACEHOLDER : MILLISECONDS.format(value);
}

export function formatRate(value) {
  return RATE.format(value);
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
