/**
 * The signed-in user's live account: one `AccountState` per session, loaded from
 * `GET /api/v3/account` and `GET /api/v3/openOrders` and kept live by the user data
 * stream: the listenKey (`POST /api/v3/userDataStream`) subscribed like a stream on the
 * app's one market connection, which reconnects and resubscribes by itself; on each
 * reopen the snapshot is reloaded, since events sent while it was down are lost. The
 * listenKey is kept alive every 30 minutes. Signing out stops it all.
 */
import type { Services } from "../../app/services";
import { AccountState, type AccountSnapshot, type OpenOrder } from "../../lib/accountState";
import { backoffDelayMs, DEFAULT_BACKOFF, type ConnectionState } from "../../lib/streamConnection";

/** How often the listenKey is extended (the server keeps it 60 minutes). */
const KEEP_ALIVE_MS = 30 * 60_000;
/** How long an own placement or cancel may go without a stream event before a reload. */
const SAFETY_RELOAD_MS = 3_000;

interface ListenKeyAnswer {
  listenKey: string;
}

type StatusListener = () => void;

/** One signed-in session's account state and the user data stream that feeds it. */
export class AccountSession {
  /** Balances, open orders and recent fills. */
  readonly state = new AccountState();
  /** Why the last snapshot could not be loaded, in words; null when it loaded. */
  loadError: string | null = null;

  private listenKey: string | null = null;
  private stopListening: (() => void) | null = null;
  private failures = 0;
  private stopped = false;
  private eventCount = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  private readonly stopWatching: (() => void)[] = [];
  private readonly statusListeners = new Set<StatusListener>();

  constructor(private readonly services: Services) {}

  /** The user data stream's state: the market connection's once the listenKey is in. */
  get streamState(): ConnectionState {
    if (this.stopped) return "closed";
    return this.listenKey === null ? "connecting" : this.services.market.state;
  }

  /** Subscribes the user data stream and loads the first snapshot. */
  start(): void {
    void this.reload();
    void this.subscribe();
    this.keepAliveTimer = setInterval(() => void this.keepAlive(), KEEP_ALIVE_MS);
    this.stopWatching.push(
      this.services.market.onReopen(() => void this.reload()),
      this.services.market.onStateChange(() => this.notify()),
    );
  }

  /** Stops following the stream for good (sign-out). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.keepAliveTimer);
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers.clear();
    this.unfollow();
    this.stopWatching.forEach((unwatch) => unwatch());
    this.notify();
  }

  /** Listens to changes of `streamState` and `loadError`; returns its remover. */
  onStatusChange(listener: StatusListener): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Reloads the snapshot; events arriving meanwhile are buffered and replayed on it. */
  async reload(): Promise<void> {
    this.state.markStreamReopened();
    try {
      const [account, openOrders] = await Promise.all([
        this.services.api.account<AccountSnapshot>("GET", "/api/v3/account"),
        this.services.api.account<OpenOrder[]>("GET", "/api/v3/openOrders"),
      ]);
      if (this.stopped) return;
      this.state.loadSnapshot(account, openOrders);
      this.setLoadError(null);
    } catch (error) {
      if (!this.stopped) this.setLoadError(error instanceof Error ? error.message : String(error));
    }
  }

  /**
   * After an own placement, cancel or amend succeeded: the stream normally reports it;
   * if no event came within a few seconds, the snapshot is reloaded (a safety net).
   */
  afterOwnAction(): void {
    const seen = this.eventCount;
    this.later(() => {
      if (this.eventCount === seen) void this.reload();
    }, SAFETY_RELOAD_MS);
  }

  /** Gets a listenKey and follows it; retried with backoff while the API refuses. */
  private async subscribe(): Promise<void> {
    if (this.stopped) return;
    try {
      const answer = await this.services.api.account<ListenKeyAnswer>("POST", "/api/v3/userDataStream");
      if (this.stopped) return;
      this.failures = 0;
      this.follow(answer.listenKey);
    } catch {
      this.later(() => void this.subscribe(), backoffDelayMs(this.failures, DEFAULT_BACKOFF, Math.random()));
      this.failures += 1;
    }
  }

  private follow(listenKey: string): void {
    this.listenKey = listenKey;
    this.stopListening = this.services.market.on(listenKey, (event) => {
      this.eventCount += 1;
      this.state.applyEvent(event);
    });
    this.notify();
  }

  private unfollow(): void {
    this.stopListening?.();
    this.stopListening = null;
    this.listenKey = null;
  }

  /** Extends the listenKey; one the server no longer knows is replaced, and the
   * snapshot reloaded for what was missed. */
  private async keepAlive(): Promise<void> {
    if (this.listenKey === null || this.stopped) return;
    try {
      await this.services.api.account("PUT", "/api/v3/userDataStream", { listenKey: this.listenKey });
    } catch {
      this.unfollow();
      this.notify();
      await this.subscribe();
      void this.reload();
    }
  }

  private later(fn: () => void, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, delayMs);
    this.timers.add(timer);
  }

  private notify(): void {
    this.statusListeners.forEach((listener) => listener());
  }

  private setLoadError(message: string | null): void {
    if (this.loadError === message) return;
    this.loadError = message;
    this.notify();
  }
}

const sessions = new WeakMap<Services, AccountSession>();
const watched = new WeakSet<Services>();

/** The signed-in user's session (started on first use), or null when signed out. */
export function accountSessionFor(services: Services): AccountSession | null {
  if (services.me === null) return null;
  if (!watched.has(services)) {
    watched.add(services);
    let userId = services.me.id;
    services.onMeChange((me) => {
      if (me !== null && me.id === userId) return;
      sessions.get(services)?.stop();
      sessions.delete(services);
      if (me !== null) userId = me.id;
    });
  }
  let session = sessions.get(services);
  if (session === undefined) {
    session = new AccountSession(services);
    sessions.set(services, session);
    session.start();
  }
  return session;
}
