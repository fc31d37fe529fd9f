/**
 * The signed-in trader's part of the trade page: this market's open orders and the
 * balances of its two assets (available and locked), live from the account state.
 */
import type { JSX } from "preact";
import { href } from "../../app/router";
import { useMe } from "../../app/services";
import type { Market } from "../../lib/orderForm";
import type { ConnectionState } from "../../lib/streamConnection";
import { Panel } from "../common/forms";
import { useAccountState, useAccountStatus } from "../account-state/useAccountState";
import { OpenOrdersTable } from "./OpenOrdersTable";
import { shown } from "./tradeLogic";

const STREAM_WORDS: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

/** The user data stream's state, and why the account could not be loaded. */
export function AccountStreamBadge(): JSX.Element | null {
  const status = useAccountStatus();
  if (status === null) return null;
  return (
    <span class="account-stream">
      <span data-testid="user-stream-state" class={`connection connection-${status.stream}`}
            title="Your orders and balances stream">
        <span class="visually-hidden">Your account updates: </span>{STREAM_WORDS[status.stream]}
      </span>
      {status.loadError === null ? null : <span class="error" role="alert"> {status.loadError}</span>}
    </span>
  );
}

/** This market's open orders. */
export function OpenOrdersPanel({ market }: { market: Market }): JSX.Element {
  const account = useAccountState();
  const me = useMe();
  return (
    <div data-testid="open-orders" class="trade-open-orders">
      <Panel title="Open orders" actions={<AccountStreamBadge />}>
        {me === null || account === null
          ? <p class="muted"><a href={href("/login")}>Log in</a> to see your orders.</p>
          : <OpenOrdersTable orders={account.openOrders(market.symbol)}
                             markets={new Map([[market.symbol, market]])} showSymbol={false}
                             label={`Open orders of ${market.symbol}`} />}
      </Panel>
    </div>
  );
}

/** The balances of the market's two assets. */
export function BalancesPanel({ market }: { market: Market }): JSX.Element {
  const account = useAccountState();
  return (
    <div data-testid="balances" class="trade-balances">
      <Panel title="Balances">
        {account === null ? <p class="muted">Log in to see your balances.</p> : (
          <table aria-label={`Balances of ${market.baseAsset} and ${market.quoteAsset}`}>
            <thead>
              <tr><th scope="col">Asset</th><th scope="col">Available</th><th scope="col">Locked</th></tr>
            </thead>
            <tbody>
              {[[market.baseAsset, market.baseScale] as const, [market.quoteAsset, market.quoteScale] as const]
                .map(([asset, scale]) => {
                  const balance = account.balance(asset);
                  return (
                    <tr key={asset} data-testid={`balance-${asset}`}>
                      <td>{asset}</td>
                      <td class="num" data-testid={`balance-${asset}-free`}>{shown(balance?.free ?? "0", scale)}</td>
                      <td class="num" data-testid={`balance-${asset}-locked`}>{shown(balance?.locked ?? "0", scale)}</td>
                    </tr>
                  );
                })}
            </tbody>
          </table>
        )}
      </Panel>
    </div>
  );
}
