/**
 * Hooks over the signed-in user's live account (accountSession.ts): the screens re-render
 * whenever balances, open orders, fills or the user stream's state change.
 */
import { useEffect, useState } from "preact/hooks";
import { useMe, useServices } from "../../app/services";
import type { AccountState } from "../../lib/accountState";
import type { ConnectionState } from "../../lib/streamConnection";
import { accountSessionFor, type AccountSession } from "./accountSession";

function useAccountSession(): AccountSession | null {
  const services = useServices();
  const me = useMe();
  return me === null ? null : accountSessionFor(services);
}

/** The signed-in user's balances and open orders, live; null when signed out. */
export function useAccountState(): AccountState | null {
  const session = useAccountSession();
  const [, setVersion] = useState(0);
  useEffect(() => session?.state.onChange(() => setVersion((v) => v + 1)), [session]);
  return session?.state ?? null;
}

/** The user data stream's state and the last snapshot failure, for a status line. */
export interface AccountStatus {
  stream: ConnectionState;
  loadError: string | null;
  /** False until the first snapshot loaded (and while a reload is pending). */
  loaded: boolean;
}

/** The account stream's status; null when signed out. */
export function useAccountStatus(): AccountStatus | null {
  const session = useAccountSession();
  const [, setVersion] = useState(0);
  useEffect(() => {
    if (session === null) return undefined;
    const bump = (): void => setVersion((v) => v + 1);
    const stopStatus = session.onStatusChange(bump);
    const stopState = session.state.onChange(bump);
    return () => {
      stopStatus();
      stopState();
    };
  }, [session]);
  if (session === null) return null;
  return { stream: session.streamState, loadError: session.loadError, loaded: !session.state.needsResync() };
}

/** What a screen does after its own order action: reload if the stream stays silent. */
export interface AccountActions {
  afterOwnAction: () => void;
  reload: () => Promise<void>;
}

/** The account's actions; null when signed out. */
export function useAccountActions(): AccountActions | null {
  const session = useAccountSession();
  if (session === null) return null;
  return { afterOwnAction: () => session.afterOwnAction(), reload: () => session.reload() };
}
