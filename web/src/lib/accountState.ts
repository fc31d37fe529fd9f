/**
 * The signed-in trader's balances and open orders, kept live as Binance clients do it:
 * a REST snapshot (`GET /api/v3/account` and `GET /api/v3/openOrders`) plus the user
 * data stream's `executionReport`, `outboundAccountPosition` and `balanceUpdate`.
 *
 * Rules:
 * - Until the first snapshot, and again after `markStreamReopened()` until the next
 *   snapshot, events are buffered (up to `maxBufferedEvents`, oldest dropped) and
 *   replayed on top of the snapshot, so nothing sent in between is lost.
 * - Events no newer than the snapshot do not undo it: an `executionReport` whose
 *   transaction time `T` is before the `updateTime` the order had in the snapshot leaves
 *   it as it is (only that time counts: within the stream a TRADE's `T` is its fill
 *   time, which may precede the `T` of the NEW sent with it); an
 *   `outboundAccountPosition` whose event time `E` is before the account snapshot's
 *   `updateTime` is skipped, and so is a `balanceUpdate` whose `T` is at or
 *   before it (a delta cannot be applied twice; the `outboundAccountPosition` that
 *   follows it is authoritative anyway).
 * - A closed order (FILLED, CANCELED, EXPIRED, REJECTED, EXPIRED_IN_MATCH) stays closed:
 *   its id is remembered (the latest `maxClosedOrders`), so a late or replayed report,
 *   or an older snapshot, never shows it as open again.
 * - Amounts stay decimal strings; sums are exact (bigint), never floats.
 */

import { addDecimals, decimalPlaces, formatAmount, isZeroDecimal } from "./decimal";

/** One asset of the account: what can be used and what open orders or withdrawals hold. */
export interface Balance {
  asset: string;
  free: string;
  locked: string;
}

/** The part of `GET /api/v3/account` this state uses. */
export interface AccountSnapshot {
  updateTime: number;
  balances: Balance[];
}

/** An order as `GET /api/v3/openOrders` returns it (the fields a screen needs). */
export interface OpenOrder {
  symbol: string;
  orderId: number;
  clientOrderId: string;
  side: string;
  type: string;
  price: string;
  origQty: string;
  executedQty: string;
  cummulativeQuoteQty: string;
  status: string;
  timeInForce: string;
  stopPrice: string;
  /** When the order was created (ms). */
  time: number;
  /** When the order last changed (ms). */
  updateTime: number;
}

/** One trade of this user, from an `executionReport` with `x = "TRADE"`. */
export interface Fill {
  symbol: string;
  orderId: number;
  tradeId: number;
  side: string;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string | null;
  isMaker: boolean;
  time: number;
}

/** Binance's `executionReport` as the server sends it (the fields used here). */
export interface ExecutionReportEvent {
  e: "executionReport";
  E: number;
  s: string;
  c: string;
  S: string;
  o: string;
  f: string;
  q: string;
  p: string;
  P: string;
  x: string;
  X: string;
  i: number;
  l: string;
  z: string;
  L: string;
  n: string;
  N: string | null;
  T: number;
  t: number;
  m: boolean;
  O: number;
  Z: string;
  Y: string;
}

/** The balances of the assets a change touched, after it (authoritative). */
export interface OutboundAccountPositionEvent {
  e: "outboundAccountPosition";
  E: number;
  u: number;
  B: { a: string; f: string; l: string }[];
}

/** A change of an asset's free balance outside trading (deposit, withdrawal): `d` is signed. */
export interface BalanceUpdateEvent {
  e: "balanceUpdate";
  E: number;
  a: string;
  d: string;
  T: number;
}

/** The user data stream events this state understands. */
export type UserStreamEvent =
  | ExecutionReportEvent
  | OutboundAccountPositionEvent
  | BalanceUpdateEvent;

/** Called after every change of balances, open orders or fills. */
export type AccountListener = () => void;

/** Limits of what the state keeps; every field has a default. */
export interface AccountStateOptions {
  /** Fills kept for `recentFills` (newest kept). */
  maxFills: number;
  /** Closed order ids remembered so they never come back. */
  maxClosedOrders: number;
  /** Events held while waiting for a snapshot (oldest dropped). */
  maxBufferedEvents: number;
}

/** 200 fills, 10 000 closed orders, 1000 buffered events. */
export const DEFAULT_ACCOUNT_STATE_OPTIONS: AccountStateOptions = {
  maxFills: 200,
  maxClosedOrders: 10_000,
  maxBufferedEvents: 1000,
};

