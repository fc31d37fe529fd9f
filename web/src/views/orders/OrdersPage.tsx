/**
 * The signed-in trader's orders: open orders of every market (live, with cancel and
 * amend), order history (`GET /api/v3/allOrders` per market) and trade history
 * (`GET /api/v3/myTrades` per market), newest first, filtered by market.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { isDecimalText, isZeroDecimal } from "../../lib/decimal";
import type { OpenOrder } from "../../lib/accountState";
import type { Market } from "../../lib/orderForm";
import { Field, Panel } from "../common/forms";
import { useAccountState } from "../account-state/useAccountState";
import { AccountStreamBadge } from "../trade/AccountPanels";
import { useMarketCatalog } from "../trade/marketData";
import { dateTimeOf, marketPrice, marketQuantity, OpenOrdersTable } from "../trade/OpenOrdersTable";
import { averagePrice, shown } from "../trade/tradeLogic";
import "../trade/trade.css";

type Tab = "open" | "history" | "trades";

const TABS: readonly { tab: Tab; label: string }[] = [
  { tab: "open", label: "Open orders" },
  { tab: "history", label: "Order history" },
  { tab: "trades", label: "Trade history" },
];

/** An order as `GET /api/v3/allOrders` answers: an open order's fields, and the total a
 * MARKET order was sized by. */
interface HistoryOrder extends OpenOrder {
  origQuoteOrderQty: string;
}

/** A fill as `GET /api/v3/myTrades` answers. */
interface MyTrade {
  symbol: string;
  id: number;
  orderId: number;
  price: string;
  qty: string;
  quoteQty: string;
  commission: string;
  commissionAsset: string;
  time: number;
  isBuyer: boolean;
  isMaker: boolean;
}

