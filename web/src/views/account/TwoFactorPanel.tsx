/**
 * Two-factor (TOTP) enrolment: the password again, then the QR code and the secret for
 * manual entry, then a code from the app to prove it works. Once on, it says so.
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { TOTP_FIELD } from "../../lib/apiErrors";
import { useMe, useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, Panel, useAction } from "../common/forms";
import { TotpInput } from "../auth/TotpInput";
import { CopyButton } from "./CopyButton";
import { QrCode } from "./QrCode";
import { useFocusOnMount } from "./useFocusOnMount";

/** What POST /v1/auth/totp/enrol answers. */
interface Enrolment {
  secret: string;
  otpauthUri: string;
}

type Step = { kind: "start" } | { kind: "password" } | { kind: "scan"; enrolment: Enrolment };

/** The two-factor panel of the account page. */
export function TwoFactorPanel(): JSX.Element {
  const me = useMe();
  const [step, setStep] = useState<Step>({ kind: "start" });
  return (
    <Panel title="Two-factor authentication">
      <div data-testid="two-factor">
        {me?.totpEnabled === true
          ? <p class="notice" data-testid="totp-status">Two-factor is on. Logging in, creating API keys and withdrawing ask for a code from your authenticator app.</p>
          : <TwoFactorSetup step={step} setStep={setStep} />}
      </div>
    </Panel>
  );
}

function TwoFactorSetup({ step, setStep }: { step: Step; setStep: (step: Step) => void }): JSX.Element {
  switch (step.kind) {
    case "start":
      return (
        <>
          <p data-testid="totp-status">Two-factor is off. Turn it on so that a stolen password alone cannot log in or withdraw.</p>
          <button type="button" onClick={() => setStep({ kind: "password" })}>Enable two-factor</button>
        </>
      );
    case "password":
      return <EnrolForm onEnrolled={(enrolment) => setStep({ kind: "scan", enrolment })}
                        onCancel={() => setStep({ kind: "start" })} />;
    case "scan":
      return <ConfirmForm enrolment={step.enrolment} onCancel={() => setStep({ kind: "start" })} />;
  }
}

function EnrolForm({ onEnrolled, onCancel }: {
  onEnrolled: (enrolment: Enrolment) => void;
  onCancel: () => void;
}): JSX.Element {
  const services = useServices();
  const [password, setPassword] = useState("");
  const passwordInput = useFocusOnMount<HTMLInputElement>();
  const action = useAction(async () => {
    onEnrolled(await services.api.v1<Enrolment>("POST", "/v1/auth/totp/enrol", { password }));
  });
  const passwordFields = ["password", "currentPassword"];
  return (
    <form onSubmit={(event) => { event.preventDefault(); void action.run(); }}
          onKeyDown={(event) => { if (event.key === "Escape") onCancel(); }} noValidate>
      <Field id="totp-password" label="Your password" hint="Confirm it is you before changing how you log in."
             error={errorFor(action.problem, ...passwordFields)}>
        {(describedBy, invalid) => (
          <input id="totp-password" type="password" autocomplete="current-password" required ref={passwordInput}
                 value={password} onInput={(e) => setPassword(e.currentTarget.value)}
                 aria-describedby={describedBy} aria-invalid={invalid} />
        )}
      </Field>
      <FormError message={formError(action.problem, passwordFields) ?? action.failure} />
      <div class="acct-actions">
        <button type="submit" disabled={action.busy}>Continue</button>
        <button type="button" class="ghost" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}

function ConfirmForm({ enrolment, onCancel }: { enrolment: Enrolment; onCancel: () => void }): JSX.Element {
  const services = useServices();
  const [code, setCode] = useState("");
  const action = useAction(async () => {
    await services.api.v1("POST", "/v1/auth/totp/confirm", { code: code.trim() });
    await services.reloadMe();
  });
  return (
    <form onSubmit={(event) => { event.preventDefault(); void action.run(); }} noValidate>
      <ol class="acct-steps">
        <li>Scan this QR code with an authenticator app (Google Authenticator, Aegis, 1Password…).</li>
        <li>Or type this key into the app by hand:</li>
      </ol>
      <div class="totp-enrolment">
        <QrCode value={enrolment.otpauthUri} label="QR code to add this account to your authenticator app" />
        <div class="secret-line">
          <code class="copyable" data-testid="totp-secret">{enrolment.secret}</code>
          <CopyButton text={enrolment.secret} what="two-factor key" />
        </div>
      </div>
      <TotpInput id="totp-confirm-code" value={code} onInput={setCode} error={errorFor(action.problem, TOTP_FIELD)} />
      <FormError message={formError(action.problem, [TOTP_FIELD]) ?? action.failure} />
      <div class="acct-actions">
        <button type="submit" disabled={action.busy}>Turn on two-factor</button>
        <button type="button" class="ghost" onClick={onCancel}>Cancel</button>
      </div>
    </form>
  );
}
