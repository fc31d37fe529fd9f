/**
 * A local order book kept in sync from a REST snapshot (`GET /api/v3/depth`) plus the
 * `<symbol>@depth` diff stream, by Binance's documented procedure for spot:
 *
 * 1. Buffer stream events until a snapshot arrives.
 * 2. Drop buffered events with `u <= lastUpdateId`; if the first one left starts after
 *    `lastUpdateId + 1`, the snapshot is too old: fetch another.
 * 3. Load the snapshot, then apply the buffered and the following events. An event is
 *    applied when `U <= lastUpdateId + 1 <= u`, ignored when `u <= lastUpdateId` (already
 *    in the book), and a gap when `U > lastUpdateId + 1`: the book is out of sync, buffers
 *    again and needs a new snapshot ("resyncing").
 *
 * Prices and quantities stay decimal strings; levels are ordered by exact decimal
 * comparison, never through floats.
 */

import { canonicalDecimal, compareDecimals, isZeroDecimal } from "./decimal";

/** One price level as the API sends it: [price, quantity], both decimal strings. */
export type PriceLevel = [price: string, quantity: string];

/** The answer of `GET /api/v3/depth?symbol=X&limit=1000`. */
export interface DepthSnapshot {
  lastUpdateId: number;
  bids: PriceLevel[];
  asks: PriceLevel[];
}

/** One message of the `<symbol>@depth` stream: the levels changed by updates U..u. */
export interface DepthUpdateEvent {
  e: "depthUpdate";
  E: number;
  s: string;
  U: number;
  u: number;
  b: PriceLevel[];
  a: PriceLevel[];
}

/** Whether the book can be trusted ("synced") or waits for a snapshot to (re)build it. */
export type DepthBookState = "waiting-snapshot" | "synced" | "resyncing";

/** What `applySnapshot` achieved: a synced book, or a request for a newer snapshot. */
export type SnapshotOutcome = "synced" | "need-newer-snapshot";

/** The best levels of each side: bids highest price first, asks lowest first. */
export interface DepthTop {
  bids: PriceLevel[];
  asks: PriceLevel[];
}

/** Called with the new state whenever it changes, so the UI can show "resyncing". */
export type StateListener = (state: DepthBookState) => void;

/** How many stream events are held while waiting for a snapshot, unless told otherwise. */
export const DEFAULT_MAX_BUFFERED_EVENTS = 1000;

/** One side of the book: levels by canonical price, each as the API wrote it. */
class BookSide {
  private readonly levels = new Map<string, PriceLevel>();

  constructor(private readonly bestFirst: (a: string, b: string) => number) {}

  replaceAll(levels: readonly PriceLevel[]): void {
    this.levels.clear();
    this.update(levels);
  }

  update(levels: readonly PriceLevel[]): void {
    for (const [price, quantity] of levels) {
      const key = canonicalDecimal(price);
      if (isZeroDecimal(quantity)) {
        this.levels.delete(key);
      } else {
        this.levels.set(key, [price, quantity]);
      }
    }
  }

  best(count: number): PriceLevel[] {
    return [...this.levels.values()]
      .sort((a, b) => this.bestFirst(a[0], b[0]))
      .slice(0, Math.max(0, count))
      .map(([price, quantity]) => [price, quantity]);
  }
}

type EventFit = "apply" | "stale" | "gap";

/** Where an event falls relative to the book's last applied update id. */
function fitOf(event: DepthUpdateEvent, lastUpdateId: number): EventFit {
  if (event.u <= lastUpdateId) return "stale";
  return event.U <= lastUpdateId + 1 ? "apply" : "gap";
}

/** A local order book for one symbol, synced from a snapshot plus the diff stream. */
export class DepthBook {
  /** Whether the book is synced or waiting for a (new) snapshot. */
  state: DepthBookState = "waiting-snapshot";
  /** The update id the book reflects: the snapshot's, then each applied event's `u`. */
  lastUpdateId = 0;

  private readonly bids = new BookSide((a, b) => compareDecimals(b, a));
  private readonly asks = new BookSide(compareDecimals);
  private buffered: DepthUpdateEvent[] = [];
  private readonly listeners = new Set<StateListener>();

  /**
   * @param symbol the market, e.g. "BTCUSDT"; events for other symbols are ignored.
   * @param maxBufferedEvents events held while not synced; past it the oldest are
   *   dropped, so a snapshot older than the buffer is refused and fetched again.
   */
  constructor(
    readonly symbol: string,
    private readonly maxBufferedEvents: number = DEFAULT_MAX_BUFFERED_EVENTS,
  ) {}

  /** Listens to state changes; returns the function that stops listening. */
  onStateChange(listener: StateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Takes one stream event: applied when synced, buffered otherwise. Returns the state. */
  applyEvent(event: DepthUpdateEvent): DepthBookState {
    if (event.s.toUpperCase() !== this.symbol.toUpperCase()) return this.state;
    if (this.state === "synced") {
      this.applyInSync(event);
    } else {
      this.buffer(event);
    }
    return this.state;
  }

  /**
   * Rebuilds the book from a snapshot and the buffered events. Answers
   * "need-newer-snapshot" when the buffered events start after the snapshot (it is too
   * old) or reveal a gap; the caller then fetches another snapshot.
   */
  applySnapshot(snapshot: DepthSnapshot): SnapshotOutcome {
    const pending = this.buffered.filter((event) => event.u > snapshot.lastUpdateId);
    const first = pending[0];
    if (first !== undefined && first.U > snapshot.lastUpdateId + 1) {
      this.buffered = pending;
      return "need-newer-snapshot";
    }
    this.bids.replaceAll(snapshot.bids);
    this.asks.replaceAll(snapshot.asks);
    this.lastUpdateId = snapshot.lastUpdateId;
    this.buffered = [];
    this.setState("synced");
    for (const [index, event] of pending.entries()) {
      this.applyInSync(event);
      if (this.state !== "synced") {
        this.buffered.push(...pending.slice(index + 1));
        return "need-newer-snapshot";
      }
    }
    return "synced";
  }

  /** The best `count` levels of each side (the last known ones while resyncing). */
  top(count: number): DepthTop {
    return { bids: this.bids.best(count), asks: this.asks.best(count) };
  }

  private applyInSync(event: DepthUpdateEvent): void {
    const fit = fitOf(event, this.lastUpdateId);
    if (fit === "gap") {
      this.setState("resyncing");
      this.buffer(event);
    } else if (fit === "apply") {
      this.bids.update(event.b);
      this.asks.update(event.a);
      this.lastUpdateId = event.u;
    }
  }

  private buffer(event: DepthUpdateEvent): void {
    this.buffered.push(event);
    if (this.buffered.length > this.maxBufferedEvents) {
      this.buffered.shift();
    }
  }

  private setState(next: DepthBookState): void {
    if (this.state === next) return;
    this.state = next;
    for (const listener of this.listeners) listener(next);
  }
}
