/** The one input of every two-factor code: digits, filled in by the phone's keyboard
 * suggestion or a password manager (autocomplete one-time-code). */
import type { JSX } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { Field } from "../common/forms";

interface TotpInputProps {
  id: string;
  value: string;
  onInput: (value: string) => void;
  error: string | null;
  /** Move the focus here when shown (it appears after the server asked for it). */
  autoFocus?: boolean;
}

/** "Two-factor code", labelled and with its error beside it. */
export function TotpInput({ id, value, onInput, error, autoFocus = false }: TotpInputProps): JSX.Element {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (autoFocus) input.current?.focus();
  }, [autoFocus]);
  return (
    <Field id={id} label="Two-factor code" error={error} hint="The 6-digit code your authenticator app shows now; each code works once.">
      {(describedBy, invalid) => (
        <input ref={input} id={id} name="code" inputMode="numeric" autocomplete="one-time-code"
               pattern="[0-9]*" maxLength={10} required value={value}
               onInput={(e) => onInput(e.currentTarget.value.replace(/\s+/g, ""))}
               aria-describedby={describedBy} aria-invalid={invalid} />
      )}
    </Field>
  );
}
