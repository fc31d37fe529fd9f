/**
 * The trader views' pure logic: what the order form sends and previews, balances as
 * smallest units, order book rows, average prices and exchangeInfo's order types. No
 * floats: amounts stay decimal strings or bigint smallest units (decimal.ts).
 */
import type { Balance } from "../../lib/accountState";
import type { QueryParams } from "../../lib/config";
import {
  AmountError,
  decimalPlaces,
  formatAmount,
  formatApiDecimal,
  isDecimalText,
  parseAmount,
} from "../../lib/decimal";
import type { DepthTop, PriceLevel } from "../../lib/depthBook";
import { notional, type Balances, type Market, type OrderDraft, type OrderFormType } from "../../lib/orderForm";

/** The kinds of order the form offers (a stop kind only where the market lists it). */
export type FormKind = "LIMIT" | "MARKET" | "LIMIT_MAKER" | "STOP_LIMIT";

/** How a MARKET order is sized: by base amount (quantity) or quote total (quoteOrderQty). */
export type MarketSizing = "amount" | "total";

/** Time in force of a LIMIT order. */
export type TimeInForce = "GTC" | "IOC" | "FOK";

/** The order form's inputs as typed. */
export interface OrderFormValues {
  side: "BUY" | "SELL";
  kind: FormKind;
  /** For STOP_LIMIT: STOP_LOSS_LIMIT or TAKE_PROFIT_LIMIT. */
  stopType: "STOP_LOSS_LIMIT" | "TAKE_PROFIT_LIMIT";
  timeInForce: TimeInForce;
  marketSizing: MarketSizing;
  price: string;
  amount: string;
  total: string;
  stopPrice: string;
}

/** The empty form of a side. */
export function emptyOrderForm(side: "BUY" | "SELL"): OrderFormValues {
  return { side, kind: "LIMIT", stopType: "STOP_LOSS_LIMIT", timeInForce: "GTC",
    marketSizing: "amount", price: "", amount: "", total: "", stopPrice: "" };
}

/** The exchange's order type of the form's kind. */
export function orderTypeOf(values: OrderFormValues): OrderFormType {
  return values.kind === "STOP_LIMIT" ? values.stopType : values.kind;
}

/** Whether the form sends a price (every kind but MARKET). */
export function sendsPrice(values: OrderFormValues): boolean {
  return values.kind !== "MARKET";
}

/** Whether the form sends a quote total instead of an amount (MARKET by total). */
export function sendsTotal(values: OrderFormValues): boolean {
  return values.kind === "MARKET" && values.marketSizing === "total";
}

/** Whether the form sends a time in force (LIMIT and the stop-limit kinds). */
export function sendsTimeInForce(values: OrderFormValues): boolean {
  return values.kind === "LIMIT" || values.kind === "STOP_LIMIT";
}

function trimmed(text: string): string | undefined {
  const value = text.trim();
  return value === "" ? undefined : value;
}

/** The draft `previewOrder` checks: only the inputs the kind sends. */
export function orderDraftOf(values: OrderFormValues): OrderDraft {
  const draft: OrderDraft = { side: values.side, type: orderTypeOf(values) };
  const price = sendsPrice(values) ? trimmed(values.price) : undefined;
  const quantity = sendsTotal(values) ? undefined : trimmed(values.amount);
  const quoteOrderQty = sendsTotal(values) ? trimmed(values.total) : undefined;
  if (price !== undefined) draft.price = price;
  if (quantity !== undefined) draft.quantity = quantity;
  if (quoteOrderQty !== undefined) draft.quoteOrderQty = quoteOrderQty;
  return draft;
}

/** The query parameters of `POST /api/v3/order` for the form. */
export function orderParamsOf(symbol: string, values: OrderFormValues): QueryParams {
  const draft = orderDraftOf(values);
  return {
    symbol,
    side: values.side,
    type: draft.type,
    timeInForce: sendsTimeInForce(values) ? values.timeInForce : undefined,
    quantity: draft.quantity,
    quoteOrderQty: draft.quoteOrderQty,
    price: draft.price,
    stopPrice: values.kind === "STOP_LIMIT" ? trimmed(values.stopPrice) : undefined,
    newOrderRespType: "RESULT",
  };
}

