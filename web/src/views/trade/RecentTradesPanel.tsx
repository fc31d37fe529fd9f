/**
 * The market's recent trades: `GET /api/v3/trades?limit=50`, then live from
 * `<symbol>@trade`; the price is coloured by the taker's side.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useServices } from "../../app/services";
import type { Market } from "../../lib/orderForm";
import { Panel } from "../common/forms";
import { priceText, quantityText } from "./tradeLogic";

const TRADES_SHOWN = 50;

/** One public trade; `takerSold` when the buyer was the maker (the taker sold). */
interface PublicTrade {
  id: number;
  price: string;
  qty: string;
  time: number;
  takerSold: boolean;
}

interface RestTrade {
  id: number;
  price: string;
  qty: string;
  time: number;
  isBuyerMaker: boolean;
}

function tradeFromStream(data: unknown): PublicTrade | null {
  if (typeof data !== "object" || data === null) return null;
  const event = data as Record<string, unknown>;
  const { t, p, q, T, m } = event;
  if (event["e"] !== "trade" || typeof t !== "number" || typeof p !== "string" || typeof q !== "string" ||
      typeof T !== "number" || typeof m !== "boolean") return null;
  return { id: t, price: p, qty: q, time: T, takerSold: m };
}

/** Newest first, no duplicates, at most TRADES_SHOWN. */
function merged(trades: readonly PublicTrade[]): PublicTrade[] {
  const byId = new Map(trades.map((trade) => [trade.id, trade]));
  return [...byId.values()].sort((a, b) => b.id - a.id).slice(0, TRADES_SHOWN);
}

function useRecentTrades(symbol: string): PublicTrade[] {
  const services = useServices();
  const [trades, setTrades] = useState<PublicTrade[]>([]);
  useEffect(() => {
    let live = true;
    setTrades([]);
    const load = (): void => {
      services.api.publicGet<RestTrade[]>("/api/v3/trades", { symbol, limit: TRADES_SHOWN }).then((rows) => {
        if (!live) return;
        const loaded = rows.map((row) => ({ id: row.id, price: row.price, qty: row.qty, time: row.time,
          takerSold: row.isBuyerMaker }));
        setTrades((current) => merged([...current, ...loaded]));
      }).catch(() => undefined);
    };
    const stopStream = services.market.on(`${symbol.toLowerCase()}@trade`, (data) => {
      const trade = tradeFromStream(data);
      if (trade !== null) setTrades((current) => merged([trade, ...current]));
    });
    const stopReopen = services.market.onReopen(load);
    load();
    return () => {
      live = false;
      stopStream();
      stopReopen();
    };
  }, [services, symbol]);
  return trades;
}

function timeOf(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

/** The recent trades panel. */
export function RecentTradesPanel({ market }: { market: Market }): JSX.Element {
  const trades = useRecentTrades(market.symbol);
  return (
    <div data-testid="recent-trades" class="trade-trades">
      <Panel title="Recent trades">
        <table aria-label={`Recent trades of ${market.symbol}`}>
          <thead>
            <tr>
              <th scope="col">Price ({market.quoteAsset})</th>
              <th scope="col">Amount ({market.baseAsset})</th>
              <th scope="col">Time</th>
            </tr>
          </thead>
          <tbody>
            {trades.length === 0 ? <tr><td colSpan={3} class="muted">No trades yet</td></tr> : null}
            {trades.map((trade) => (
              <tr key={trade.id} data-testid="trade-row">
                <td class={`num ${trade.takerSold ? "down" : "up"}`}
                    title={trade.takerSold ? "Taker sold" : "Taker bought"}>
                  {priceText(market, trade.price)}
                </td>
                <td class="num">{quantityText(market, trade.qty)}</td>
                <td class="num muted">{timeOf(trade.time)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
