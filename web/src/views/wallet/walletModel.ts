/**
 * The wallet's data as /v1 answers it (chalicelib/entrypoints/http/presenters.py) and the
 * arithmetic the page does on it, exactly (decimal strings and bigint units, no floats):
 * balances at each asset's scale, the withdrawal amount's checks, and the idempotency key
 * that makes a repeated withdrawal request count once.
 */
import {
  addDecimals,
  AmountError,
  decimalPlaces,
  formatAmount,
  formatApiDecimal,
  parseAmount,
} from "../../lib/decimal";
import type { Market } from "../../lib/orderForm";

/** One line of GET /v1/balances: decimal strings at the asset's scale. */
export interface ApiBalance {
  asset: string;
  free: string;
  locked: string;
}

/** One line of GET /v1/deposits. */
export interface Deposit {
  id: number;
  asset: string;
  amount: string;
  txid: string;
  createdAt: number | null;
}

/** A withdrawal's state: locked until an admin decides, then paid out or given back. */
export type WithdrawalStatus = "PENDING" | "APPROVED" | "REJECTED";

/** One line of GET /v1/withdrawals (and the answer of POST /v1/withdrawals). */
export interface Withdrawal {
  id: number;
  asset: string;
  amount: string;
  address: string;
  status: WithdrawalStatus | string;
  requestedAt: number | null;
  decidedAt: number | null;
}

/** A page of a /v1 history. */
export interface HistoryPage<T> {
  items: T[];
  nextBeforeId: number | null;
}

/** A balance line as shown: every amount at the asset's scale. */
export interface BalanceRow {
  asset: string;
  scale: number;
  available: string;
  locked: string;
  total: string;
}

/** Each asset's scale, from the markets it trades in (exchangeInfo's precisions). */
export function scalesOfMarkets(markets: readonly Market[]): Map<string, number> {
  const scales = new Map<string, number>();
  for (const market of markets) {
    scales.set(market.baseAsset, market.baseScale);
    scales.set(market.quoteAsset, market.quoteScale);
  }
  return scales;
}

/** The scale of `balance`'s asset: the markets' when known, else the number of decimals
 * the server wrote it with (it writes balances at the asset's scale). */
function scaleOfBalance(balance: ApiBalance, scales: ReadonlyMap<string, number>): number {
  return scales.get(balance.asset) ?? decimalPlaces(balance.free);
}

/** The balance table: every asset held and every asset of a market (zero when not held),
 * by symbol, amounts at the asset's scale (rounded down, never shown larger). */
export function balanceRows(balances: readonly ApiBalance[], scales: ReadonlyMap<string, number>): BalanceRow[] {
  const held = new Map(balances.map((balance) => [balance.asset, balance]));
  const assets = [...new Set([...held.keys(), ...scales.keys()])].sort();
  return assets.map((asset) => {
    const balance = held.get(asset) ?? { asset, free: "0", locked: "0" };
    const scale = scaleOfBalance(balance, scales);
    return {
      asset,
      scale,
      available: formatApiDecimal(balance.free, scale),
      locked: formatApiDecimal(balance.locked, scale),
      total: formatApiDecimal(addDecimals(balance.free, balance.locked), scale),
    };
  });
}

/**
 * Why `text` cannot be withdrawn from an asset of `scale` with `available` (a decimal
 * string, null when unknown), or null when it can be sent. The server checks again.
 */
export function withdrawalAmountProblem(text: string, scale: number, available: string | null): string | null {
  let units: bigint;
  try {
    units = parseAmount(text.trim(), scale);
  } catch (error) {
    if (error instanceof AmountError) return `${error.message}.`;
    throw error;
  }
  if (units === 0n) return "Amount must be greater than zero.";
  if (available !== null && units > parseAmount(formatApiDecimal(available, scale), scale)) {
    return `Amount is more than the ${formatApiDecimal(available, scale)} available.`;
  }
  return null;
}

/** The smallest amount of an asset of `scale`, as a decimal string ("0.00000001"). */
export function smallestAmount(scale: number): string {
  return formatAmount(1n, scale);
}

/** An idempotency key and the request it was made for. */
export interface RequestIntent {
  fingerprint: string;
  key: string;
}

/**
 * The intent of sending the request `fingerprint`: the previous one (same key) while the
 * request is the same, so a retry or a double click is one withdrawal on the server; a
 * fresh key from `newKey` once anything that matters changed.
 */
export function intentFor(previous: RequestIntent | null, fingerprint: string, newKey: () => string): RequestIntent {
  return previous !== null && previous.fingerprint === fingerprint ? previous : { fingerprint, key: newKey() };
}

/** The part of a withdrawal request that makes it a different one (not the one-time code). */
export function withdrawalFingerprint(asset: string, address: string, amount: string): string {
  return JSON.stringify([asset, address.trim(), amount.trim()]);
}

const STATUS_WORDS: Readonly<Record<string, string>> = {
  PENDING: "Pending: awaiting approval, the amount is locked",
  APPROVED: "Approved: sent",
  REJECTED: "Rejected: the amount is available again",
};

/** A withdrawal status in words. */
export function statusWords(status: string): string {
  return STATUS_WORDS[status] ?? status;
}
