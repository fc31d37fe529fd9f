/** The balances table: available, locked (in open orders and pending withdrawals), total. */
import type { JSX } from "preact";
import type { BalanceRow } from "./walletModel";

/** Every known asset's balance at the asset's scale. */
export function BalancesTable({ rows }: { rows: BalanceRow[] }): JSX.Element {
  return (
    <table class="wallet-balances-table" data-testid="wallet-balances">
      <caption>Balances: locked is held by open orders and pending withdrawals</caption>
      <thead>
        <tr><th scope="col">Asset</th><th scope="col">Available</th><th scope="col">Locked</th><th scope="col">Total</th></tr>
      </thead>
      <tbody>
        {rows.map((row) => (
          <tr key={row.asset} data-testid={`wallet-balance-${row.asset}`}>
            <th scope="row">{row.asset}</th>
            <td class="num" data-testid="balance-available">{row.available}</td>
            <td class="num" data-testid="balance-locked">{row.locked}</td>
            <td class="num" data-testid="balance-total">{row.total}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
