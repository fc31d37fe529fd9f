/**
 * Deposits: crediting one to a user (how the demo and the end-to-end test fund accounts;
 * once per transaction id), and the credits above an asset's four-eyes threshold that
 * await a second admin's approval. Both are money actions: step-up.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { Field, FormError, formError, Panel } from "../common/forms";
import {
  apiFieldError,
  AWAITING_SECOND_ADMIN,
  depositBody,
  formatTime,
  mergeOlder,
  pageQuery,
  type AdminPageAnswer,
  type DepositCreditBody,
  type DepositFormText,
  type FieldErrors,
  type PendingCredit,
} from "./adminForms";
import { StepUpPrompt, useMoneyAction } from "./stepUp";
import { useLoad, type Loaded } from "./useLoad";

const PAGE_SIZE = 100;

/** A credited deposit (presenters.py `deposit`). */
interface CreditedDeposit {
  id: number;
  asset: string;
  amount: string;
  txid: string;
  createdAt: number | null;
}

/** A fresh transaction id for a manual credit; the operator may type the chain's own. */
function manualTxid(): string {
  return `manual-${Date.now()}`;
}

function emptyDepositForm(): DepositFormText {
  return { userId: "", asset: "", amount: "", txid: manualTxid() };
}

const DEPOSIT_INPUTS: readonly { field: keyof DepositFormText; label: string; hint: string; mode: "numeric" | "text" | "decimal" }[] = [
  { field: "userId", label: "User id", hint: "The account's number, as in the audit log", mode: "numeric" },
  { field: "asset", label: "Asset", hint: "Like USDT", mode: "text" },
  { field: "amount", label: "Amount", hint: "A decimal, like 1000.50", mode: "decimal" },
  { field: "txid", label: "Transaction id", hint: "Credited once per id: a repeat credits nothing", mode: "text" },
];

/** The operator's deposits screen. */
export function DepositsSection(): JSX.Element {
  const services = useServices();
  const pending = useLoad(() => services.api.v1<AdminPageAnswer<PendingCredit>>("GET",
    `/v1/admin/deposits/pending?${new URLSearchParams(pageQuery(PAGE_SIZE, null))}`));
  return (
    <div class="admin-section" data-testid="admin-deposits">
      <CreditForm onPending={pending.reload} />
      <Panel title="Credits awaiting a second admin"
             actions={<button type="button" class="ghost" onClick={pending.reload}>Refresh</button>}>
        <PendingCredits pending={pending} />
      </Panel>
    </div>
  );
}

function CreditForm({ onPending }: { onPending: () => void }): JSX.Element {
  const services = useServices();
  const [form, setForm] = useState(emptyDepositForm);
  const [checked, setChecked] = useState<FieldErrors>({});
  const [notice, setNotice] = useState<string | null>(null);
  const credit = useMoneyAction(async (body: DepositCreditBody) => {
    const answer = await services.api.v1<CreditedDeposit | PendingCredit>("POST", "/v1/admin/deposits", body);
    const credited = `${answer.amount} ${answer.asset} to user ${body.userId}`;
    if ("state" in answer && answer.state === AWAITING_SECOND_ADMIN) {
      setNotice(`Credit of ${credited} is above the asset's threshold: it awaits a second admin (request #${answer.id}).`);
      onPending();
    } else {
      setNotice(`Credited ${credited} (deposit #${answer.id}, txid ${answer.txid}).`);
    }
    setForm(emptyDepositForm());
  });
  const shown = DEPOSIT_INPUTS.map((input) => input.field);
  return (
    <Panel title="Credit a deposit">
      <form noValidate aria-label="Credit a deposit" data-testid="admin-deposit-form" onSubmit={(event) => {
        event.preventDefault();
        setNotice(null);
        const body = depositBody(form, undefined);
        setChecked(body.ok ? {} : body.errors);
        if (body.ok) void credit.run(body.value);
      }}>
        <div class="admin-form-grid">
          {DEPOSIT_INPUTS.map(({ field, label, hint, mode }) => {
            const id = `deposit-${field}`;
            return (
              <Field key={field} id={id} label={label} hint={hint}
                     error={checked[field] ?? apiFieldError(credit.problem, field, label.toLowerCase())}>
                {(describedBy, invalid) => (
                  <input id={id} value={form[field]} inputMode={mode} autoComplete="off" spellcheck={false}
                         aria-describedby={describedBy} aria-invalid={invalid}
                         onInput={(event) => setForm({ ...form, [field]: event.currentTarget.value })} />
                )}
              </Field>
            );
          })}
        </div>
        <FormError message={formError(credit.problem, shown) ?? credit.failure} />
        <button type="submit" disabled={credit.busy}>Credit deposit</button>
      </form>
      <StepUpPrompt action={credit} id="deposit"
                    what={credit.awaitingCode === null ? "credit the deposit"
                      : `credit ${credit.awaitingCode.amount} ${credit.awaitingCode.asset} to user ${credit.awaitingCode.userId}`} />
      {notice === null ? null : <p class="notice" role="status" data-testid="admin-deposit-notice">{notice}</p>}
    </Panel>
  );
}

