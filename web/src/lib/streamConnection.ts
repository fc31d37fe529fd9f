/**
 * One WebSocket connection to the exchange's combined streams (Binance's `/stream`
 * endpoint, whose messages are `{stream, data}`) that reconnects by itself.
 *
 * - Streams are wanted while at least one handler is registered for them with `on`.
 *   On every (re)open the connection sends one `SUBSCRIBE` for every wanted stream;
 *   while open, the first handler of a stream sends `SUBSCRIBE` and removing the last
 *   sends `UNSUBSCRIBE`. Changes made while not open are remembered and sent on open.
 * - The server closes connections (after 24 h, when the gateway restarts): each close
 *   schedules a reconnect after an exponential backoff with jitter (by default 500 ms
 *   doubling up to 30 s, each delay shortened by up to 20 % at random so clients do not
 *   reconnect in lockstep). The backoff starts again from the first delay once a
 *   connection has stayed open for `stableAfterMs` (default 10 s).
 * - Every open after the first one notifies `onReopen` listeners: messages sent while
 *   the connection was down are lost, so consumers such as the order book must resync.
 * - `close()` stops for good (until `connect()` is called again).
 *
 * It owns no timers and no sockets: `open`, `schedule` and `random` are injected.
 */

/** The part of the browser's WebSocket the connection uses; `(url) => new WebSocket(url)` fits. */
export interface SocketLike {
  send(text: string): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: string }) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** Stops a scheduled callback. */
export type CancelScheduled = () => void;

/** What the connection needs from the outside world, injected so it can be tested. */
export interface StreamConnectionDependencies {
  /** Opens a socket to `url` (a browser: `(url) => new WebSocket(url)`). May throw. */
  open: (url: string) => SocketLike;
  /** Runs `fn` after `delayMs`. */
  schedule: (fn: () => void, delayMs: number) => CancelScheduled;
  /** A number in [0, 1) for the jitter (a browser: `Math.random`). */
  random: () => number;
}

/** Reconnect timing; every field has a default (see `DEFAULT_BACKOFF`). */
export interface BackoffOptions {
  /** Delay before the first reconnect. */
  initialDelayMs: number;
  /** The delay doubles after each failed try up to this. */
  maxDelayMs: number;
  /** A connection open this long counts as healthy: the next delay is the first again. */
  stableAfterMs: number;
  /** Up to this fraction of a delay is taken off at random (0 = no jitter). */
  jitter: number;
}

/** 0.5 s doubling to 30 s, reset after 10 s open, up to 20 % jitter. */
export const DEFAULT_BACKOFF: BackoffOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  stableAfterMs: 10_000,
  jitter: 0.2,
};

/** What the UI shows: connecting the first time, open, waiting/retrying, or stopped. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Receives the `data` of each message of one stream. */
export type StreamHandler = (data: unknown) => void;

/** Removes a handler or listener. */
export type Unsubscribe = () => void;

/**
 * The reconnect delay after `failures` tries in a row (0 for the first reconnect):
 * `initialDelayMs * 2^failures` capped at `maxDelayMs`, minus up to `jitter` of it.
 */
export function backoffDelayMs(failures: number, options: BackoffOptions, random: number): number {
  const exponential = options.initialDelayMs * 2 ** Math.min(failures, 30);
  const capped = Math.min(options.maxDelayMs, exponential);
  return Math.round(capped * (1 - options.jitter * random));
}

/** A self-reconnecting combined-stream connection; see the module comment. */
export class StreamConnection {
  private readonly deps: StreamConnectionDependencies;
  private readonly backoff: BackoffOptions;
  private readonly handlers = new Map<string, Set<StreamHandler>>();
  private readonly stateListeners = new Set<(state: ConnectionState) => void>();
  private readonly reopenListeners = new Set<() => void>();
  private socket: SocketLike | undefined;
  private cancelReconnect: CancelScheduled | undefined;
  private cancelStable: CancelScheduled | undefined;
  private failures = 0;
  private openedBefore = false;
  private nextRequestId = 1;
  private currentState: ConnectionState = "closed";

  /**
   * `url` is the combined-stream endpoint without streams, e.g. `wss://host/stream` (the
   * gateway answers it with `{stream, data}` payloads); streams are then subscribed by
   * request, so the URL stays the same across reconnects. Nothing opens before `connect()`.
   */
  constructor(
    readonly url: string,
    deps: StreamConnectionDependencies,
    backoff: Partial<BackoffOptions> = {},
  ) {
    this.deps = deps;
    this.backoff = { ...DEFAULT_BACKOFF, ...backoff };
  }

  /** The current state; "closed" before `connect()` and after `close()`. */
  get state(): ConnectionState {
    return this.currentState;
  }

