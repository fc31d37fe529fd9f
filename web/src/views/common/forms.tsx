/**
 * What every form shares: a labelled input with its error in words beside it (tied by
 * aria-describedby for screen readers), a form-level error, and `useAction`, which runs a
 * submit and keeps the API's refusal (`ApiProblem`) so each field can show its part.
 */
import type { ComponentChildren, JSX } from "preact";
import { useState } from "preact/hooks";
import type { ApiProblem } from "../../lib/apiErrors";
import { ApiFailure } from "../../app/api";

/** A submit in progress, and the refusal of the last one. */
export interface Action<A extends unknown[]> {
  busy: boolean;
  problem: ApiProblem | null;
  /** A message for what failed without an API answer (a bug, a bad input caught here). */
  failure: string | null;
  run: (...args: A) => Promise<boolean>;
  clear: () => void;
}

/** Runs `submit`; true when it succeeded. An `ApiFailure` becomes `problem`. */
export function useAction<A extends unknown[]>(submit: (...args: A) => Promise<void>): Action<A> {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const clear = (): void => {
    setProblem(null);
    setFailure(null);
  };
  const run = async (...args: A): Promise<boolean> => {
    setBusy(true);
    clear();
    try {
      await submit(...args);
      return true;
    } catch (error) {
      if (error instanceof ApiFailure) setProblem(error.problem);
      else setFailure(error instanceof Error ? error.message : String(error));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, problem, failure, run, clear };
}

/** The refusal's message for `field` (the API's parameter name), if it is about it. */
export function errorFor(problem: ApiProblem | null, ...fields: string[]): string | null {
  if (problem === null || problem.field === null || !fields.includes(problem.field)) return null;
  return new ApiFailure(problem).message;
}

/** The refusal's message when no field of the form shows it. */
export function formError(problem: ApiProblem | null, shownFields: readonly string[]): string | null {
  if (problem === null) return null;
  if (problem.field !== null && shownFields.includes(problem.field)) return null;
  return new ApiFailure(problem).message;
}

interface FieldProps {
  id: string;
  label: string;
  error?: string | null;
  hint?: string;
  children: (describedBy: string | undefined, invalid: boolean) => JSX.Element;
}

/** A label, its input (rendered by `children` with the ids to describe it) and the error. */
export function Field({ id, label, error = null, hint, children }: FieldProps): JSX.Element {
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [error === null ? null : errorId, hint === undefined ? null : hintId]
    .filter((part) => part !== null).join(" ") || undefined;
  return (
    <div class={`field${error === null ? "" : " field-invalid"}`}>
      <label for={id}>{label}</label>
      {children(describedBy, error !== null)}
      {hint === undefined ? null : <small id={hintId} class="hint">{hint}</small>}
      {error === null ? null : <small id={errorId} class="error" role="alert">{error}</small>}
    </div>
  );
}

/** A refusal not tied to one field, announced to screen readers. */
export function FormError({ message }: { message: string | null }): JSX.Element | null {
  return message === null ? null : <p class="form-error" role="alert">{message}</p>;
}

/** A titled panel of a screen. */
export function Panel({ title, children, actions }: {
  title: string;
  children: ComponentChildren;
  actions?: ComponentChildren;
}): JSX.Element {
  const headingId = `panel-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section class="panel" aria-labelledby={headingId}>
      <header class="panel-header">
        <h2 id={headingId}>{title}</h2>
        {actions}
      </header>
      <div class="panel-body">{children}</div>
    </section>
  );
}
