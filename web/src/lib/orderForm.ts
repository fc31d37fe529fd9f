/**
 * What an order will lock, pay and receive, and why the server would refuse it, computed
 * as the server computes it so the form can show it before sending:
 * - parsing: chalicelib/domain/money.py `parse_units` and order_routes.py `amount`,
 *   `check_order_shape`;
 * - filters: chalicelib/domain/market_rules.py (PRICE_FILTER, LOT_SIZE, NOTIONAL);
 * - lock: chalicelib/service_layer/orders.py `planned_lock` / `required_lock`;
 * - fee: chalicelib/domain/fees.py `fee` (rounded up, on what the side receives).
 * Not mirrored: stop prices, and a LIMIT_MAKER refused because it would take (that
 * needs the order book).
 */
import { AmountError, formatAmount, mulDiv, parseAmount } from "./decimal";

/** A market as the exchange describes it; amounts in smallest units. */
export interface Market {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  baseScale: number;
  quoteScale: number;
  /** Price grid, in quote units. */
  tickSize: bigint;
  /** Quantity grid, in base units. */
  lotSize: bigint;
  minQty: bigint;
  maxQty: bigint;
  /** Minimum quote amount of an order; 0 disables it. */
  minNotional: bigint;
  makerFeePpm: number;
  takerFeePpm: number;
}

/** Order types the form places. */
export type OrderFormType = "LIMIT" | "LIMIT_MAKER" | "MARKET" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT_LIMIT";

/** An order as the user typed it: amounts are the decimal strings of the inputs;
 *  a missing or blank one is "not sent". */
export interface OrderDraft {
  side: "BUY" | "SELL";
  type: OrderFormType;
  price?: string;
  quantity?: string;
  quoteOrderQty?: string;
}

/** Available (not locked) balance per asset, in smallest units. */
export type Balances = Readonly<Record<string, bigint>>;

/** The input a problem belongs next to. */
export type ProblemField = "price" | "quantity" | "quoteOrderQty" | "balance";

/** Why the server would refuse the order: `reason` is the server's name for it
 *  (a RejectReason such as "PRICE_OFF_TICK", or MALFORMED, BAD_PRECISION,
 *  NOT_REQUIRED, INSUFFICIENT_BALANCE). */
export interface OrderProblem {
  field: ProblemField;
  reason: string;
  message: string;
}

/** What placing the order means for the trader. */
export interface OrderPreview {
  /** Funds locked while the order is open; `wholeBalance` when the server locks the
   *  whole available balance as a MARKET order's spend cap. */
  lock: { asset: string; amount: bigint; wholeBalance: boolean };
  /** The fee on a complete fill at the worst rate this order can pay (taker, or maker
   *  for LIMIT_MAKER), in the asset received; null when what is received depends on
   *  the book. The engine rounds each trade's fee up, so n fills may cost up to n - 1
   *  units more; a SELL that fills above its price receives, and pays, more. */
  fee: { asset: string; maxAmount: bigint | null; ratePpm: number };
  /** What a complete fill at the order's own price gives; null when the book decides. */
  receive: { asset: string; amount: bigint } | null;
  problems: OrderProblem[];
}

/** The largest amount the ledger holds (NUMERIC(38, 0)): the server refuses more. */
export const MAX_UNITS = 10n ** 38n - 1n;
const MAX_TEXT_LENGTH = 80;
const FEE_RATE_SCALE = 1_000_000n;

type AmountField = Exclude<ProblemField, "balance">;

/** Amounts the draft sends, in smallest units: 0 when not sent or unusable. */
interface Sizing {
  price: bigint;
  quantity: bigint;
  quoteOrderQty: bigint;
}

/** Lock, fee, receive and every problem the server would refuse `draft` for. */
export function previewOrder(market: Market, draft: OrderDraft, available: Balances): OrderPreview {
  const problems: OrderProblem[] = [];
  const sizing = parseSizing(market, draft, problems);
  problems.push(...shapeProblems(draft), ...filterProblems(market, draft, sizing, problems));
  const lock = plannedLock(market, draft, sizing, available);
  const balanceProblem = insufficientBalance(market, draft, lock, available, problems);
  if (balanceProblem !== null) problems.push(balanceProblem);
  const receive = receivedOnFill(market, draft, sizing);
  const ratePpm = draft.type === "LIMIT_MAKER" ? market.makerFeePpm : market.takerFeePpm;
  const feeAsset = draft.side === "BUY" ? market.baseAsset : market.quoteAsset;
  const maxAmount = receive === null ? null : fee(receive.amount, ratePpm);
  return { lock, fee: { asset: feeAsset, maxAmount, ratePpm }, receive, problems };
}

