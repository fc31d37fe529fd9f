/**
 * The order book, kept in sync by Binance's procedure (depthBook.ts): the
 * `<symbol>@depth` diff stream is buffered, a `GET /api/v3/depth` snapshot applied, and
 * on a gap or a reopened stream a new snapshot is fetched while "Resyncing…" shows.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { DepthBook, type DepthSnapshot, type DepthTop, type DepthUpdateEvent } from "../../lib/depthBook";
import type { Market } from "../../lib/orderForm";
import { Panel } from "../common/forms";
import { bookRowsOf, spreadOf, type BookRow } from "./tradeLogic";

/** Levels shown per side. */
const LEVELS_SHOWN = 15;
const SNAPSHOT_LIMIT = 1000;
/** Wait before asking again for a snapshot that was too old or failed. */
const SNAPSHOT_RETRY_MS = 1000;

/** What the panel shows of the book's sync. */
type BookStatus = "loading" | "synced" | "resyncing";

interface BookView {
  top: DepthTop;
  status: BookStatus;
}

function isDepthEvent(data: unknown): data is DepthUpdateEvent {
  return typeof data === "object" && data !== null && (data as { e?: unknown }).e === "depthUpdate";
}

/** The synced book of `symbol`: its best levels and whether it is resyncing. */
function useDepthBook(symbol: string): BookView {
  const services = useServices();
  const [view, setView] = useState<BookView>({ top: { bids: [], asks: [] }, status: "loading" });
  useEffect(() => {
    let book = new DepthBook(symbol);
    let live = true;
    let fetching = false;
    let everSynced = false;
    let frame: number | null = null;
    const statusOf = (): BookStatus => {
      if (book.state === "synced") return "synced";
      return book.state === "resyncing" || everSynced ? "resyncing" : "loading";
    };
    const render = (): void => {
      if (frame !== null) return;
      frame = requestAnimationFrame(() => {
        frame = null;
        if (live) setView({ top: book.top(LEVELS_SHOWN), status: statusOf() });
      });
    };
    const fetchSnapshot = (): void => {
      if (fetching || !live) return;
      fetching = true;
      const fetchedFor = book;
      services.api.publicGet<DepthSnapshot>("/api/v3/depth", { symbol, limit: SNAPSHOT_LIMIT })
        .then((snapshot) => {
          fetching = false;
          if (!live || fetchedFor !== book) return;
          if (book.applySnapshot(snapshot) === "synced") everSynced = true;
          else setTimeout(fetchSnapshot, SNAPSHOT_RETRY_MS);
          render();
        })
        .catch(() => {
          fetching = false;
          setTimeout(fetchSnapshot, SNAPSHOT_RETRY_MS);
        });
    };
    const stopStream = services.market.on(`${symbol.toLowerCase()}@depth`, (data) => {
      if (!isDepthEvent(data)) return;
      if (book.applyEvent(data) === "resyncing") fetchSnapshot();
      render();
    });
    const stopReopen = services.market.onReopen(() => {
      book = new DepthBook(symbol);
      fetching = false;
      render();
      fetchSnapshot();
    });
    fetchSnapshot();
    return () => {
      live = false;
      if (frame !== null) cancelAnimationFrame(frame);
      stopStream();
      stopReopen();
    };
  }, [services, symbol]);
  return view;
}

const STATUS_WORDS: Record<BookStatus, string> = {
  loading: "Loading…",
  synced: "Live",
  resyncing: "Resyncing…",
};

function LevelRow({ row, side, onPick }: { row: BookRow; side: "ask" | "bid"; onPick: (price: string) => void }): JSX.Element {
  return (
    <tr data-testid={`book-${side}`} class={`book-row book-${side}`} onClick={() => onPick(row.rawPrice)}>
      <td class={`num ${side === "ask" ? "down" : "up"}`}>
        <button type="button" class="price-pick" title="Put this price in the order form"
                onClick={(event) => {
                  event.stopPropagation();
                  onPick(row.rawPrice);
                }}>{row.price}</button>
      </td>
      <td class="num">{row.amount}</td>
      <td class="num">{row.total}</td>
    </tr>
  );
}

/** The order book panel; clicking a level hands its price to `onPickPrice`. */
export function OrderBookPanel({ market, onPickPrice }: { market: Market; onPickPrice: (price: string) => void }): JSX.Element {
  const { top, status } = useDepthBook(market.symbol);
  const asks = bookRowsOf(market, top.asks).reverse();
  const bids = bookRowsOf(market, top.bids);
  const spread = spreadOf(market, top);
  return (
    <div data-testid="order-book" class="trade-book">
      <Panel title="Order book" actions={
        <span data-testid="book-state" class={`book-state book-state-${status}`} role="status">
          {STATUS_WORDS[status]}
        </span>}>
        <table aria-label={`Order book of ${market.symbol}`} class="book-table">
          <thead>
            <tr>
              <th scope="col">Price ({market.quoteAsset})</th>
              <th scope="col">Amount ({market.baseAsset})</th>
              <th scope="col">Total ({market.quoteAsset})</th>
            </tr>
          </thead>
          <tbody class="book-asks">
            {asks.map((row) => <LevelRow key={`a${row.price}`} row={row} side="ask" onPick={onPickPrice} />)}
          </tbody>
          <tbody class="book-spread">
            <tr><td colSpan={3} class="muted">
              {asks.length === 0 && bids.length === 0 ? "No orders yet"
                : spread === null ? "One side is empty" : `Spread ${spread} ${market.quoteAsset}`}
            </td></tr>
          </tbody>
          <tbody class="book-bids">
            {bids.map((row) => <LevelRow key={`b${row.price}`} row={row} side="bid" onPick={onPickPrice} />)}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