  /** The streams currently wanted (those with at least one handler), sorted. */
  wantedStreams(): string[] {
    return [...this.handlers.keys()].sort();
  }

  /** Starts connecting; does nothing unless the connection is closed. */
  connect(): void {
    if (this.currentState !== "closed") return;
    this.failures = 0;
    this.openedBefore = false;
    this.setState("connecting");
    this.openSocket();
  }

  /** Stops for good: closes the socket and cancels any pending reconnect. */
  close(): void {
    this.cancelTimers();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
    this.setState("closed");
  }

  /**
   * Calls `handler` with the `data` of every message of `stream` (e.g. "btcusdt@depth")
   * and subscribes to the stream if it was not wanted yet. The returned function removes
   * the handler, unsubscribing from the stream when it was the last one.
   */
  on(stream: string, handler: StreamHandler): Unsubscribe {
    let streamHandlers = this.handlers.get(stream);
    if (streamHandlers === undefined) {
      streamHandlers = new Set();
      this.handlers.set(stream, streamHandlers);
      this.sendRequest("SUBSCRIBE", [stream]);
    }
    const wrapped: StreamHandler = (data) => handler(data);
    streamHandlers.add(wrapped);
    return () => this.removeHandler(stream, wrapped);
  }

  /** Calls `listener` with each new state; returns its remover. */
  onStateChange(listener: (state: ConnectionState) => void): Unsubscribe {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Calls `listener` on every open after the first: messages were missed, resync. */
  onReopen(listener: () => void): Unsubscribe {
    this.reopenListeners.add(listener);
    return () => this.reopenListeners.delete(listener);
  }

  private removeHandler(stream: string, handler: StreamHandler): void {
    const streamHandlers = this.handlers.get(stream);
    if (streamHandlers === undefined || !streamHandlers.delete(handler)) return;
    if (streamHandlers.size === 0) {
      this.handlers.delete(stream);
      this.sendRequest("UNSUBSCRIBE", [stream]);
    }
  }

  private openSocket(): void {
    let socket: SocketLike;
    try {
      socket = this.deps.open(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => this.whenCurrent(socket, () => this.handleOpen());
    socket.onmessage = (ev) => this.whenCurrent(socket, () => this.handleMessage(ev.data));
    socket.onclose = () => this.whenCurrent(socket, () => this.handleClose());
    socket.onerror = () => this.whenCurrent(socket, () => socket.close());
  }

  /** Runs `action` only for events of the live socket, not of one already dropped. */
  private whenCurrent(socket: SocketLike, action: () => void): void {
    if (socket === this.socket) action();
  }

  private handleOpen(): void {
    this.setState("open");
    this.sendRequest("SUBSCRIBE", this.wantedStreams());
    this.cancelStable = this.deps.schedule(() => {
      this.cancelStable = undefined;
      this.failures = 0;
    }, this.backoff.stableAfterMs);
    if (this.openedBefore) this.reopenListeners.forEach((listener) => listener());
    this.openedBefore = true;
  }

  /** Routes `{stream, data}` to the stream's handlers; answers (`{result, id}`) and
   * text that is not JSON are ignored. */
  private handleMessage(text: string): void {
    const message = parseJson(text);
    if (!isStreamMessage(message)) return;
    this.handlers.get(message.stream)?.forEach((handler) => handler(message.data));
  }

  private handleClose(): void {
    this.socket = undefined;
    this.cancelTimers();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    this.setState("reconnecting");
    const delay = backoffDelayMs(this.failures, this.backoff, this.deps.random());
    this.failures += 1;
    this.cancelReconnect = this.deps.schedule(() => {
      this.cancelReconnect = undefined;
      this.openSocket();
    }, delay);
  }

  private sendRequest(method: "SUBSCRIBE" | "UNSUBSCRIBE", streams: string[]): void {
    if (this.currentState !== "open" || this.socket === undefined || streams.length === 0) return;
    const id = this.nextRequestId;
    this.nextRequestId += 1;
    this.socket.send(JSON.stringify({ method, params: streams, id }));
  }

  private cancelTimers(): void {
    this.cancelReconnect?.();
    this.cancelReconnect = undefined;
    this.cancelStable?.();
    this.cancelStable = undefined;
  }

  private setState(state: ConnectionState): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.stateListeners.forEach((listener) => listener(state));
  }
}

interface StreamMessage {
  stream: string;
  data: unknown;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isStreamMessage(message: unknown): message is StreamMessage {
  return (
    typeof message === "object" &&
    message !== null &&
    typeof (message as { stream?: unknown }).stream === "string" &&
    "data" in message
  );
}