/** The fee on `received` units at `ratePpm`, rounded up as the server rounds it. */
export function fee(received: bigint, ratePpm: number): bigint {
  return mulDiv(received, BigInt(ratePpm), FEE_RATE_SCALE, "up");
}

/** Quote amount of `quantity` at `price`: exact for on-grid values (MarketSpec.notional). */
export function notional(market: Market, price: bigint, quantity: bigint): bigint {
  return mulDiv(price, quantity, baseUnit(market), "down");
}

function baseUnit(market: Market): bigint {
  return 10n ** BigInt(market.baseScale);
}

function tradesAsMarket(draft: OrderDraft): boolean {
  return draft.type === "MARKET";
}

function isSent(text: string | undefined): text is string {
  return text !== undefined && text.trim() !== "";
}

function parseSizing(market: Market, draft: OrderDraft, problems: OrderProblem[]): Sizing {
  return {
    price: parseSent(draft.price, "price", market.quoteScale, problems),
    quantity: parseSent(draft.quantity, "quantity", market.baseScale, problems),
    quoteOrderQty: parseSent(draft.quoteOrderQty, "quoteOrderQty", market.quoteScale, problems),
  };
}

/** A sent amount as the server's `amount` parses it: positive and storable. */
function parseSent(text: string | undefined, field: AmountField, scale: number,
  problems: OrderProblem[]): bigint {
  if (!isSent(text)) return 0n;
  const units = parseOrProblem(text, field, scale, problems);
  if (units === null) return 0n;
  if (units === 0n) {
    problems.push({ field, reason: "MALFORMED", message: "Must be greater than zero" });
  } else if (units > MAX_UNITS || text.length > MAX_TEXT_LENGTH) {
    problems.push({ field, reason: "MALFORMED", message: "Amount is too large" });
  }
  return units > MAX_UNITS ? 0n : units;
}

function parseOrProblem(text: string, field: AmountField, scale: number,
  problems: OrderProblem[]): bigint | null {
  try {
    return parseAmount(text, scale);
  } catch (error) {
    if (!(error instanceof AmountError)) throw error;
    const reason = error.message.includes("decimal places") ? "BAD_PRECISION" : "MALFORMED";
    problems.push({ field, reason, message: error.message });
    return null;
  }
}

/** Which inputs the order type needs and which it refuses (`check_order_shape`). */
function shapeProblems(draft: OrderDraft): OrderProblem[] {
  const problems: OrderProblem[] = [];
  const market = tradesAsMarket(draft);
  if (!market && !isSent(draft.price)) {
    problems.push(missing("price", "Enter a price"));
  }
  if (market && isSent(draft.price)) {
    problems.push(notRequired("price", "A MARKET order takes no price"));
  }
  if (isSent(draft.quoteOrderQty) && (!market || isSent(draft.quantity))) {
    problems.push(notRequired("quoteOrderQty",
      "Only a MARKET order without a quantity is sized by total"));
  }
  if (!isSent(draft.quantity) && !isSent(draft.quoteOrderQty)) {
    problems.push(missing("quantity", "Enter a quantity"));
  }
  return problems;
}

function missing(field: AmountField, message: string): OrderProblem {
  return { field, reason: "MALFORMED", message };
}

function notRequired(field: AmountField, message: string): OrderProblem {
  return { field, reason: "NOT_REQUIRED", message };
}

/** The market's filters (`check_filters`), each on the input it is about; only for
 *  inputs that parsed, so one input never shows two problems. */
function filterProblems(market: Market, draft: OrderDraft, sizing: Sizing,
  earlier: readonly OrderProblem[]): OrderProblem[] {
  const usable = (field: AmountField) =>
    sizing[field] > 0n && !earlier.some((p) => p.field === field);
  const problems: OrderProblem[] = [];
  if (tradesAsMarket(draft)) {
    if (usable("quantity")) pushIfAny(problems, quantityProblem(market, sizing.quantity));
    else if (!isSent(draft.quantity) && usable("quoteOrderQty")) {
      pushIfAny(problems, minNotionalProblem(market, sizing.quoteOrderQty, "quoteOrderQty"));
    }
    return problems;
  }
  if (usable("price")) pushIfAny(problems, priceProblem(market, sizing.price));
  if (usable("quantity")) pushIfAny(problems, quantityProblem(market, sizing.quantity));
  if (usable("price") && usable("quantity") && problems.length === 0) {
    pushIfAny(problems, notionalProblem(market, notional(market, sizing.price, sizing.quantity)));
  }
  return problems;
}

function pushIfAny(problems: OrderProblem[], problem: OrderProblem | null): void {
  if (problem !== null) problems.push(problem);
}