/** Why the stop price would be refused (empty, malformed, off the tick grid), or null.
 *  Only for the stop kinds; `previewOrder` does not check stop prices. */
export function stopPriceProblem(market: Market, values: OrderFormValues): string | null {
  if (values.kind !== "STOP_LIMIT") return null;
  const text = values.stopPrice.trim();
  if (text === "") return "Enter a stop price";
  let units: bigint;
  try {
    units = parseAmount(text, market.quoteScale);
  } catch (error) {
    if (error instanceof AmountError) return error.message.replace(/^Amount/, "Stop price");
    throw error;
  }
  if (units === 0n) return "Stop price must be greater than zero";
  if (units % market.tickSize !== 0n) {
    return `Stop price must be a multiple of ${formatAmount(market.tickSize, market.quoteScale, { trim: true })} ${market.quoteAsset}`;
  }
  return null;
}

/** A decimal string as smallest units at `scale`, cut down to the scale; 0 if unusable. */
function unitsOf(text: string, scale: number): bigint {
  try {
    return parseAmount(formatApiDecimal(text, scale), scale);
  } catch (error) {
    if (error instanceof AmountError) return 0n;
    throw error;
  }
}

/** The market's two assets' available (free) balances in smallest units, as
 *  `previewOrder` takes them; an unknown balance is 0. */
export function availableOf(market: Market, balance: (asset: string) => Balance | undefined): Balances {
  return {
    [market.baseAsset]: unitsOf(balance(market.baseAsset)?.free ?? "0", market.baseScale),
    [market.quoteAsset]: unitsOf(balance(market.quoteAsset)?.free ?? "0", market.quoteScale),
  };
}

/** The input a share of the balance fills, and its text. */
export interface ShareFill {
  field: "amount" | "total";
  value: string;
}

/**
 * The amount (or MARKET total) that uses `percent` of the available balance: a SELL's
 * share of the base asset; a priced BUY's share of the quote asset divided by the price;
 * a MARKET BUY by total its share of the quote asset. Rounded down to the lot size (the
 * quote scale for a total); null when it cannot be known (a MARKET BUY by amount, a
 * MARKET SELL by total, a BUY without a valid price).
 */
export function amountForShare(market: Market, values: OrderFormValues, available: Balances,
  percent: number): ShareFill | null {
  const share = (units: bigint): bigint => (units * BigInt(percent)) / 100n;
  const onLot = (units: bigint): bigint => units - (units % market.lotSize);
  const baseValue = (units: bigint): ShareFill =>
    ({ field: "amount", value: formatAmount(onLot(units), market.baseScale, { trim: true }) });
  const quoteAvailable = share(available[market.quoteAsset] ?? 0n);
  if (sendsTotal(values)) {
    if (values.side === "SELL") return null;
    return { field: "total", value: formatAmount(quoteAvailable, market.quoteScale, { trim: true }) };
  }
  if (values.side === "SELL") return baseValue(share(available[market.baseAsset] ?? 0n));
  if (!sendsPrice(values)) return null;
  let price: bigint;
  try {
    price = parseAmount(values.price.trim(), market.quoteScale);
  } catch (error) {
    if (error instanceof AmountError) return null;
    throw error;
  }
  if (price === 0n) return null;
  return baseValue((quoteAvailable * 10n ** BigInt(market.baseScale)) / price);
}

/** An API decimal at `scale` for display; the text as sent when it is not a decimal. */
export function shown(text: string, scale: number, group = false): string {
  try {
    return formatApiDecimal(text, scale, { group });
  } catch (error) {
    if (error instanceof AmountError) return text;
    throw error;
  }
}

function decimalsOf(units: bigint, scale: number): number {
  const text = formatAmount(units, scale, { trim: true });
  const point = text.indexOf(".");
  return point < 0 ? 0 : text.length - point - 1;
}

/** The decimals prices of the market are shown with: those of its tick size. */
export function priceDecimals(market: Market): number {
  return decimalsOf(market.tickSize, market.quoteScale);
}

/** The decimals amounts of the market are shown with: those of its lot size. */
export function quantityDecimals(market: Market): number {
  return decimalsOf(market.lotSize, market.baseScale);
}