function PendingCredits({ pending }: { pending: Loaded<AdminPageAnswer<PendingCredit>> }): JSX.Element {
  const services = useServices();
  const [notice, setNotice] = useState<string | null>(null);
  const approve = useMoneyAction(async (request: PendingCredit) => {
    const answer = await services.api.v1<CreditedDeposit>("POST", `/v1/admin/deposits/${request.id}/approve`);
    const page = pending.data;
    if (page !== null) pending.set({ ...page, items: page.items.filter((item) => item.id !== request.id) });
    setNotice(`Credited ${answer.amount} ${answer.asset} to user ${request.userId} (deposit #${answer.id}).`);
  });
  const loadOlder = async (): Promise<void> => {
    const page = pending.data;
    if (page === null || page.nextBeforeId === null) return;
    const older = await services.api.v1<AdminPageAnswer<PendingCredit>>("GET",
      `/v1/admin/deposits/pending?${new URLSearchParams(pageQuery(PAGE_SIZE, page.nextBeforeId))}`);
    pending.set({ items: mergeOlder(page.items, older.items), nextBeforeId: older.nextBeforeId });
  };
  const rows = pending.data?.items ?? [];
  return (
    <>
      {notice === null ? null : <p class="notice" role="status">{notice}</p>}
      <FormError message={pending.error ?? formError(approve.problem, []) ?? approve.failure} />
      {pending.data === null && pending.loading ? <p class="muted">Loading…</p> : null}
      {pending.data !== null && rows.length === 0 ? <p class="muted">No credit awaits a second admin.</p> : null}
      {rows.length === 0 ? null : (
        <table class="admin-table" aria-label="Credits awaiting a second admin">
          <thead>
            <tr><th scope="col">Request</th><th scope="col">User</th><th scope="col">Amount</th>
              <th scope="col" class="text">Txid</th><th scope="col">Requested by</th><th scope="col">Requested</th>
              <th scope="col"><span class="visually-hidden">Decision</span></th></tr>
          </thead>
          <tbody>
            {rows.map((request) => (
              <tr key={request.id} data-testid="admin-pending-deposit-row">
                <th scope="row">#{request.id}</th>
                <td class="num">{request.userId}</td>
                <td class="num">{request.amount} {request.asset}</td>
                <td class="admin-address" title={request.txid}>{request.txid}</td>
                <td class="num">{request.requestedBy}</td>
                <td>{formatTime(request.requestedAt)}</td>
                <td>
                  <div class="admin-actions">
                    <button type="button" class="buy" disabled={approve.busy || approve.awaitingCode !== null}
                            aria-label={`Approve credit #${request.id}`}
                            onClick={() => void approve.run(request)}>Approve</button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pending.data?.nextBeforeId == null ? null
        : <button type="button" class="ghost" onClick={() => void loadOlder()}>Load older</button>}
      <StepUpPrompt action={approve} id="credit-approval"
                    what={approve.awaitingCode === null ? "approve the credit"
                      : `approve credit #${approve.awaitingCode.id}`} />
    </>
  );
}
