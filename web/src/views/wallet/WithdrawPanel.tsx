/**
 * Withdraw: asset, address, amount (checked against the asset's scale and the available
 * balance before sending, as decimal text, never a float), and the two-factor code when
 * it is on. The request carries an Idempotency-Key that stays the same while the request
 * does, so a double click or a retry after a lost answer withdraws once. Below, the
 * withdrawals with their status.
 */
import type { JSX } from "preact";
import { useRef, useState } from "preact/hooks";
import { BALANCE_FIELD, TOTP_FIELD } from "../../lib/apiErrors";
import { useMe, useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, Panel, useAction } from "../common/forms";
import { TotpInput } from "../auth/TotpInput";
import { formatTime } from "./time";
import {
  intentFor,
  smallestAmount,
  statusWords,
  withdrawalAmountProblem,
  withdrawalFingerprint,
  type BalanceRow,
  type RequestIntent,
  type Withdrawal,
} from "./walletModel";

const SHOWN_FIELDS = ["asset", "address", "amount", BALANCE_FIELD, TOTP_FIELD];

/** The withdraw panel: the form over the withdrawal history. */
export function WithdrawPanel({ balances, withdrawals, onChanged }: {
  balances: BalanceRow[];
  withdrawals: Withdrawal[];
  /** Called after a withdrawal was requested, to read the wallet again. */
  onChanged: () => void;
}): JSX.Element {
  return (
    <Panel title="Withdraw">
      <WithdrawForm balances={balances} onChanged={onChanged} />
      <WithdrawalHistory withdrawals={withdrawals} />
    </Panel>
  );
}

function WithdrawForm({ balances, onChanged }: { balances: BalanceRow[]; onChanged: () => void }): JSX.Element {
  const services = useServices();
  const me = useMe();
  const [asset, setAsset] = useState(balances[0]?.asset ?? "");
  const [address, setAddress] = useState("");
  const [amount, setAmount] = useState("");
  const [code, setCode] = useState("");
  const [checked, setChecked] = useState(false);
  const [sent, setSent] = useState<Withdrawal | null>(null);
  const intent = useRef<RequestIntent | null>(null);
  const twoFactor = me?.totpEnabled === true;
  const balance = balances.find((row) => row.asset === asset);
  const scale = balance?.scale ?? 0;
  const amountError = checked && balance !== undefined ? withdrawalAmountProblem(amount, scale, balance.available) : null;
  const addressError = checked && address.trim() === "" ? "Enter the address to send to." : null;
  const action = useAction(async () => {
    intent.current = intentFor(intent.current, withdrawalFingerprint(asset, address, amount), () => crypto.randomUUID());
    const body = { asset, address: address.trim(), amount: amount.trim(), ...(twoFactor ? { totpCode: code.trim() } : {}) };
    setCode(""); // The server spends a code once it has seen it: a retry needs a new one.
    const created = await services.api.v1<Withdrawal>("POST", "/v1/withdrawals", body,
                                                      { "Idempotency-Key": intent.current.key });
    intent.current = null;
    setSent(created);
    setAmount("");
    setChecked(false);
    onChanged();
  });
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    setChecked(true);
    setSent(null);
    if (action.busy || balance === undefined || address.trim() === "" ||
        withdrawalAmountProblem(amount, scale, balance.available) !== null) return;
    void action.run();
  };
  return (
    <form class="withdraw-form" onSubmit={onSubmit} aria-label="Request a withdrawal" data-testid="withdraw-form" noValidate>
      <Field id="withdraw-asset" label="Asset" error={errorFor(action.problem, "asset")}>
        {(describedBy, invalid) => (
          <select id="withdraw-asset" value={asset} onChange={(e) => setAsset(e.currentTarget.value)}
                  aria-describedby={describedBy} aria-invalid={invalid}>
            {balances.map((row) => <option key={row.asset} value={row.asset}>{row.asset}</option>)}
          </select>
        )}
      </Field>
      <Field id="withdraw-address" label="Destination address" error={addressError ?? errorFor(action.problem, "address")}>
        {(describedBy, invalid) => (
          <input id="withdraw-address" autocomplete="off" spellcheck={false} required value={address}
                 onInput={(e) => setAddress(e.currentTarget.value)}
                 aria-describedby={describedBy} aria-invalid={invalid} />
        )}
      </Field>
      <Field id="withdraw-amount" label={`Amount${asset === "" ? "" : ` (${asset})`}`}
             {...(balance === undefined ? {} : { hint: amountHint(balance) })}
             error={amountError ?? errorFor(action.problem, "amount", BALANCE_FIELD)}>
        {(describedBy, invalid) => (
          <div class="amount-line">
            <input id="withdraw-amount" inputMode="decimal" autocomplete="off" required value={amount}
                   onInput={(e) => setAmount(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
            <button type="button" class="ghost" disabled={balance === undefined}
                    onClick={() => setAmount(balance?.available ?? "")}
                    aria-label={`Max: withdraw all available ${asset}`}>Max</button>
          </div>
        )}
      </Field>
      {twoFactor
        ? <TotpInput id="withdraw-code" value={code} onInput={setCode} error={errorFor(action.problem, TOTP_FIELD)} />
        : null}
      <FormError message={formError(action.problem, SHOWN_FIELDS) ?? action.failure} />
      <button type="submit" disabled={action.busy}>{action.busy ? "Requesting…" : "Request withdrawal"}</button>
      <p class="hint">The amount is locked at once; an operator approves the withdrawal before it is sent.</p>
      {sent === null ? null : (
        <p class="notice" role="status" data-testid="withdrawal-requested">
          Withdrawal of {sent.amount} {sent.asset} requested: {statusWords(sent.status)}.
        </p>
      )}
    </form>
  );
}

function WithdrawalHistory({ withdrawals }: { withdrawals: Withdrawal[] }): JSX.Element {
  return (
    <table class="wallet-history" data-testid="withdrawal-history">
      <caption>Withdrawal history</caption>
      <thead>
        <tr><th scope="col">Requested</th><th scope="col">Asset</th><th scope="col">Amount</th>
          <th scope="col">Address</th><th scope="col">Status</th><th scope="col">Decided</th></tr>
      </thead>
      <tbody>
        {withdrawals.length === 0
          ? <tr><td colSpan={6} class="muted wallet-empty">No withdrawals yet.</td></tr>
          : withdrawals.map((withdrawal) => (
              <tr key={withdrawal.id} data-testid="withdrawal-row" data-status={withdrawal.status}>
                <td>{formatTime(withdrawal.requestedAt)}</td>
                <td>{withdrawal.asset}</td>
                <td class="num">{withdrawal.amount}</td>
                <td class="num wallet-address" title={withdrawal.address}>{withdrawal.address}</td>
                <td class={`withdrawal-status withdrawal-status-${withdrawal.status.toLowerCase()}`} data-testid="withdrawal-status"
                    title={statusWords(withdrawal.status)}>{statusLabel(withdrawal.status)}</td>
                <td>{formatTime(withdrawal.decidedAt)}</td>
              </tr>
            ))}
      </tbody>
    </table>
  );
}

function amountHint(balance: BalanceRow): string {
  return `Available: ${balance.available} ${balance.asset}. Up to ${balance.scale} decimal places (smallest ${smallestAmount(balance.scale)}).`;
}

/** The status's first word ("Approved"), the full sentence being its title. */
function statusLabel(status: string): string {
  return statusWords(status).split(":")[0] ?? status;
}
