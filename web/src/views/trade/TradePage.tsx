/**
 * The trading screen of one market: market list, chart, order book, recent trades,
 * order form, this market's open orders and balances. Desktop: three columns of panels;
 * a phone (≤ 700 px): one column, the chart and the order form first.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { href } from "../../app/router";
import type { ListedMarket } from "../../lib/markets";
import { BalancesPanel, OpenOrdersPanel } from "./AccountPanels";
import { ChartPanel } from "./ChartPanel";
import { MarketListPanel } from "./MarketListPanel";
import { useMarketCatalog, useMarketWithFees } from "./marketData";
import { OrderBookPanel } from "./OrderBookPanel";
import { OrderFormPanel, type PickedPrice } from "./OrderFormPanel";
import { RecentTradesPanel } from "./RecentTradesPanel";
import "./trade.css";

function MarketScreen({ listed, current, orderTypes }: {
  listed: readonly ListedMarket[];
  current: ListedMarket;
  orderTypes: readonly string[];
}): JSX.Element {
  const market = useMarketWithFees(current.market) ?? current.market;
  const [picked, setPicked] = useState<PickedPrice | null>(null);
  const halted = current.status !== "TRADING";
  return (
    <div class="trade-page">
      <header class="trade-title">
        <h1>{market.baseAsset}/{market.quoteAsset}</h1>
        {halted ? <span class="halted-flag" role="status">Halted ({current.status})</span> : null}
      </header>
      <div class="trade-grid">
        <div class="trade-column trade-column-left">
          <MarketListPanel listed={listed} current={market.symbol} />
          <OrderBookPanel market={market} onPickPrice={(price) => setPicked({ price, at: Date.now() })} />
        </div>
        <div class="trade-column trade-column-middle">
          <ChartPanel market={market} />
          <OpenOrdersPanel market={market} />
        </div>
        <div class="trade-column trade-column-right">
          <OrderFormPanel market={market} orderTypes={orderTypes} picked={picked} halted={halted} />
          <BalancesPanel market={market} />
          <RecentTradesPanel market={market} />
        </div>
      </div>
    </div>
  );
}

/** The trade page of `symbol` (e.g. "BTCUSDT"). */
export function TradePage({ symbol }: { symbol: string }): JSX.Element {
  const answer = useMarketCatalog();
  if (answer === null) return <p role="status">Loading markets…</p>;
  if (answer.catalog === null) return <p role="alert">The markets could not be loaded: {answer.error}</p>;
  const { listed, orderTypes } = answer.catalog;
  const current = listed.find((entry) => entry.market.symbol === symbol);
  if (current === undefined) {
    const first = listed[0];
    return (
      <div class="trade-page">
        <p role="alert">There is no market {symbol}.{" "}
          {first === undefined ? "The exchange lists no markets yet."
            : <a href={href(`/trade/${first.market.symbol}`)}>Trade {first.market.symbol}</a>}
        </p>
        {listed.length > 0 ? <MarketListPanel listed={listed} current="" /> : null}
      </div>
    );
  }
  return <MarketScreen key={symbol} listed={listed} current={current} orderTypes={orderTypes[symbol] ?? []} />;
}
