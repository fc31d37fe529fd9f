/**
 * The market list: every market's last price and 24 h change, from the REST snapshot
 * (`GET /api/v3/ticker/24hr`) and then live from `!miniTicker@arr`. A row opens its
 * market; halted markets are flagged.
 */
import type { JSX } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { href, navigate } from "../../app/router";
import { useServices } from "../../app/services";
import { MarketList, type ListedMarket, type MarketRow } from "../../lib/markets";
import type { Market } from "../../lib/orderForm";
import { Panel } from "../common/forms";
import { changeDirection, priceText } from "./tradeLogic";

/** The live rows of the market list. */
function useMarketRows(listed: readonly ListedMarket[]): MarketRow[] {
  const services = useServices();
  const list = useMemo(() => new MarketList(listed), [listed]);
  const [rows, setRows] = useState(() => list.rows());
  useEffect(() => {
    const refresh = (): void => setRows(list.rows());
    refresh();
    let live = true;
    services.api.publicGet<unknown>("/api/v3/ticker/24hr").then((answer) => {
      if (!live) return;
      list.applySnapshot(answer);
      refresh();
    }).catch(() => undefined);
    const stop = services.market.on("!miniTicker@arr", (data) => {
      try {
        list.applyEvent(data);
      } catch {
        return;
      }
      refresh();
    });
    return () => {
      live = false;
      stop();
    };
  }, [services, list]);
  return rows;
}

function MarketRowView({ row, market, current }: { row: MarketRow; market: Market | undefined; current: boolean }): JSX.Element {
  const direction = changeDirection(row.priceChangePercent);
  const open = (): void => navigate(`/trade/${row.symbol}`);
  return (
    <tr data-testid={`market-row-${row.symbol}`} class={`market-row${current ? " current" : ""}`}
        onClick={open} aria-current={current ? "true" : undefined}>
      <td>
        <a href={href(`/trade/${row.symbol}`)} onClick={(event) => event.stopPropagation()}>{row.symbol}</a>
        {row.halted ? <span class="halted-flag" title={`Status: ${row.status}`}> Halted</span> : null}
      </td>
      <td class="num">{row.lastPrice === null ? "–" : market === undefined ? row.lastPrice : priceText(market, row.lastPrice)}</td>
      <td class={`num ${direction}`}>
        {row.priceChangePercent === null ? "–" : `${direction === "up" ? "+" : ""}${row.priceChangePercent} %`}
      </td>
    </tr>
  );
}

/** The market list panel. */
export function MarketListPanel({ listed, current }: { listed: readonly ListedMarket[]; current: string }): JSX.Element {
  const rows = useMarketRows(listed);
  const markets = new Map(listed.map(({ market }) => [market.symbol, market]));
  return (
    <div data-testid="market-list" class="trade-markets">
      <Panel title="Markets">
        <table aria-label="Markets">
          <thead>
            <tr><th scope="col">Market</th><th scope="col">Last price</th><th scope="col">24 h</th></tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <MarketRowView key={row.symbol} row={row} market={markets.get(row.symbol)}
                             current={row.symbol === current} />
            ))}
          </tbody>
        </table>
      </Panel>
    </div>
  );
}
