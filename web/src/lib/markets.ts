/**
 * The market list and each market's rules, read from the exchange's Binance-shaped
 * answers, without floats:
 * - `GET /api/v3/exchangeInfo` (chalicelib/service_layer/exchange_info.py): scales as
 *   `baseAssetPrecision` / `quoteAssetPrecision`, filters as decimal strings printed at
 *   the scale of the asset they count (prices and notionals in quote, quantities in base);
 *   statuses TRADING or HALT.
 * - Fees are not in exchangeInfo (as on Binance): they are the account's, from
 *   `GET /api/v3/account/commission?symbol=` (limits_fees_routes.py, signed, READ key),
 *   whose rates are 8-decimal fractions ("0.00100000" is 1000 ppm, fees.py `rate_text`).
 *   Until they are applied (`rates` or `withCommission`) a market's fees read 0.
 * - The 24 h tickers: REST `GET /api/v3/ticker/24hr` and the streams' `24hrTicker`
 *   (`@ticker`, `!ticker@arr`) and `24hrMiniTicker` (`@miniTicker`, `!miniTicker@arr`),
 *   stream_payloads.py / stream_tickers.py.
 */
import {
  AmountError,
  compareDecimals,
  formatAmount,
  isDecimalText,
  MAX_SCALE,
  parseAmount,
} from "./decimal";
import type { Market } from "./orderForm";

/** An answer that does not have the shape the exchange sends; the message names the
 *  symbol and the field. */
export class MarketShapeError extends Error {
  override name = "MarketShapeError";
}

/** An account's fee rates in one market, in parts per million. */
export interface FeeRates {
  makerPpm: number;
  takerPpm: number;
}

/** A market and whether it trades now (the server's TRADING; HALT otherwise). */
export interface ListedMarket {
  market: Market;
  status: string;
}

/** One line of the market list; ticker fields are decimal strings as the API sent
 *  them, null until a ticker for the market arrived. */
export interface MarketRow {
  symbol: string;
  lastPrice: string | null;
  /** Signed, three decimals like the server's ("-1.250"). */
  priceChangePercent: string | null;
  high: string | null;
  low: string | null;
  quoteVolume: string | null;
  status: string;
  /** True when the market does not trade (status other than TRADING). */
  halted: boolean;
}

/** How `MarketList.rows` orders: by symbol A→Z, or by quote volume largest first. */
export type MarketSort = "symbol" | "quoteVolume";

type Json = Record<string, unknown>;

const PPM_SCALE = 6;
/** The commission answer's parts whose rates add up; only the standard one is required. */
const COMMISSION_PARTS = ["standardCommission", "specialCommission", "taxCommission"];
const MAX_RATE_PPM = 1_000_000n;
const PERCENT_SCALE = 3;

/** The markets of an exchangeInfo answer, with `rates` applied where given. */
export function marketsFromExchangeInfo(info: unknown,
  rates: Readonly<Record<string, FeeRates>> = {}): Market[] {
  return listedMarketsFromExchangeInfo(info, rates).map((listed) => listed.market);
}

/** The markets of an exchangeInfo answer with their statuses, for the market list. */
export function listedMarketsFromExchangeInfo(info: unknown,
  rates: Readonly<Record<string, FeeRates>> = {}): ListedMarket[] {
  const symbols = asObject(info, "exchangeInfo")["symbols"];
  if (!Array.isArray(symbols)) throw new MarketShapeError("exchangeInfo: symbols is not a list");
  return symbols.map((entry, index) => listedMarket(entry, index, rates));
}