/** PRICE_FILTER: on the tick grid. */
function priceProblem(market: Market, price: bigint): OrderProblem | null {
  if (price % market.tickSize === 0n) return null;
  return { field: "price", reason: "PRICE_OFF_TICK",
    message: `Price must be a multiple of ${quoteText(market, market.tickSize)}` };
}

/** LOT_SIZE: on the lot grid, within the minimum and maximum. */
function quantityProblem(market: Market, quantity: bigint): OrderProblem | null {
  if (quantity % market.lotSize !== 0n) {
    return { field: "quantity", reason: "QTY_OFF_LOT",
      message: `Quantity must be a multiple of ${baseText(market, market.lotSize)}` };
  }
  if (quantity < market.minQty) {
    return { field: "quantity", reason: "QTY_TOO_SMALL",
      message: `Quantity must be at least ${baseText(market, market.minQty)}` };
  }
  if (quantity > market.maxQty) {
    return { field: "quantity", reason: "QTY_TOO_LARGE",
      message: `Quantity must be at most ${baseText(market, market.maxQty)}` };
  }
  return null;
}

/** NOTIONAL for a priced order: at least the minimum, at most what the ledger holds. */
function notionalProblem(market: Market, amount: bigint): OrderProblem | null {
  if (amount > MAX_UNITS) {
    return { field: "quantity", reason: "NOTIONAL_TOO_LARGE", message: "Order total is too large" };
  }
  return minNotionalProblem(market, amount, "quantity");
}

function minNotionalProblem(market: Market, amount: bigint, field: AmountField): OrderProblem | null {
  if (amount >= market.minNotional) return null;
  return { field, reason: "NOTIONAL_TOO_SMALL",
    message: `Order total must be at least ${quoteText(market, market.minNotional)}` };
}

/** The lock `required_lock` takes: base for a SELL, quote for a BUY; a MARKET order
 *  its size does not bound locks the whole available balance. */
function plannedLock(market: Market, draft: OrderDraft, sizing: Sizing,
  available: Balances): OrderPreview["lock"] {
  const asset = draft.side === "SELL" ? market.baseAsset : market.quoteAsset;
  const wholeBalance = tradesAsMarket(draft) &&
    (draft.side === "SELL" ? !isSent(draft.quantity) : !isSent(draft.quoteOrderQty));
  if (wholeBalance) return { asset, amount: available[asset] ?? 0n, wholeBalance };
  let amount: bigint;
  if (draft.side === "SELL") amount = sizing.quantity;
  else if (tradesAsMarket(draft)) amount = sizing.quoteOrderQty;
  else amount = notional(market, sizing.price, sizing.quantity);
  return { asset, amount, wholeBalance };
}

/** The server's last check: `0 < lock <= available`. Skipped while the inputs that size
 *  the lock have problems of their own (the lock is not known yet). */
function insufficientBalance(market: Market, draft: OrderDraft, lock: OrderPreview["lock"],
  available: Balances, problems: readonly OrderProblem[]): OrderProblem | null {
  if (problems.some((p) => p.field !== "balance")) return null;
  const balance = available[lock.asset] ?? 0n;
  if (lock.amount > 0n && lock.amount <= balance) return null;
  const scale = lock.asset === market.baseAsset ? market.baseScale : market.quoteScale;
  const need = lock.wholeBalance
    ? `some ${lock.asset}`
    : `${formatAmount(lock.amount, scale, { trim: true })} ${lock.asset}`;
  return { field: "balance", reason: "INSUFFICIENT_BALANCE",
    message: `Insufficient balance: the ${draft.side === "BUY" ? "buy" : "sell"} needs ${need}, ` +
      `${formatAmount(balance, scale, { trim: true })} ${lock.asset} available` };
}

/** What a complete fill at the order's own price gives: a BUY its quantity of base,
 *  a SELL the notional in quote (at least: a better fill price gives more). */
function receivedOnFill(market: Market, draft: OrderDraft, sizing: Sizing): OrderPreview["receive"] {
  if (draft.side === "BUY") {
    return sizing.quantity > 0n ? { asset: market.baseAsset, amount: sizing.quantity } : null;
  }
  if (tradesAsMarket(draft) || sizing.price === 0n || sizing.quantity === 0n) return null;
  return { asset: market.quoteAsset, amount: notional(market, sizing.price, sizing.quantity) };
}

function baseText(market: Market, units: bigint): string {
  return `${formatAmount(units, market.baseScale, { trim: true })} ${market.baseAsset}`;
}

function quoteText(market: Market, units: bigint): string {
  return `${formatAmount(units, market.quoteScale, { trim: true })} ${market.quoteAsset}`;
}
