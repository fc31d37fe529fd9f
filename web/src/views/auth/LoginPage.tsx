/**
 * Log in (#/login/<next>): email and password, then, for an account with two-factor on,
 * the code from the authenticator app (asked for when the server answers that one is
 * required). Refusals are shown next to their field; a lockout says how long to wait.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { ErrorCodes, TOTP_FIELD } from "../../lib/apiErrors";
import { ApiFailure } from "../../app/api";
import { href, navigate } from "../../app/router";
import { useMe, useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, useAction } from "../common/forms";
import { TotpInput } from "./TotpInput";
import "./auth.css";

const SHOWN_FIELDS = ["email", "password", TOTP_FIELD];

/** The login screen; goes to `next` (a route such as "/orders") once logged in. */
export function LoginPage({ next }: { next: string }): JSX.Element {
  const services = useServices();
  const me = useMe();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [codeNeeded, setCodeNeeded] = useState(false);
  const action = useAction(async () => {
    try {
      await services.logIn(email.trim(), password, codeNeeded ? code.trim() : undefined);
    } catch (error) {
      if (isCodeRequest(error)) setCodeNeeded(true);
      setCode("");
      throw error;
    }
    navigate(next);
  });
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    void action.run();
  };
  return (
    <div class="auth-screen">
      <h1>Log in</h1>
      {me === null ? null : <p class="muted">You are logged in as {me.email}. <a href={href(next)}>Continue</a></p>}
      <form class="auth-form narrow" onSubmit={onSubmit} aria-label="Log in" data-testid="login-form" noValidate>
        <Field id="login-email" label="Email" error={errorFor(action.problem, "email")}>
          {(describedBy, invalid) => (
            <input id="login-email" type="email" name="email" autocomplete="username" required
                   value={email} onInput={(e) => setEmail(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <Field id="login-password" label="Password" error={errorFor(action.problem, "password")}>
          {(describedBy, invalid) => (
            <input id="login-password" type="password" name="password" autocomplete="current-password" required
                   value={password} onInput={(e) => setPassword(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        {codeNeeded
          ? <TotpInput id="login-code" value={code} onInput={setCode} autoFocus
                       error={errorFor(action.problem, TOTP_FIELD)} />
          : null}
        <FormError message={formError(action.problem, SHOWN_FIELDS) ?? action.failure} />
        <button type="submit" disabled={action.busy}>{action.busy ? "Logging in…" : "Log in"}</button>
      </form>
      <p>No account yet? <a href={href("/signup")}>Sign up</a></p>
    </div>
  );
}

/** Whether the server asked for a two-factor code (or refused the one sent). */
function isCodeRequest(error: unknown): boolean {
  return error instanceof ApiFailure &&
    (error.problem.code === ErrorCodes.TOTP_REQUIRED || error.problem.code === ErrorCodes.INVALID_TOTP);
}
