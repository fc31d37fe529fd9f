/**
 * Decimal amounts without floats: decimal strings at the edges, bigint smallest units
 * inside, as the server does it (chalicelib/domain/money.py).
 *
 * Accepted text is the server's: plain non-negative decimals such as "1", "0.001",
 * "1.50". No sign, exponent, whitespace, thousands separators, and neither ".5" nor
 * "5." (the server refuses both, so the form refuses them too). Trailing zeros beyond
 * the scale carry no precision and are accepted ("1.50" at scale 1 is 15).
 */

/** The largest scale an asset may have (the server's MAX_SCALE). */
export const MAX_SCALE = 18;

/** A decimal string that is not an amount; the message says what is wrong with it. */
export class AmountError extends Error {
  override name = "AmountError";
}

/** Options of `formatAmount`: drop trailing zeros, group thousands with ",". */
export interface FormatOptions {
  trim?: boolean;
  group?: boolean;
}

const PLAIN_DECIMAL = /^([0-9]+)(?:\.([0-9]+))?$/;
const SIGNED_DECIMAL = /^-?[0-9]+(?:\.[0-9]+)?$/;

/** Whether `text` is a plain decimal string ("20000", "0.001"), with a leading "-" if `signed`. */
export function isDecimalText(text: string, signed = false): boolean {
  return (signed ? SIGNED_DECIMAL : PLAIN_DECIMAL).test(text);
}

/**
 * A decimal string as smallest units of an asset with `scale` decimals.
 * Throws `AmountError` for text the server would refuse, naming the problem.
 */
export function parseAmount(text: string, scale: number): bigint {
  checkScale(scale);
  const match = PLAIN_DECIMAL.exec(text);
  if (match === null) {
    throw new AmountError(malformedReason(text));
  }
  const whole = match[1] ?? "";
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > scale) {
    throw new AmountError(`Amount has more than ${scale} decimal places`);
  }
  return BigInt(whole + fraction.padEnd(scale, "0"));
}

function malformedReason(text: string): string {
  if (text === "") return "Amount is empty";
  if (text.startsWith("-")) return "Amount must not be negative";
  if (text.startsWith("+")) return "Amount must not have a sign";
  if (/^[0-9.]*[eE]/.test(text)) return "Amount must not use an exponent (like 1e5)";
  if (/^\.[0-9]+$/.test(text)) return "Amount needs a digit before the decimal point";
  if (/^[0-9]+\.$/.test(text)) return "Amount needs a digit after the decimal point";
  return "Amount is not a number";
}

/**
 * Smallest units as a decimal string with exactly `scale` decimals ("20000.00000000"),
 * as Binance prints amounts; `trim` drops trailing zeros ("20000"), `group` separates
 * thousands ("20,000.5"). Negative amounts keep their sign.
 */
export function formatAmount(units: bigint, scale: number, opts: FormatOptions = {}): string {
  checkScale(scale);
  const sign = units < 0n ? "-" : "";
  const digits = (units < 0n ? -units : units).toString().padStart(scale + 1, "0");
  const whole = digits.slice(0, digits.length - scale);
  const rawFraction = digits.slice(digits.length - scale);
  const fraction = opts.trim === true ? rawFraction.replace(/0+$/, "") : rawFraction;
  const shownWhole = opts.group === true ? groupThousands(whole) : whole;
  return fraction === "" ? sign + shownWhole : `${sign}${shownWhole}.${fraction}`;
}

function groupThousands(whole: string): string {
  return whole.replace(/\B(?=([0-9]{3})+$)/g, ",");
}

/**
 * A decimal string the API returned (e.g. "0.00100000"), shown at the asset's `scale`.
 * Digits beyond `scale` are cut off: the value is rounded DOWN (towards zero), never up,
 * so a balance is never shown larger than it is. A leading "-" (the exchange's clearing
 * accounts) is kept. Throws `AmountError` for text that is not a decimal.
 */
export function formatApiDecimal(text: string, scale: number, opts: FormatOptions = {}): string {
  const negative = text.startsWith("-");
  const units = parseAmount(truncateDecimals(negative ? text.slice(1) : text, scale), scale);
  return formatAmount(negative ? -units : units, scale, opts);
}

function truncateDecimals(text: string, scale: number): string {
  const point = text.indexOf(".");
  if (point < 0 || text.length - point - 1 <= scale) return text;
  return scale === 0 ? text.slice(0, point) : text.slice(0, point + 1 + scale);
}

/**
 * `a * b / divisor` on non-negative amounts, rounded "down" (floor, as the server's
 * notional) or "up" (ceiling, as its fees). Throws RangeError otherwise.
 */
export function mulDiv(a: bigint, b: bigint, divisor: bigint, rounding: "down" | "up"): bigint {
  if (a < 0n || b < 0n || divisor <= 0n) {
    throw new RangeError("mulDiv takes non-negative factors and a positive divisor");
  }
  const product = a * b;
  const quotient = product / divisor;
  return rounding === "up" && quotient * divisor !== product ? quotient + 1n : quotient;
}

function checkScale(scale: number): void {
  if (!Number.isInteger(scale) || scale < 0 || scale > MAX_SCALE) {
    throw new RangeError(`scale must be an integer within 0..${MAX_SCALE}, got ${scale}`);
  }
}

/** A decimal string (optional leading "-") as exact units at its own number of decimals. */
interface ExactDecimal {
  units: bigint;
  scale: number;
}

function exactDecimal(text: string): ExactDecimal {
  const negative = text.startsWith("-");
  const body = negative ? text.slice(1) : text;
  const point = body.indexOf(".");
  const scale = point < 0 ? 0 : body.length - point - 1;
  const units = parseAmount(body, scale);
  return { units: negative ? -units : units, scale };
}

function atScale(value: ExactDecimal, scale: number): bigint {
  return value.units * 10n ** BigInt(scale - value.scale);
}

/** The number of decimals a decimal string is written with ("0.10" has 2). */
export function decimalPlaces(text: string): number {
  return exactDecimal(text).scale;
}

/**
 * Compares two decimal strings exactly, whatever their numbers of decimals: negative when
 * a < b, zero when equal ("10" equals "10.00"), positive when a > b.
 */
export function compareDecimals(a: string, b: string): number {
  const left = exactDecimal(a);
  const right = exactDecimal(b);
  const scale = Math.max(left.scale, right.scale);
  const difference = atScale(left, scale) - atScale(right, scale);
  return difference === 0n ? 0 : difference < 0n ? -1 : 1;
}

/**
 * The exact sum of two decimal strings (either may be negative), written with the larger
 * of their numbers of decimals: "0.10000000" + "0.2" is "0.30000000".
 */
export function addDecimals(a: string, b: string): string {
  const left = exactDecimal(a);
  const right = exactDecimal(b);
  const scale = Math.max(left.scale, right.scale);
  return formatAmount(atScale(left, scale) + atScale(right, scale), scale);
}

/** Whether a decimal string is zero ("0", "0.00000000", "-0.0"). */
export function isZeroDecimal(text: string): boolean {
  return exactDecimal(text).units === 0n;
}

/** One spelling of a decimal, without trailing zeros: "10.00" and "10.0" are both "10". */
export function canonicalDecimal(text: string): string {
  const { units, scale } = exactDecimal(text);
  return formatAmount(units, scale, { trim: true });
}
