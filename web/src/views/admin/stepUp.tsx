/**
 * Money actions (deposit credits, withdrawal decisions, four-eyes thresholds) need the
 * session to have stepped up with a two-factor code recently (auth.py `require_step_up`,
 * for `stepUpExpiresIn` seconds). `useMoneyAction` runs one: when this tab knows of no
 * step-up still valid it asks for the code first; when the API refuses the action for
 * lack of a step-up all the same (the step-up expired, another tab logged in) it keeps
 * the input. Either way `StepUpPrompt` asks for the code in place, steps up
 * (POST /v1/auth/step-up) and then sends the action, retrying a refused one once.
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiFailure } from "../../app/api";
import { useServices } from "../../app/services";
import { TOTP_FIELD, type ApiProblem } from "../../lib/apiErrors";
import { errorFor, Field, FormError, formError, useAction, type Action } from "../common/forms";
import { needsStepUp, stepUpValidUntil } from "./adminForms";

/** Until when (ms) this tab's session is known to be stepped up; 0 when it is not. */
let steppedUpUntil = 0;

/** A money action: `run` it; `awaitingCode` while the prompt asks for a step-up. `run`
 * is true once the action succeeded, false when it failed or waits for the code. */
export interface MoneyAction<T> {
  busy: boolean;
  /** The last refusal, except the step-up one the prompt is answering. */
  problem: ApiProblem | null;
  failure: string | null;
  /** The input waiting for the step-up, or null. */
  awaitingCode: T | null;
  run: (input: T) => Promise<boolean>;
  /** Steps up with `code`, then retries the waiting input once. */
  stepUp: Action<[string]>;
  cancelStepUp: () => void;
}

/** `submit` as a money action; it updates the screen itself once the API accepted it.
 * Inputs are checked before `run`: the code is asked for only for a sendable action. */
export function useMoneyAction<T>(submit: (input: T) => Promise<void>): MoneyAction<T> {
  const services = useServices();
  const [waiting, setWaiting] = useState<{ input: T } | null>(null);
  useEffect(() => services.session.onSignOut(() => {
    steppedUpUntil = 0;
  }), [services]);
  const attempt = useAction(async (input: T, isRetry: boolean) => {
    try {
      await submit(input);
    } catch (error) {
      if (error instanceof ApiFailure && needsStepUp(error.problem)) {
        steppedUpUntil = 0;
        if (!isRetry) setWaiting({ input });
      }
      throw error;
    }
  });
  const stepUp = useAction(async (code: string) => {
    if (waiting === null) return;
    const answer = await services.api.v1<{ stepUpExpiresIn: number }>("POST", "/v1/auth/step-up",
      { totpCode: code });
    steppedUpUntil = stepUpValidUntil(Date.now(), answer.stepUpExpiresIn);
    setWaiting(null);
    await attempt.run(waiting.input, true);
  });
  const run = async (input: T): Promise<boolean> => {
    if (Date.now() < steppedUpUntil) return attempt.run(input, false);
    attempt.clear();
    stepUp.clear();
    setWaiting({ input });
    return false;
  };
  return {
    busy: attempt.busy || stepUp.busy,
    problem: waiting === null ? attempt.problem : null,
    failure: attempt.failure,
    awaitingCode: waiting === null ? null : waiting.input,
    run,
    stepUp,
    cancelStepUp: () => {
      setWaiting(null);
      stepUp.clear();
      attempt.clear();
    },
  };
}

/** Asks for the two-factor code of a money action refused for lack of a step-up; renders
 * nothing otherwise. `id` makes its input's id unique on the page; `what` says what the
 * code confirms ("credit 100 USDT to user 7"). Escape cancels. */
export function StepUpPrompt<T>({ action, id, what }: {
  action: MoneyAction<T>;
  id: string;
  what: string;
}): JSX.Element | null {
  const [code, setCode] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const open = action.awaitingCode !== null;
  useEffect(() => {
    if (open) {
      setCode("");
      input.current?.focus();
    }
  }, [open]);
  if (!open) return null;
  const inputId = `${id}-step-up-code`;
  const codeError = errorFor(action.stepUp.problem, TOTP_FIELD, "totpCode");
  return (
    <form class="step-up" aria-label="Two-factor step-up" data-testid="admin-step-up"
          onSubmit={(event) => {
            event.preventDefault();
            void action.stepUp.run(code.trim());
          }}
          onKeyDown={(event) => {
            if (event.key === "Escape") action.cancelStepUp();
          }}>
      <p>Money actions need a recent two-factor check. Enter the code from your
        authenticator app to {what}.</p>
      <Field id={inputId} label="Two-factor code" error={codeError}>
        {(describedBy, invalid) => (
          <input id={inputId} ref={input} value={code} inputMode="numeric"
                 autoComplete="one-time-code" pattern="[0-9]*" maxLength={10} required
                 aria-describedby={describedBy} aria-invalid={invalid}
                 onInput={(event) => setCode(event.currentTarget.value)} />
        )}
      </Field>
      <FormError message={formError(action.stepUp.problem, [TOTP_FIELD, "totpCode"]) ?? action.stepUp.failure} />
      <div class="admin-buttons">
        <button type="submit" disabled={action.busy}>Confirm with code</button>
        <button type="button" class="ghost" onClick={action.cancelStepUp}>Cancel</button>
      </div>
    </form>
  );
}
