/** Moves the keyboard focus to an element when it appears (the `autofocus` attribute only
 * acts when a page loads, not when a screen shows a new step). */
import type { RefObject } from "preact";
import { useEffect, useRef } from "preact/hooks";

/** A ref whose element is focused once it is mounted. */
export function useFocusOnMount<T extends HTMLElement>(): RefObject<T | null> {
  const element = useRef<T>(null);
  useEffect(() => {
    element.current?.focus();
  }, []);
  return element;
}
