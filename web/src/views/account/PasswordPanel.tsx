/**
 * Change password: the current one, the new one (with the server's rule) and its
 * confirmation. The server then ends every session of the account, this one included:
 * without two-factor the page logs in again with the new password; with it, it asks the
 * user to log in again, and says so either way.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { ErrorCodes } from "../../lib/apiErrors";
import { ApiFailure } from "../../app/api";
import { navigate } from "../../app/router";
import { useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, Panel, useAction } from "../common/forms";
import { confirmationProblem, PASSWORD_HINT, passwordProblem } from "../auth/passwordPolicy";

type Outcome = "kept-signed-in" | "log-in-again";

const SHOWN_FIELDS = ["currentPassword", "password", "newPassword"];

/** The change-password panel of the account page. */
export function PasswordPanel(): JSX.Element {
  const services = useServices();
  const [current, setCurrent] = useState("");
  const [fresh, setFresh] = useState("");
  const [confirmation, setConfirmation] = useState("");
  const [checked, setChecked] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const freshError = checked ? passwordProblem(fresh) : null;
  const confirmationError = checked ? confirmationProblem(fresh, confirmation) : null;
  const action = useAction(async () => {
    const me = services.me;
    await services.api.v1("POST", "/v1/auth/password", { currentPassword: current, newPassword: fresh });
    setCurrent("");
    setFresh("");
    setConfirmation("");
    setChecked(false);
    setOutcome(me === null || me.totpEnabled ? "log-in-again" : await logInAgain(() => services.logIn(me.email, fresh)));
  });
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    setChecked(true);
    setOutcome(null);
    if (passwordProblem(fresh) !== null || confirmationProblem(fresh, confirmation) !== null) return;
    void action.run();
  };
  return (
    <Panel title="Password">
      <form onSubmit={onSubmit} aria-label="Change password" data-testid="change-password" noValidate>
        <Field id="password-current" label="Current password" error={errorFor(action.problem, "currentPassword")}>
          {(describedBy, invalid) => (
            <input id="password-current" type="password" autocomplete="current-password" required
                   value={current} onInput={(e) => setCurrent(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <Field id="password-new" label="New password" hint={PASSWORD_HINT}
               error={freshError ?? errorFor(action.problem, "password", "newPassword")}>
          {(describedBy, invalid) => (
            <input id="password-new" type="password" autocomplete="new-password" required
                   value={fresh} onInput={(e) => setFresh(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <Field id="password-confirm" label="Confirm new password" error={confirmationError}>
          {(describedBy, invalid) => (
            <input id="password-confirm" type="password" autocomplete="new-password" required
                   value={confirmation} onInput={(e) => setConfirmation(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <FormError message={formError(action.problem, SHOWN_FIELDS) ?? action.failure} />
        <button type="submit" disabled={action.busy}>Change password</button>
        <p class="hint">Changing it logs out every device and browser where this account is open.</p>
      </form>
      {outcome === null ? null : <PasswordChanged outcome={outcome} />}
    </Panel>
  );
}

/** Logs in with the new password; "log-in-again" when the server wants a two-factor code. */
async function logInAgain(logIn: () => Promise<unknown>): Promise<Outcome> {
  try {
    await logIn();
    return "kept-signed-in";
  } catch (error) {
    if (error instanceof ApiFailure && error.problem.code === ErrorCodes.TOTP_REQUIRED) return "log-in-again";
    throw error;
  }
}

function PasswordChanged({ outcome }: { outcome: Outcome }): JSX.Element {
  const services = useServices();
  if (outcome === "kept-signed-in") {
    return (
      <p class="notice" role="status" data-testid="password-changed">
        Password changed. Every other session of this account (other devices and browsers) was logged out; this one stays logged in.
      </p>
    );
  }
  return (
    <div role="status" data-testid="password-changed">
      <p class="notice">Password changed. Every session of this account was logged out, this one too: log in again with the new password and a two-factor code.</p>
      <button type="button" onClick={() => {
        services.session.logout();
        navigate(`/login/${encodeURIComponent("/account")}`);
      }}>Log in again</button>
    </div>
  );
}
