/**
 * Pending withdrawals: approve (the payout goes out; above the asset's four-eyes threshold
 * a first approval waits for a second admin) or reject (the funds return to the user's
 * balance, after a confirmation). Both are money actions: step-up.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { FormError, formError, Panel } from "../common/forms";
import {
  afterDecision,
  AWAITING_SECOND_ADMIN,
  formatTime,
  mergeOlder,
  pageQuery,
  type AdminPageAnswer,
  type AdminWithdrawal,
} from "./adminForms";
import { StepUpPrompt, useMoneyAction } from "./stepUp";
import { useLoad } from "./useLoad";

const PAGE_SIZE = 100;

type Decision = "approve" | "reject";

interface DecisionInput {
  withdrawal: AdminWithdrawal;
  decision: Decision;
}

function decisionWords({ withdrawal, decision }: DecisionInput): string {
  return `${decision} withdrawal #${withdrawal.id} of ${withdrawal.amount} ${withdrawal.asset}`;
}

/** The operator's pending withdrawals screen. */
export function WithdrawalsSection(): JSX.Element {
  const services = useServices();
  const pending = useLoad(() => services.api.v1<AdminPageAnswer<AdminWithdrawal>>("GET",
    `/v1/admin/withdrawals/pending?${new URLSearchParams(pageQuery(PAGE_SIZE, null))}`));
  const [notice, setNotice] = useState<string | null>(null);
  const [rejecting, setRejecting] = useState<number | null>(null);
  const decide = useMoneyAction(async (input: DecisionInput) => {
    const answer = await services.api.v1<AdminWithdrawal>("POST",
      `/v1/admin/withdrawals/${input.withdrawal.id}/${input.decision}`);
    const page = pending.data;
    if (page !== null) pending.set({ ...page, items: afterDecision(page.items, answer) });
    setRejecting(null);
    setNotice(answer.status === "PENDING"
      ? `Withdrawal #${answer.id} approved once: it awaits a second admin's approval.`
      : `Withdrawal #${answer.id} ${answer.status === "REJECTED" ? "rejected: the funds are back in the user's balance" : "approved"}.`);
  });
  const loadOlder = async (): Promise<void> => {
    const page = pending.data;
    if (page === null || page.nextBeforeId === null) return;
    const older = await services.api.v1<AdminPageAnswer<AdminWithdrawal>>("GET",
      `/v1/admin/withdrawals/pending?${new URLSearchParams(pageQuery(PAGE_SIZE, page.nextBeforeId))}`);
    pending.set({ items: mergeOlder(page.items, older.items), nextBeforeId: older.nextBeforeId });
  };
  const rows = pending.data?.items ?? [];
  return (
    <div class="admin-section" data-testid="admin-withdrawals">
      <Panel title="Pending withdrawals"
             actions={<button type="button" class="ghost" onClick={pending.reload}>Refresh</button>}>
        {notice === null ? null : <p class="notice" role="status">{notice}</p>}
        <FormError message={pending.error ?? formError(decide.problem, []) ?? decide.failure} />
        {pending.data === null && pending.loading ? <p class="muted">Loading withdrawals…</p> : null}
        {pending.data !== null && rows.length === 0 ? <p class="muted">No withdrawal awaits a decision.</p> : null}
        {rows.length === 0 ? null : (
          <table class="admin-table" aria-label="Pending withdrawals">
            <thead>
              <tr><th scope="col">Id</th><th scope="col">User</th><th scope="col">Amount</th>
                <th scope="col" class="text">Address</th><th scope="col">Requested</th>
                <th scope="col"><span class="visually-hidden">Decision</span></th></tr>
            </thead>
            <tbody>
              {rows.map((withdrawal) => (
                <WithdrawalRow key={withdrawal.id} withdrawal={withdrawal}
                               busy={decide.busy || decide.awaitingCode !== null}
                               rejecting={rejecting === withdrawal.id}
                               onDecide={(decision) => void decide.run({ withdrawal, decision })}
                               onAskReject={(asking) => setRejecting(asking ? withdrawal.id : null)} />
              ))}
            </tbody>
          </table>
        )}
        {pending.data?.nextBeforeId == null ? null
          : <button type="button" class="ghost" onClick={() => void loadOlder()}>Load older</button>}
        <StepUpPrompt action={decide} id="withdrawal"
                      what={decide.awaitingCode === null ? "decide" : decisionWords(decide.awaitingCode)} />
      </Panel>
    </div>
  );
}

function WithdrawalRow({ withdrawal, busy, rejecting, onDecide, onAskReject }: {
  withdrawal: AdminWithdrawal;
  busy: boolean;
  rejecting: boolean;
  onDecide: (decision: Decision) => void;
  onAskReject: (asking: boolean) => void;
}): JSX.Element {
  const awaiting = withdrawal.state === AWAITING_SECOND_ADMIN;
  const label = `withdrawal #${withdrawal.id}`;
  return (
    <tr data-testid="admin-withdrawal-row" data-id={withdrawal.id}>
      <th scope="row">#{withdrawal.id}</th>
      <td class="num">{withdrawal.userId}</td>
      <td class="num">{withdrawal.amount} {withdrawal.asset}</td>
      <td class="admin-address" title={withdrawal.address}>{withdrawal.address}</td>
      <td>{formatTime(withdrawal.requestedAt)}
        {awaiting ? <><br /><span class="status status-wait">Awaits a second admin (first: #{withdrawal.firstApprovedBy})</span></> : null}
      </td>
      <td>
        <div class="admin-actions">
          {rejecting
            ? <span class="admin-confirm" role="group" aria-label={`Confirm: reject ${label}`}
                    onKeyDown={(event) => {
                      if (event.key === "Escape") onAskReject(false);
                    }}>
                <span>Reject and return the funds?</span>
                <button type="button" class="danger" disabled={busy} autoFocus
                        onClick={() => onDecide("reject")}>Confirm reject</button>
                <button type="button" class="ghost" onClick={() => onAskReject(false)}>Cancel</button>
              </span>
            : <>
                <button type="button" class="buy" disabled={busy} onClick={() => onDecide("approve")}
                        aria-label={`Approve ${label}`}>Approve</button>
                <button type="button" class="danger" disabled={busy} onClick={() => onAskReject(true)}
                        aria-label={`Reject ${label}`}>Reject</button>
              </>}
        </div>
      </td>
    </tr>
  );
}
