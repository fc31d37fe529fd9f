/** Loading what an operator screen shows, with its error in words and a way to reload. */
import { useCallback, useEffect, useState } from "preact/hooks";

/** What `useLoad` has: the data once loaded, the last error's message, and `reload`. */
export interface Loaded<T> {
  data: T | null;
  error: string | null;
  loading: boolean;
  reload: () => void;
  /** Replaces the shown data (after an action changed it). */
  set: (data: T) => void;
}

/** Runs `load` on mount and on `reload`; an answer that arrives after a newer request
 * started is dropped. */
export function useLoad<T>(load: () => Promise<T>): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    let current = true;
    setLoading(true);
    load().then((answer) => {
      if (!current) return;
      setData(answer);
      setError(null);
    }, (failure: unknown) => {
      if (current) setError(failure instanceof Error ? failure.message : String(failure));
    }).finally(() => {
      if (current) setLoading(false);
    });
    return () => {
      current = false;
    };
  // `load` is a new closure each render; reloading is asked for through `generation`.
  }, [generation]);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { data, error, loading, reload, set: setData };
}