/** A price of the market as the API sent it, at the tick size's decimals. */
export function priceText(market: Market, text: string): string {
  return shown(text, priceDecimals(market));
}

/** An amount of the market's base asset, at the lot size's decimals. */
export function quantityText(market: Market, text: string): string {
  return shown(text, quantityDecimals(market));
}

/** One row of the order book: price and amount at the tick and lot sizes' decimals
 *  (on the grid, so nothing is cut off), and their product (the level's quote total,
 *  rounded down to the price's decimals). */
export interface BookRow {
  /** The price as the API wrote it (filled into the order form when clicked). */
  rawPrice: string;
  price: string;
  amount: string;
  total: string;
}

/** Rows of a book side for display. */
export function bookRowsOf(market: Market, levels: readonly PriceLevel[]): BookRow[] {
  const priceScale = priceDecimals(market);
  return levels.map(([price, quantity]) => {
    const priceUnits = unitsOf(price, market.quoteScale);
    const quantityUnits = unitsOf(quantity, market.baseScale);
    const total = formatAmount(notional(market, priceUnits, quantityUnits), market.quoteScale);
    return {
      rawPrice: formatApiDecimal(price, market.quoteScale, { trim: true }),
      price: shown(price, priceScale),
      amount: shown(quantity, quantityDecimals(market)),
      total: shown(total, priceScale),
    };
  });
}

/** The best ask minus the best bid at the quote scale; null when a side is empty. */
export function spreadOf(market: Market, top: DepthTop): string | null {
  const ask = top.asks[0];
  const bid = top.bids[0];
  if (ask === undefined || bid === undefined) return null;
  const spread = formatAmount(unitsOf(ask[0], market.quoteScale) - unitsOf(bid[0], market.quoteScale), market.quoteScale);
  return shown(spread, priceDecimals(market));
}

/**
 * The average fill price `cummulativeQuoteQty / executedQty`, exact and rounded down
 * to `quoteScale` decimals; null when nothing was executed.
 */
export function averagePrice(cumulativeQuote: string, executed: string, quoteScale: number): string | null {
  if (!isDecimalText(cumulativeQuote) || !isDecimalText(executed)) return null;
  const quoteDecimals = decimalPlaces(cumulativeQuote);
  const baseDecimals = decimalPlaces(executed);
  const quoteUnits = parseAmount(cumulativeQuote, quoteDecimals);
  const baseUnits = parseAmount(executed, baseDecimals);
  if (baseUnits === 0n) return null;
  const numerator = quoteUnits * 10n ** BigInt(baseDecimals + quoteScale);
  const denominator = baseUnits * 10n ** BigInt(quoteDecimals);
  return formatAmount(numerator / denominator, quoteScale);
}

/** "up", "down" or "" for a signed decimal change ("-1.250" is down, "0.000" neither). */
export function changeDirection(percent: string | null): "up" | "down" | "" {
  if (percent === null || !isDecimalText(percent, true)) return "";
  if (percent.startsWith("-")) return /[1-9]/.test(percent) ? "down" : "";
  return /[1-9]/.test(percent) ? "up" : "";
}

/** Each symbol's order types as exchangeInfo lists them (`symbols[].orderTypes`). */
export function orderTypesBySymbol(info: unknown): Record<string, string[]> {
  const symbols = typeof info === "object" && info !== null ? (info as { symbols?: unknown }).symbols : undefined;
  const found: Record<string, string[]> = {};
  if (!Array.isArray(symbols)) return found;
  for (const entry of symbols) {
    if (typeof entry !== "object" || entry === null) continue;
    const { symbol, orderTypes } = entry as { symbol?: unknown; orderTypes?: unknown };
    if (typeof symbol !== "string" || !Array.isArray(orderTypes)) continue;
    found[symbol] = orderTypes.filter((type): type is string => typeof type === "string");
  }
  return found;
}

/** Which stop-limit types the form offers for a market's listed order types. */
export function stopTypesOf(orderTypes: readonly string[]): OrderFormValues["stopType"][] {
  return (["STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"] as const).filter((type) => orderTypes.includes(type));
}
