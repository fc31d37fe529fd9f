/**
 * Candles for the price chart: history from `GET /api/v3/klines` plus live updates from
 * the `<symbol>@kline_<interval>` stream, kept as decimal strings. Only `toChartBar` and
 * `toVolumeBar` turn them into JS numbers, because lightweight-charts draws numbers;
 * every amount shown as text elsewhere keeps its decimal string.
 */

import type { UTCTimestamp } from "lightweight-charts";
import { compareDecimals, isDecimalText } from "./decimal";

/** One candle; times are ms since the epoch (UTC), amounts decimal strings. */
export interface Candle {
  openTime: number;
  open: string;
  high: string;
  low: string;
  close: string;
  volume: string;
  /** False while the candle's interval is still running (its values may change). */
  closed: boolean;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/**
 * The intervals the server accepts (chalicelib/domain/candles.py: Binance's, 1s
 * included) with their length in ms. "1M" is a calendar month, 28 to 31 days long: its
 * value here is the longest, 31 days, so it is an upper bound, never a way to compute
 * the next open time (the server's candles open on the 1st of each month, 00:00 UTC).
 */
export const INTERVALS = {
  "1s": 1000,
  "1m": MINUTE_MS,
  "3m": 3 * MINUTE_MS,
  "5m": 5 * MINUTE_MS,
  "15m": 15 * MINUTE_MS,
  "30m": 30 * MINUTE_MS,
  "1h": HOUR_MS,
  "2h": 2 * HOUR_MS,
  "4h": 4 * HOUR_MS,
  "6h": 6 * HOUR_MS,
  "8h": 8 * HOUR_MS,
  "12h": 12 * HOUR_MS,
  "1d": DAY_MS,
  "3d": 3 * DAY_MS,
  "1w": 7 * DAY_MS,
  "1M": 31 * DAY_MS,
} as const;

/** An interval name the server accepts, such as "1m" or "1M". */
export type Interval = keyof typeof INTERVALS;

/** Whether `text` names an interval the server accepts. */
export function isInterval(text: string): text is Interval {
  return Object.prototype.hasOwnProperty.call(INTERVALS, text);
}


/**
 * Candles from the rows of `GET /api/v3/klines` (`[openTime, open, high, low, close,
 * volume, closeTime, ...]`). A row is closed when its closeTime is before `nowMs`;
 * without `nowMs` every row but the last is taken as closed (the server's last row is
 * the running candle, and the stream corrects it). Throws an Error naming the first row
 * that does not have Binance's shape.
 */
export function candlesFromKlines(rows: unknown[], nowMs?: number): Candle[] {
  return rows.map((row, index) => {
    const { candle, closeTime } = parseKlineRow(row, index);
    const closed = nowMs === undefined ? index < rows.length - 1 : closeTime < nowMs;
    return { ...candle, closed };
  });
}

function parseKlineRow(row: unknown, index: number): { candle: Omit<Candle, "closed">; closeTime: number } {
  const where = `Kline row ${index}`;
  if (!Array.isArray(row) || row.length < 7) {
    throw new Error(`${where} is not an array of at least 7 fields`);
  }
  const candle = {
    openTime: checkedTime(row[0], `${where} openTime`),
    open: checkedDecimal(row[1], `${where} open`),
    high: checkedDecimal(row[2], `${where} high`),
    low: checkedDecimal(row[3], `${where} low`),
    close: checkedDecimal(row[4], `${where} close`),
    volume: checkedDecimal(row[5], `${where} volume`),
  };
  return { candle, closeTime: checkedTime(row[6], `${where} closeTime`) };
}

/**
 * The candle of one `<symbol>@kline_<interval>` stream message (`{e: "kline", k: {t, o,
 * h, l, c, v, x, ...}}`). Throws an Error naming the field that does not fit.
 */
export function candleFromStream(event: unknown): Candle {
  const kline = isRecord(event) && event["e"] === "kline" ? event["k"] : undefined;
  if (!isRecord(kline)) {
    throw new Error('Kline event is not {e: "kline", k: {...}}');
  }
  if (typeof kline["x"] !== "boolean") {
    throw new Error("Kline event field k.x (closed) is not a boolean");
  }
  return {
    openTime: checkedTime(kline["t"], "Kline event field k.t (open time)"),
    open: checkedDecimal(kline["o"], "Kline event field k.o (open)"),
    high: checkedDecimal(kline["h"], "Kline event field k.h (high)"),
    low: checkedDecimal(kline["l"], "Kline event field k.l (low)"),
    close: checkedDecimal(kline["c"], "Kline event field k.c (close)"),
    volume: checkedDecimal(kline["v"], "Kline event field k.v (volume)"),
    closed: kline["x"],
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkedTime(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`${what} is not a time in ms: ${JSON.stringify(value)}`);
  }
  return value;
}

function checkedDecimal(value: unknown, what: string): string {
  if (typeof value !== "string" || !isDecimalText(value)) {
    throw new Error(`${what} is not a decimal string: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * What `CandleSeries.apply` did, so the chart knows how to redraw: "updated-last" and
 * "appended" are `series.update(bar)`; "replaced-older" needs `series.setData(...)`
 * (lightweight-charts updates only the last bar); "ignored-older" needs nothing.
 */
export type ApplyOutcome = "updated-last" | "appended" | "replaced-older" | "ignored-older";

/** How many candles a series keeps unless told otherwise (Binance's largest klines page). */
export const DEFAULT_MAX_CANDLES = 1000;

/** The candles of one symbol and interval, sorted by openTime, at most `maxCandles`. */
export class CandleSeries {
  private list: Candle[] = [];

  constructor(readonly maxCandles: number = DEFAULT_MAX_CANDLES) {
    if (!Number.isSafeInteger(maxCandles) || maxCandles < 1) {
      throw new Error(`maxCandles must be a positive integer, not ${maxCandles}`);
    }
  }

  /** Replaces all candles with `history` (sorted; a later duplicate openTime wins). */
  load(history: readonly Candle[]): void {
    const byOpenTime = new Map<number, Candle>();
    history.forEach((candle) => byOpenTime.set(candle.openTime, candle));
    this.list = [...byOpenTime.values()].sort((a, b) => a.openTime - b.openTime);
    this.dropOldest();
  }

  /**
   * Applies a live candle: the running candle's update replaces it, a newer candle is
   * appended (dropping the oldest beyond the cap), an older one replaces the candle
   * with the same openTime if there is one and is ignored otherwise.
   */
  apply(candle: Candle): ApplyOutcome {
    const last = this.list[this.list.length - 1];
    if (last === undefined || candle.openTime > last.openTime) {
      this.list.push(candle);
      this.dropOldest();
      return "appended";
    }
    if (candle.openTime === last.openTime) {
      this.list[this.list.length - 1] = candle;
      return "updated-last";
    }
    const index = this.list.findIndex((existing) => existing.openTime === candle.openTime);
    if (index === -1) return "ignored-older";
    this.list[index] = candle;
    return "replaced-older";
  }

  /** The candles, oldest first (a copy). */
  candles(): Candle[] {
    return [...this.list];
  }

  private dropOldest(): void {
    if (this.list.length > this.maxCandles) {
      this.list = this.list.slice(this.list.length - this.maxCandles);
    }
  }
}

/** A candlestick bar as lightweight-charts takes it. */
export interface ChartBar {
  time: UTCTimestamp;
  open: number;
  high: number;
  low: number;
  close: number;
}

/** A volume histogram bar as lightweight-charts takes it. */
export interface VolumeBar {
  time: UTCTimestamp;
  value: number;
  color?: string;
}

/** Volume colour of a candle that closed at or above its open. */
export const VOLUME_UP_COLOR = "rgba(14, 203, 129, 0.5)";
/** Volume colour of a candle that closed below its open. */
export const VOLUME_DOWN_COLOR = "rgba(246, 70, 93, 0.5)";

/**
 * The candle as a chart bar: time in UTC seconds, prices as numbers. One of the two
 * places where decimal strings become floats, for drawing only (a float's nearest
 * value is exact enough for pixels); never compute amounts from these numbers.
 */
export function toChartBar(candle: Candle): ChartBar {
  return {
    time: chartTime(candle),
    open: Number(candle.open),
    high: Number(candle.high),
    low: Number(candle.low),
    close: Number(candle.close),
  };
}

/**
 * The candle's volume as a histogram bar, coloured by direction (compared exactly on
 * the decimal strings). As `toChartBar`, for drawing only.
 */
export function toVolumeBar(candle: Candle): VolumeBar {
  const rising = compareDecimals(candle.close, candle.open) >= 0;
  return {
    time: chartTime(candle),
    value: Number(candle.volume),
    color: rising ? VOLUME_UP_COLOR : VOLUME_DOWN_COLOR,
  };
}

function chartTime(candle: Candle): UTCTimestamp {
  return Math.floor(candle.openTime / 1000) as UTCTimestamp;
}