function listedMarket(entry: unknown, index: number,
  rates: Readonly<Record<string, FeeRates>>): ListedMarket {
  const fields = asObject(entry, `exchangeInfo: symbols[${index}]`);
  const symbol = requireText(fields, "symbol", `exchangeInfo: symbols[${index}]`);
  const status = requireText(fields, "status", symbol);
  const baseScale = requireScale(fields, "baseAssetPrecision", symbol);
  const quoteScale = fields["quoteAssetPrecision"] === undefined
    ? requireScale(fields, "quotePrecision", symbol)
    : requireScale(fields, "quoteAssetPrecision", symbol);
  const filters = filtersByType(fields["filters"], symbol);
  const priceFilter = requireFilter(filters, "PRICE_FILTER", symbol);
  const lotFilter = requireFilter(filters, "LOT_SIZE", symbol);
  const notionalFilter = filters.get("NOTIONAL") ?? filters.get("MIN_NOTIONAL");
  const fees = rates[symbol] ?? { makerPpm: 0, takerPpm: 0 };
  const market: Market = {
    symbol,
    baseAsset: requireText(fields, "baseAsset", symbol),
    quoteAsset: requireText(fields, "quoteAsset", symbol),
    baseScale,
    quoteScale,
    tickSize: requirePositive(priceFilter, "PRICE_FILTER.tickSize", quoteScale, symbol),
    lotSize: requirePositive(lotFilter, "LOT_SIZE.stepSize", baseScale, symbol),
    minQty: requireAmount(lotFilter, "LOT_SIZE.minQty", baseScale, symbol),
    maxQty: requireAmount(lotFilter, "LOT_SIZE.maxQty", baseScale, symbol),
    minNotional: notionalFilter === undefined
      ? 0n
      : requireAmount(notionalFilter, "NOTIONAL.minNotional", quoteScale, symbol),
    makerFeePpm: fees.makerPpm,
    takerFeePpm: fees.takerPpm,
  };
  return { market, status };
}

function filtersByType(filters: unknown, symbol: string): Map<string, Json> {
  if (!Array.isArray(filters)) throw new MarketShapeError(`${symbol}: filters is not a list`);
  const byType = new Map<string, Json>();
  filters.forEach((filter, index) => {
    const fields = asObject(filter, `${symbol}: filters[${index}]`);
    byType.set(requireText(fields, "filterType", `${symbol}: filters[${index}]`), fields);
  });
  return byType;
}

function requireFilter(filters: Map<string, Json>, type: string, symbol: string): Json {
  const found = filters.get(type);
  if (found === undefined) throw new MarketShapeError(`${symbol}: no ${type} filter`);
  return found;
}

/** `path` is "FILTER.field"; the value is read from its field. */
function requireAmount(filter: Json, path: string, scale: number, symbol: string): bigint {
  const field = path.slice(path.indexOf(".") + 1);
  const text = filter[field];
  if (typeof text !== "string") throw new MarketShapeError(`${symbol}: ${path} is missing`);
  try {
    return parseAmount(text, scale);
  } catch (error) {
    if (!(error instanceof AmountError)) throw error;
    throw new MarketShapeError(`${symbol}: ${path} ${JSON.stringify(text)}: ${error.message}`);
  }
}

function requirePositive(filter: Json, path: string, scale: number, symbol: string): bigint {
  const units = requireAmount(filter, path, scale, symbol);
  if (units === 0n) throw new MarketShapeError(`${symbol}: ${path} must be greater than zero`);
  return units;
}

function requireScale(fields: Json, name: string, symbol: string): number {
  const value = fields[name];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > MAX_SCALE) {
    throw new MarketShapeError(`${symbol}: ${name} must be an integer within 0..${MAX_SCALE}`);
  }
  return value;
}

function requireText(fields: Json, name: string, where: string): string {
  const value = fields[name];
  if (typeof value !== "string" || value === "") {
    throw new MarketShapeError(`${where}: ${name} is missing`);
  }
  return value;
}

function asObject(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new MarketShapeError(`${where} is not an object`);
  }
  return value as Json;
}

/**
 * `market` with the account's rates from `GET /api/v3/account/commission?symbol=`:
 * standard plus special plus tax commission (Binance's total; the server's special and
 * tax are 0), converted to ppm exactly ("0.00100000" is 1000).
 */
