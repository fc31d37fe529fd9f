/**
 * The wallet (#/wallet): balances with available and locked, deposit (address and
 * history) and withdraw (request with two-factor, and history). Read from /v1 on open,
 * after each action, and every few seconds while shown.
 */
import type { JSX } from "preact";
import { FormError, formError, Panel } from "../common/forms";
import { BalancesTable } from "./BalancesTable";
import { DepositPanel } from "./DepositPanel";
import { useWalletData } from "./useWalletData";
import { WithdrawPanel } from "./WithdrawPanel";
import "./wallet.css";

/** The signed-in user's wallet. */
export function WalletPage(): JSX.Element {
  const { data, loading, reload } = useWalletData();
  const refresh = (
    <button type="button" class="ghost" onClick={reload} disabled={loading.busy}>
      {loading.busy ? "Refreshing…" : "Refresh"}
    </button>
  );
  return (
    <div class="wallet-page" data-testid="wallet-page">
      <h1>Wallet</h1>
      <FormError message={formError(loading.problem, []) ?? loading.failure} />
      {data === null
        ? (loading.busy ? <p class="muted">Loading your wallet…</p> : null)
        : (
          <>
            <Panel title="Balances" actions={refresh}>
              <BalancesTable rows={data.balances} />
            </Panel>
            <div class="page-grid">
              <DepositPanel assets={data.balances.map((row) => row.asset)} deposits={data.deposits} />
              <WithdrawPanel balances={data.balances} withdrawals={data.withdrawals} onChanged={reload} />
            </div>
          </>
        )}
    </div>
  );
}
