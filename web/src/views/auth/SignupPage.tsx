/**
 * Sign up (#/signup): email, password with the server's rule as a hint, and its
 * confirmation; then logs in and opens the account page, which suggests two-factor.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { href, navigate } from "../../app/router";
import { useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, useAction } from "../common/forms";
import { confirmationProblem, PASSWORD_HINT, passwordProblem } from "./passwordPolicy";
import "./auth.css";

const SHOWN_FIELDS = ["email", "password"];

/** The route the account page reads as "just signed up". */
export const WELCOME_ROUTE = "/account/welcome";

/** The sign-up screen. */
export function SignupPage(): JSX.Element {
  const services = useServices();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [confirmation, setConfirmation] = useState("");
  const [checked, setChecked] = useState(false);
  const [createdEmail, setCreatedEmail] = useState<string | null>(null);
  const passwordError = checked ? passwordProblem(password) : null;
  const confirmationError = checked ? confirmationProblem(password, confirmation) : null;
  const action = useAction(async () => {
    if (createdEmail !== email.trim()) {
      await services.api.publicPost("/v1/auth/signup", { email: email.trim(), password });
      setCreatedEmail(email.trim());
    }
    await services.logIn(email.trim(), password);
    navigate(WELCOME_ROUTE);
  });
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    setChecked(true);
    if (passwordProblem(password) !== null || confirmationProblem(password, confirmation) !== null) return;
    void action.run();
  };
  return (
    <div class="auth-screen">
      <h1>Create your account</h1>
      <form class="auth-form narrow" onSubmit={onSubmit} aria-label="Sign up" data-testid="signup-form" noValidate>
        <Field id="signup-email" label="Email" error={errorFor(action.problem, "email")}>
          {(describedBy, invalid) => (
            <input id="signup-email" type="email" name="email" autocomplete="email" required
                   value={email} onInput={(e) => setEmail(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <Field id="signup-password" label="Password" hint={PASSWORD_HINT}
               error={passwordError ?? errorFor(action.problem, "password")}>
          {(describedBy, invalid) => (
            <input id="signup-password" type="password" name="password" autocomplete="new-password" required
                   value={password} onInput={(e) => setPassword(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <Field id="signup-confirm" label="Confirm password" error={confirmationError}>
          {(describedBy, invalid) => (
            <input id="signup-confirm" type="password" name="confirm" autocomplete="new-password" required
                   value={confirmation} onInput={(e) => setConfirmation(e.currentTarget.value)}
                   aria-describedby={describedBy} aria-invalid={invalid} />
          )}
        </Field>
        <FormError message={formError(action.problem, SHOWN_FIELDS) ?? action.failure} />
        <button type="submit" disabled={action.busy}>{action.busy ? "Creating account…" : "Sign up"}</button>
      </form>
      <p>Already have an account? <a href={href("/login")}>Log in</a></p>
    </div>
  );
}