const OPEN_STATUSES = new Set(["NEW", "PARTIALLY_FILLED"]);
const CLOSED_STATUSES = new Set(["FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"]);

function zeroLike(text: string): string {
  return formatAmount(0n, decimalPlaces(text));
}

function orderKey(symbol: string, orderId: number): string {
  return `${symbol}:${orderId}`;
}

function isUserStreamEvent(event: unknown): event is UserStreamEvent {
  if (typeof event !== "object" || event === null) return false;
  const type = (event as { e?: unknown }).e;
  return type === "executionReport" || type === "outboundAccountPosition" || type === "balanceUpdate";
}

/** Held balances: non-zero ones first, then by asset name. */
function byHeldThenAsset(a: Balance, b: Balance): number {
  const aEmpty = isZeroDecimal(a.free) && isZeroDecimal(a.locked);
  const bEmpty = isZeroDecimal(b.free) && isZeroDecimal(b.locked);
  if (aEmpty !== bEmpty) return aEmpty ? 1 : -1;
  return a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0;
}

/** Newest order first: by creation time, then by order id. */
function newestOrderFirst(a: OpenOrder, b: OpenOrder): number {
  return b.time - a.time || b.orderId - a.orderId;
}

/** The open order an executionReport describes. */
function orderFromReport(event: ExecutionReportEvent): OpenOrder {
  return {
    symbol: event.s,
    orderId: event.i,
    clientOrderId: event.c,
    side: event.S,
    type: event.o,
    price: event.p,
    origQty: event.q,
    executedQty: event.z,
    cummulativeQuoteQty: event.Z,
    status: event.X,
    timeInForce: event.f,
    stopPrice: event.P,
    time: event.O,
    updateTime: event.T,
  };
}

function fillFromReport(event: ExecutionReportEvent): Fill {
  return {
    symbol: event.s,
    orderId: event.i,
    tradeId: event.t,
    side: event.S,
    price: event.L,
    qty: event.l,
    quoteQty: event.Y,
    commission: event.n,
    commissionAsset: event.N,
    isMaker: event.m,
    time: event.T,
  };
}

/** Balances, open orders and recent fills of the signed-in trader, snapshot plus stream. */
export class AccountState {
  private readonly balancesByAsset = new Map<string, Balance>();
  private readonly ordersByKey = new Map<string, OpenOrder>();
  private readonly closedOrders = new Set<string>();
  /** The `updateTime` each order of the last snapshot had in it. */
  private readonly snapshotOrderTimes = new Map<string, number>();
  private fills: Fill[] = [];
  private snapshotTime: number | null = null;
  private resyncNeeded = true;
  private buffered: UserStreamEvent[] = [];
  private readonly listeners = new Set<AccountListener>();
  private readonly options: AccountStateOptions;

  constructor(options: Partial<AccountStateOptions> = {}) {
    this.options = { ...DEFAULT_ACCOUNT_STATE_OPTIONS, ...options };
  }

