/**
 * A button that copies a text (an address, a key) to the clipboard and says, in a live
 * region, whether it did; when the browser refuses, it asks the user to copy by hand.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

type CopyState = "idle" | "copied" | "failed";

const FEEDBACK_MS = 2000;

/** "Copy <what>": copies `text`; `what` names it for screen readers ("address"). */
export function CopyButton({ text, what }: { text: string; what: string }): JSX.Element {
  const [state, setState] = useState<CopyState>("idle");
  useEffect(() => {
    if (state === "idle") return undefined;
    const timer = setTimeout(() => setState("idle"), FEEDBACK_MS);
    return () => clearTimeout(timer);
  }, [state]);
  const copy = (): void => {
    navigator.clipboard.writeText(text).then(() => setState("copied"), () => setState("failed"));
  };
  return (
    <span class="acct-copy">
      <button type="button" class="ghost" onClick={copy} aria-label={`Copy ${what}`}>Copy</button>
      <span class="acct-copy-feedback" role="status" aria-live="polite">
        {state === "copied" ? "Copied" : state === "failed" ? "Could not copy: select the text and copy it" : ""}
      </span>
    </span>
  );
}