/** Rows of a per-market history route for every market in `symbols`, newest first. */
function useHistory<T extends { time: number }>(path: string, symbols: readonly string[], refreshKey: string,
  tieBreak: (row: T) => number): { rows: T[] | null; error: string | null; reload: () => void } {
  const services = useServices();
  const [rows, setRows] = useState<T[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const symbolsKey = symbols.join(",");
  useEffect(() => {
    let live = true;
    Promise.all(symbols.map((symbol) => services.api.account<T[]>("GET", path, { symbol })))
      .then((answers) => {
        if (!live) return;
        setRows(answers.flat().sort((a, b) => b.time - a.time || tieBreak(b) - tieBreak(a)));
        setError(null);
      })
      .catch((failure: unknown) => live && setError(failure instanceof Error ? failure.message : String(failure)));
    return () => {
      live = false;
    };
  }, [services, path, symbolsKey, refreshKey, reloads]);
  return { rows, error, reload: () => setReloads((n) => n + 1) };
}

function statusWords(status: string): string {
  return status.replace(/_/g, " ").toLowerCase();
}

/** What the order asked for: its quantity, or the quote total of a MARKET order sized by it. */
function sizeOf(order: HistoryOrder, market: Market | undefined): string {
  const byTotal = isDecimalText(order.origQty) && isZeroDecimal(order.origQty) &&
    isDecimalText(order.origQuoteOrderQty ?? "") && !isZeroDecimal(order.origQuoteOrderQty);
  if (!byTotal) return marketQuantity(market, order.origQty);
  return `total ${marketPrice(market, order.origQuoteOrderQty)} ${market?.quoteAsset ?? ""}`.trim();
}

function OrderHistoryTable({ orders, markets }: { orders: readonly HistoryOrder[]; markets: ReadonlyMap<string, Market> }): JSX.Element {
  return (
    <table aria-label="Order history">
      <thead>
        <tr>
          <th scope="col">Time</th><th scope="col">Market</th><th scope="col">Side</th><th scope="col">Type</th>
          <th scope="col">Price</th><th scope="col">Filled / amount</th><th scope="col">Average price</th>
          <th scope="col">Status</th>
        </tr>
      </thead>
      <tbody>
        {orders.length === 0 ? <tr><td colSpan={8} class="muted">No orders</td></tr> : null}
        {orders.map((order) => {
          const market = markets.get(order.symbol);
          const average = averagePrice(order.cummulativeQuoteQty, order.executedQty, market?.quoteScale ?? 8);
          return (
            <tr key={`${order.symbol}:${order.orderId}`} data-testid="history-order-row">
              <td class="muted">{dateTimeOf(order.time)}</td>
              <td>{order.symbol}</td>
              <td class={order.side === "BUY" ? "up" : "down"}>{order.side === "BUY" ? "Buy" : "Sell"}</td>
              <td>{statusWords(order.type)}</td>
              <td class="num">{order.type === "MARKET" ? "Market" : marketPrice(market, order.price)}</td>
              <td class="num">{marketQuantity(market, order.executedQty)} / {sizeOf(order, market)}</td>
              <td class="num">{average ?? "–"}</td>
              <td>{statusWords(order.status)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function TradeHistoryTable({ trades, markets }: { trades: readonly MyTrade[]; markets: ReadonlyMap<string, Market> }): JSX.Element {
  return (
    <table aria-label="Trade history">
      <thead>
        <tr>
          <th scope="col">Time</th><th scope="col">Market</th><th scope="col">Side</th><th scope="col">Price</th>
          <th scope="col">Amount</th><th scope="col">Total</th><th scope="col">Fee</th><th scope="col">Role</th>
        </tr>
      </thead>
      <tbody>
        {trades.length === 0 ? <tr><td colSpan={8} class="muted">No trades</td></tr> : null}
        {trades.map((trade) => {
          const market = markets.get(trade.symbol);
          const quoteScale = market?.quoteScale ?? 8;
          const feeScale = market !== undefined && trade.commissionAsset === market.baseAsset ? market.baseScale : quoteScale;
          return (
            <tr key={`${trade.symbol}:${trade.id}`} data-testid="history-trade-row">
              <td class="muted">{dateTimeOf(trade.time)}</td>
              <td>{trade.symbol}</td>
              <td class={trade.isBuyer ? "up" : "down"}>{trade.isBuyer ? "Buy" : "Sell"}</td>
              <td class="num">{marketPrice(market, trade.price)}</td>
              <td class="num">{marketQuantity(market, trade.qty)}</td>
              <td class="num">{shown(trade.quoteQty, quoteScale)}</td>
              <td class="num">{shown(trade.commission, feeScale)} {trade.commissionAsset}</td>
              <td>{trade.isMaker ? "Maker" : "Taker"}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function HistoryState({ error, loading, onReload }: { error: string | null; loading: boolean; onReload: () => void }): JSX.Element {
  return (
    <div class="orders-toolbar">
      <button type="button" class="ghost small" onClick={onReload}>Refresh</button>
      {loading ? <span class="muted" role="status">Loading…</span> : null}
      {error === null ? null : <span class="error" role="alert">Could not load: {error}</span>}
    </div>
  );
}

function TabContent({ tab, symbols, markets }: { tab: Tab; symbols: readonly string[]; markets: ReadonlyMap<string, Market> }): JSX.Element {
  const account = useAccountState();
  const latestFill = account?.recentFills(1)[0];
  const refreshKey = `${latestFill?.symbol ?? ""}:${latestFill?.tradeId ?? ""}:${account?.openOrders().length ?? 0}`;
  const history = useHistory<HistoryOrder>("/api/v3/allOrders", tab === "history" ? symbols : [], refreshKey,
    (order) => order.orderId);
  const trades = useHistory<MyTrade>("/api/v3/myTrades", tab === "trades" ? symbols : [], refreshKey,
    (trade) => trade.id);
  if (tab === "open") {
    const orders = (account?.openOrders() ?? []).filter((order) => symbols.includes(order.symbol));
    return (
      <div data-testid="orders-open" role="tabpanel" id="orders-panel-open" aria-labelledby="orders-tab-open">
        <OpenOrdersTable orders={orders} markets={markets} showSymbol label="Open orders" />
      </div>
    );
  }
  if (tab === "history") {
    return (
      <div data-testid="orders-history" role="tabpanel" id="orders-panel-history" aria-labelledby="orders-tab-history">
        <HistoryState error={history.error} loading={history.rows === null && history.error === null} onReload={history.reload} />
        <OrderHistoryTable orders={history.rows ?? []} markets={markets} />
      </div>
    );
  }
  return (
    <div data-testid="trades-history" role="tabpanel" id="orders-panel-trades" aria-labelledby="orders-tab-trades">
      <HistoryState error={trades.error} loading={trades.rows === null && trades.error === null} onReload={trades.reload} />
      <TradeHistoryTable trades={trades.rows ?? []} markets={markets} />
    </div>
  );
}

function TabList({ tab, onChange }: { tab: Tab; onChange: (tab: Tab) => void }): JSX.Element {
  const move = (event: KeyboardEvent): void => {
    const index = TABS.findIndex((entry) => entry.tab === tab);
    const step = event.key === "ArrowRight" ? 1 : event.key === "ArrowLeft" ? -1 : 0;
    const next = TABS[(index + step + TABS.length) % TABS.length];
    if (step === 0 || next === undefined) return;
    event.preventDefault();
    onChange(next.tab);
    document.getElementById(`orders-tab-${next.tab}`)?.focus();
  };
  return (
    <div class="orders-tabs" role="tablist" aria-label="Orders" onKeyDown={move}>
      {TABS.map((entry) => (
        <button key={entry.tab} id={`orders-tab-${entry.tab}`} type="button" role="tab"
                aria-selected={entry.tab === tab} aria-controls={`orders-panel-${entry.tab}`}
                tabIndex={entry.tab === tab ? 0 : -1} class={entry.tab === tab ? "" : "ghost"}
                onClick={() => onChange(entry.tab)}>{entry.label}</button>
      ))}
    </div>
  );
}

/** The orders page. */
export function OrdersPage(): JSX.Element {
  const answer = useMarketCatalog();
  const [tab, setTab] = useState<Tab>("open");
  const [filter, setFilter] = useState("");
  if (answer === null) return <p role="status">Loading markets…</p>;
  if (answer.catalog === null) return <p role="alert">The markets could not be loaded: {answer.error}</p>;
  const markets = new Map(answer.catalog.listed.map(({ market }) => [market.symbol, market]));
  const allSymbols = [...markets.keys()].sort();
  const symbols = filter === "" ? allSymbols : [filter];
  return (
    <div class="orders-page">
      <h1>Orders</h1>
      <Panel title="Your orders and trades" actions={<AccountStreamBadge />}>
        <TabList tab={tab} onChange={setTab} />
        <div class="orders-toolbar">
          <Field id="orders-market" label="Market">
            {(describedBy) => (
              <select id="orders-market" aria-describedby={describedBy} value={filter}
                      onChange={(event) => setFilter(event.currentTarget.value)}>
                <option value="">All markets</option>
                {allSymbols.map((symbol) => <option key={symbol} value={symbol}>{symbol}</option>)}
              </select>
            )}
          </Field>
        </div>
        <TabContent tab={tab} symbols={symbols} markets={markets} />
      </Panel>
    </div>
  );
}