  /** Listens to changes; returns the function that stops listening. */
  onChange(listener: AccountListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Replaces balances and open orders with the REST answers, then replays the events
   * buffered while waiting for it. Orders known to be closed are left out.
   */
  loadSnapshot(account: AccountSnapshot, openOrders: readonly OpenOrder[]): void {
    this.balancesByAsset.clear();
    for (const balance of account.balances) {
      this.balancesByAsset.set(balance.asset, { ...balance });
    }
    this.ordersByKey.clear();
    this.snapshotOrderTimes.clear();
    for (const order of openOrders) {
      const key = orderKey(order.symbol, order.orderId);
      if (this.closedOrders.has(key)) continue;
      this.ordersByKey.set(key, { ...order });
      this.snapshotOrderTimes.set(key, order.updateTime);
    }
    this.snapshotTime = account.updateTime;
    this.resyncNeeded = false;
    const pending = this.buffered;
    this.buffered = [];
    for (const event of pending) this.applyInSync(event);
    this.notify();
  }

  /**
   * Takes one user stream message. Returns whether balances, open orders or fills
   * changed; unknown events are ignored, and events are buffered (false) while a
   * snapshot is needed.
   */
  applyEvent(event: unknown): boolean {
    if (!isUserStreamEvent(event)) return false;
    if (this.resyncNeeded) {
      this.buffer(event);
      return false;
    }
    const changed = this.applyInSync(event);
    if (changed) this.notify();
    return changed;
  }

  /** The stream reopened and may have lost events: buffer until `loadSnapshot`. */
  markStreamReopened(): void {
    this.resyncNeeded = true;
  }

  /** Whether the caller must (re)load the snapshot: none yet, or the stream reopened. */
  needsResync(): boolean {
    return this.resyncNeeded;
  }

  /** Every known balance: those with a non-zero free or locked amount first, then by asset. */
  balances(): Balance[] {
    return [...this.balancesByAsset.values()].map((b) => ({ ...b })).sort(byHeldThenAsset);
  }

  /** The balance of one asset, if known. */
  balance(asset: string): Balance | undefined {
    const found = this.balancesByAsset.get(asset);
    return found === undefined ? undefined : { ...found };
  }

  /** Open orders, in one market or all, newest first. */
  openOrders(symbol?: string): OpenOrder[] {
    return [...this.ordersByKey.values()]
      .filter((order) => symbol === undefined || order.symbol === symbol)
      .map((order) => ({ ...order }))
      .sort(newestOrderFirst);
  }

  /** The latest `limit` fills seen on the stream, newest first. */
  recentFills(limit: number): Fill[] {
    return this.fills.slice(0, Math.max(0, limit)).map((fill) => ({ ...fill }));
  }

  private buffer(event: UserStreamEvent): void {
    this.buffered.push(event);
    const excess = this.buffered.length - this.options.maxBufferedEvents;
    if (excess > 0) this.buffered.splice(0, excess);
  }

  private applyInSync(event: UserStreamEvent): boolean {
    switch (event.e) {
      case "executionReport":
        return this.applyExecutionReport(event);
      case "outboundAccountPosition":
        return this.applyAccountPosition(event);
      case "balanceUpdate":
        return this.applyBalanceUpdate(event);
    }
  }

  private applyExecutionReport(event: ExecutionReportEvent): boolean {
    const fillRecorded = event.x === "TRADE" && this.recordFill(fillFromReport(event));
    return this.applyOrderStatus(event) || fillRecorded;
  }

  private applyOrderStatus(event: ExecutionReportEvent): boolean {
    const key = orderKey(event.s, event.i);
    if (this.closedOrders.has(key)) return false;
    const orderSnapshotTime = this.snapshotOrderTimes.get(key);
    if (orderSnapshotTime !== undefined && event.T < orderSnapshotTime) return false;
    if (CLOSED_STATUSES.has(event.X)) {
      this.rememberClosed(key);
      return this.ordersByKey.delete(key);
    }
    if (!OPEN_STATUSES.has(event.X)) return false;
    this.ordersByKey.set(key, orderFromReport(event));
    return true;
  }

  private rememberClosed(key: string): void {
    this.closedOrders.add(key);
    if (this.closedOrders.size > this.options.maxClosedOrders) {
      const oldest = this.closedOrders.values().next();
      if (oldest.done !== true) this.closedOrders.delete(oldest.value);
    }
  }

  /** Adds a fill unless it is already there (a replayed report); newest first. */
  private recordFill(fill: Fill): boolean {
    const seen = this.fills.some((f) => f.symbol === fill.symbol && f.tradeId === fill.tradeId);
    if (seen) return false;
    this.fills = [fill, ...this.fills]
      .sort((a, b) => b.time - a.time || b.tradeId - a.tradeId)
      .slice(0, this.options.maxFills);
    return true;
  }

  private applyAccountPosition(event: OutboundAccountPositionEvent): boolean {
    if (this.snapshotTime !== null && event.E < this.snapshotTime) return false;
    let changed = false;
    for (const { a, f, l } of event.B) {
      const known = this.balancesByAsset.get(a);
      if (known !== undefined && known.free === f && known.locked === l) continue;
      this.balancesByAsset.set(a, { asset: a, free: f, locked: l });
      changed = true;
    }
    return changed;
  }

  private applyBalanceUpdate(event: BalanceUpdateEvent): boolean {
    if (this.snapshotTime !== null && event.T <= this.snapshotTime) return false;
    if (isZeroDecimal(event.d)) return false;
    const known = this.balancesByAsset.get(event.a);
    const free = known === undefined ? event.d : addDecimals(known.free, event.d);
    const locked = known === undefined ? zeroLike(event.d) : known.locked;
    this.balancesByAsset.set(event.a, { asset: event.a, free, locked });
    return true;
  }

  private notify(): void {
    for (const listener of this.listeners) listener();
  }
}
