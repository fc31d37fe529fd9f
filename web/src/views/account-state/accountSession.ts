/**
 * The signed-in user's live account: one `AccountState` per session, loaded from
 * `GET /api/v3/account` and `GET /api/v3/openOrders` and kept live by the user data
 * stream (`POST /api/v3/userDataStream` → listenKey → `${wsBaseUrl}?streams=<listenKey>`,
 * whose messages are bare Binance user events). The listenKey is kept alive every
 * 30 minutes; a closed stream reconnects with backoff and reloads the snapshot, since
 * events sent while it was down are lost. Signing out stops it all.
 */
import type { Services } from "../../app/services";
import { browserSocket } from "../../app/services";
import { userStreamUrl } from "../../lib/config";
import { AccountState, type AccountSnapshot, type OpenOrder } from "../../lib/accountState";
import {
  backoffDelayMs,
  DEFAULT_BACKOFF,
  type ConnectionState,
  type SocketLike,
} from "../../lib/streamConnection";

/** How often the listenKey is extended (the server keeps it 60 minutes). */
const KEEP_ALIVE_MS = 30 * 60_000;
/** How long an own placement or cancel may go without a stream event before a reload. */
const SAFETY_RELOAD_MS = 3_000;

interface ListenKeyAnswer {
  listenKey: string;
}

type StatusListener = () => void;

/** Unwraps `{stream, data}` should the server wrap a user event like a combined stream. */
function userEventOf(message: unknown): unknown {
  if (typeof message === "object" && message !== null && "stream" in message && "data" in message) {
    return (message as { data: unknown }).data;
  }
  return message;
}

function parsedJson(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** One signed-in session's account state and the user data stream that feeds it. */
export class AccountSession {
  /** Balances, open orders and recent fills. */
  readonly state = new AccountState();
  /** The user data stream's connection state. */
  streamState: ConnectionState = "connecting";
  /** Why the last snapshot could not be loaded, in words; null when it loaded. */
  loadError: string | null = null;

  private socket: SocketLike | undefined;
  private listenKey: string | null = null;
  private failures = 0;
  private opened = false;
  private stopped = false;
  private eventCount = 0;
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  private readonly statusListeners = new Set<StatusListener>();

  constructor(private readonly services: Services) {}

  /** Opens the stream and loads the first snapshot. */
  start(): void {
    void this.reload();
    void this.openStream();
    this.keepAliveTimer = setInterval(() => void this.keepAlive(), KEEP_ALIVE_MS);
  }

  /** Closes the stream for good (sign-out). */
  stop(): void {
    this.stopped = true;
    clearInterval(this.keepAliveTimer);
    this.timers.forEach((timer) => clearTimeout(timer));
    this.timers.clear();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
    this.setStreamState("closed");
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

  private async openStream(): Promise<void> {
    if (this.stopped) return;
    try {
      const answer = await this.services.api.account<ListenKeyAnswer>("POST", "/api/v3/userDataStream");
      if (this.stopped) return;
      this.listenKey = answer.listenKey;
      this.connectSocket(answer.listenKey);
    } catch {
      this.scheduleReconnect();
    }
  }

  private connectSocket(listenKey: string): void {
    let socket: SocketLike;
    try {
      socket = browserSocket(userStreamUrl(this.services.config, listenKey));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    const current = (action: () => void) => () => {
      if (this.socket === socket) action();
    };
    socket.onopen = current(() => this.handleOpen());
    socket.onmessage = (event) => current(() => this.handleMessage(event.data))();
    socket.onclose = current(() => this.handleClose());
    socket.onerror = current(() => socket.close());
  }

  private handleOpen(): void {
    this.setStreamState("open");
    this.later(() => {
      this.failures = 0;
    }, DEFAULT_BACKOFF.stableAfterMs);
    if (this.opened) void this.reload();
    this.opened = true;
  }

  private handleMessage(text: string): void {
    const event = userEventOf(parsedJson(text));
    this.eventCount += 1;
    this.state.applyEvent(event);
  }

  private handleClose(): void {
    this.socket = undefined;
    this.state.markStreamReopened();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped) return;
    this.setStreamState("reconnecting");
    const delay = backoffDelayMs(this.failures, DEFAULT_BACKOFF, Math.random());
    this.failures += 1;
    this.later(() => void this.openStream(), delay);
  }

  private async keepAlive(): Promise<void> {
    if (this.listenKey === null || this.stopped) return;
    try {
      await this.services.api.account("PUT", "/api/v3/userDataStream", { listenKey: this.listenKey });
    } catch {
      this.socket?.close();
    }
  }

  private later(fn: () => void, delayMs: number): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) fn();
    }, delayMs);
    this.timers.add(timer);
  }

  private setStreamState(state: ConnectionState): void {
    if (this.streamState === state) return;
    this.streamState = state;
    this.statusListeners.forEach((listener) => listener());
  }

  private setLoadError(message: string | null): void {
    if (this.loadError === message) return;
    this.loadError = message;
    this.statusListeners.forEach((listener) => listener());
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