export function withCommission(market: Market, commissionAnswer: unknown): Market {
  const answer = asObject(commissionAnswer, `${market.symbol}: commission`);
  if (answer["symbol"] !== market.symbol) {
    throw new MarketShapeError(`${market.symbol}: commission answer is for ${String(answer["symbol"])}`);
  }
  const parts = COMMISSION_PARTS
    .filter((name) => name === "standardCommission" || answer[name] !== undefined)
    .map((name) => asObject(answer[name], `${market.symbol}: ${name}`));
  const total = (side: "maker" | "taker") =>
    parts.reduce((sum, part) => sum + rateToPpm(part[side], market.symbol, side), 0n);
  return { ...market, makerFeePpm: checkedPpm(total("maker"), market.symbol, "maker"),
    takerFeePpm: checkedPpm(total("taker"), market.symbol, "taker") };
}

function rateToPpm(rate: unknown, symbol: string, side: string): bigint {
  if (typeof rate !== "string") throw new MarketShapeError(`${symbol}: commission ${side} is missing`);
  try {
    return parseAmount(rate, PPM_SCALE);
  } catch (error) {
    if (!(error instanceof AmountError)) throw error;
    throw new MarketShapeError(`${symbol}: commission ${side} ${JSON.stringify(rate)} ` +
      `is not a rate in whole ppm: ${error.message}`);
  }
}

function checkedPpm(ppm: bigint, symbol: string, side: string): number {
  if (ppm > MAX_RATE_PPM) throw new MarketShapeError(`${symbol}: commission ${side} exceeds 100 %`);
  return Number(ppm);
}

/**
 * The change from `open` to `last` in percent, as the server computes `P`
 * (market_data.py `price_change_percent_milli`): three decimals, rounded half away from
 * zero, "0.000" when there is no open price. For `24hrMiniTicker`, which sends only
 * `o` and `c`, so it shows the same figure as the full ticker.
 */
export function changePercent(open: string, last: string): string {
  const scale = Math.max(fractionLength(open), fractionLength(last));
  const openUnits = parseAmount(open, scale);
  const change = parseAmount(last, scale) - openUnits;
  if (openUnits === 0n) return formatAmount(0n, PERCENT_SCALE);
  const magnitude = ((change < 0n ? -change : change) * 100_000n * 2n + openUnits) / (2n * openUnits);
  return formatAmount(change < 0n ? -magnitude : magnitude, PERCENT_SCALE);
}

function fractionLength(text: string): number {
  const point = text.indexOf(".");
  return point < 0 ? 0 : text.length - point - 1;
}

interface TickerValues {
  lastPrice: string;
  priceChangePercent: string;
  high: string;
  low: string;
  quoteVolume: string;
}

interface TickerEntry {
  values: TickerValues;
  /** Milliseconds the values are as of: an event's E, a snapshot's closeTime. */
  asOf: number;
}

/**
 * The live market list: statuses from exchangeInfo, prices from the 24 h tickers (the
 * REST snapshot and the ticker streams). An update older than what a market already
 * shows is ignored, so a late snapshot does not undo a newer event. Tickers of symbols
 * not listed are ignored: a new market appears when exchangeInfo is read again.
 */
export class MarketList {
  private statuses = new Map<string, string>();
  private readonly tickers = new Map<string, TickerEntry>();

  constructor(markets: readonly ListedMarket[]) {
    this.setMarkets(markets);
  }

  /** A fresh exchangeInfo's markets (halts, resumptions); tickers of kept ones stay. */
  setMarkets(markets: readonly ListedMarket[]): void {
    this.statuses = new Map(markets.map(({ market, status }) => [market.symbol, status]));
    for (const symbol of [...this.tickers.keys()]) {
      if (!this.statuses.has(symbol)) this.tickers.delete(symbol);
    }
  }

  /** The answer of `GET /api/v3/ticker/24hr`: one ticker or a list of them. */
  applySnapshot(answer: unknown): void {
    for (const entry of Array.isArray(answer) ? answer : [answer]) {
      const fields = asObject(entry, "ticker/24hr");
      const symbol = requireText(fields, "symbol", "ticker/24hr");
      this.store(symbol, requireTime(fields, "closeTime", symbol), {
        lastPrice: requireDecimal(fields, "lastPrice", symbol),
        priceChangePercent: requireSignedDecimal(fields, "priceChangePercent", symbol),
        high: requireDecimal(fields, "highPrice", symbol),
        low: requireDecimal(fields, "lowPrice", symbol),
        quoteVolume: requireDecimal(fields, "quoteVolume", symbol),
      });
    }
  }

  /** A `24hrTicker` or `24hrMiniTicker` stream event, or an `@arr` list of them. */
  applyEvent(event: unknown): void {
    for (const entry of Array.isArray(event) ? event : [event]) {
      const fields = asObject(entry, "ticker event");
      const symbol = requireText(fields, "s", "ticker event");
      this.store(symbol, requireTime(fields, "E", symbol), eventValues(fields, symbol));
    }
  }

  /** Every listed market, ordered by `sortBy` (quote volume: largest first, markets
   *  without a ticker last, ties by symbol). */
  rows(sortBy: MarketSort = "symbol"): MarketRow[] {
    const rows = [...this.statuses].map(([symbol, status]) => this.row(symbol, status));
    const bySymbol = (a: MarketRow, b: MarketRow) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0);
    if (sortBy === "symbol") return rows.sort(bySymbol);
    return rows.sort((a, b) => byVolumeDescending(a.quoteVolume, b.quoteVolume) || bySymbol(a, b));
  }

  private row(symbol: string, status: string): MarketRow {
    const values = this.tickers.get(symbol)?.values;
    return {
      symbol,
      lastPrice: values?.lastPrice ?? null,
      priceChangePercent: values?.priceChangePercent ?? null,
      high: values?.high ?? null,
      low: values?.low ?? null,
      quoteVolume: values?.quoteVolume ?? null,
      status,
      halted: status !== "TRADING",
    };
  }

  private store(symbol: string, asOf: number, values: TickerValues): void {
    if (!this.statuses.has(symbol)) return;
    const current = this.tickers.get(symbol);
    if (current !== undefined && current.asOf > asOf) return;
    this.tickers.set(symbol, { values, asOf });
  }
}

function eventValues(fields: Json, symbol: string): TickerValues {
  const kind = fields["e"];
  if (kind !== "24hrTicker" && kind !== "24hrMiniTicker") {
    throw new MarketShapeError(`${symbol}: e ${JSON.stringify(kind)} is not a 24 h ticker event`);
  }
  const lastPrice = requireDecimal(fields, "c", symbol);
  return {
    lastPrice,
    priceChangePercent: kind === "24hrTicker"
      ? requireSignedDecimal(fields, "P", symbol)
      : changePercent(requireDecimal(fields, "o", symbol), lastPrice),
    high: requireDecimal(fields, "h", symbol),
    low: requireDecimal(fields, "l", symbol),
    quoteVolume: requireDecimal(fields, "q", symbol),
  };
}

function byVolumeDescending(a: string | null, b: string | null): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  return compareDecimals(b, a);
}

function requireDecimal(fields: Json, name: string, symbol: string): string {
  const value = requireSignedDecimal(fields, name, symbol);
  if (value.startsWith("-")) throw new MarketShapeError(`${symbol}: ${name} must not be negative`);
  return value;
}

function requireSignedDecimal(fields: Json, name: string, symbol: string): string {
  const value = fields[name];
  if (typeof value !== "string" || !isDecimalText(value, true)) {
    throw new MarketShapeError(`${symbol}: ${name} is not a decimal string`);
  }
  return value;
}

function requireTime(fields: Json, name: string, symbol: string): number {
  const value = fields[name];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new MarketShapeError(`${symbol}: ${name} is not a time in milliseconds`);
  }
  return value;
}
