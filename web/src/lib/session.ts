/**
 * The web app's access-token lifecycle over the /v1/auth API: a short-lived JWT access
 * token (15 minutes) and a refresh token that `POST /v1/auth/refresh` rotates. The server
 * ends the session when an already-rotated refresh token is presented again, so refreshes
 * here are single-flight: two at once would replay the same refresh token.
 *
 * Timing: the token is refreshed `refreshMarginMs(lifetime)` before it expires, the smaller
 * of 60 s and 10 % of its lifetime (60 s for the 15-minute tokens). The lifetime is
 * measured on this machine's clock from when the tokens arrived, so a skewed clock does
 * not shift the refresh.
 */

/** Tokens from login or refresh. `expiresAt` is ms on the injected clock; without it the
 * access token's own `exp` (and `iat`) are read. */
export interface SessionTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt?: number;
}

/** Stops a scheduled callback. */
export type CancelTimer = () => void;

/** What the session needs from the outside world, injected so it can be tested. */
export interface SessionDependencies {
  /** Calls `POST /v1/auth/refresh`; rejects with `SessionEndedError` when the server
   * refuses the refresh token (401), with any other error when the call failed. */
  refresh: (refreshToken: string) => Promise<SessionTokens>;
  /** Current time in ms. */
  now: () => number;
  /** Runs `fn` after `delayMs`. */
  schedule: (fn: () => void, delayMs: number) => CancelTimer;
}

/** Whether the session holds tokens. */
export type SessionStatus = "signed-in" | "signed-out";

/** Why the session was signed out: the user logged out, or the server ended it. */
export type SignOutReason = "logout" | "session-ended";

/** Told when the session is signed out, so the UI can return to the login screen. */
export type SignOutListener = (reason: SignOutReason) => void;

/** The session has ended (refresh token refused, or signed out): log in again. */
export class SessionEndedError extends Error {
  constructor(message = "The session has ended; log in again.") {
    super(message);
    this.name = "SessionEndedError";
  }
}

const MAX_REFRESH_MARGIN_MS = 60_000;
const REFRESH_MARGIN_SHARE_OF_LIFETIME = 0.1;

/** How long before expiry a token of this lifetime is refreshed: min(60 s, 10 %). */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.min(MAX_REFRESH_MARGIN_MS, Math.floor(lifetimeMs * REFRESH_MARGIN_SHARE_OF_LIFETIME));
}

interface JwtTimes {
  exp: number;
  iat?: number;
}

function decodeBase64Url(segment: string): string {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
  return new TextDecoder().decode(Uint8Array.from(binary, (char) => char.charCodeAt(0)));
}

/** The `exp` and `iat` claims (seconds) of a JWT, read without verifying it: the server
 * verifies; the client only needs to know when to refresh. */
export function readJwtTimes(token: string): JwtTimes {
  const payload = token.split(".")[1];
  if (payload === undefined) throw new Error("access token is not a JWT");
  const claims: unknown = JSON.parse(decodeBase64Url(payload));
  if (typeof claims !== "object" || claims === null || !("exp" in claims) ||
      typeof claims.exp !== "number") {
    throw new Error("access token has no exp claim");
  }
  const iat = "iat" in claims && typeof claims.iat === "number" ? claims.iat : undefined;
  return iat === undefined ? { exp: claims.exp } : { exp: claims.exp, iat };
}

/** When tokens received at `receivedAt` expire, on the local clock. */
function expiryOf(tokens: SessionTokens, receivedAt: number): number {
  if (tokens.expiresAt !== undefined) return tokens.expiresAt;
  const { exp, iat } = readJwtTimes(tokens.accessToken);
  return iat === undefined ? exp * 1000 : receivedAt + (exp - iat) * 1000;
}

interface HeldTokens {
  accessToken: string;
  refreshToken: string;
  expiresAt: number;
  refreshAt: number;
}

/** One signed-in user's tokens: hands out a valid access token, refreshing it in time. */
export class Session {
  private tokens: HeldTokens | null = null;
  private inFlight: Promise<string> | null = null;
  private cancelTimer: CancelTimer | null = null;
  /** Bumped on sign-in and sign-out, so a refresh that was under way cannot revive an
   * older session. */
  private generation = 0;
  private readonly listeners = new Set<SignOutListener>();

  constructor(private readonly deps: SessionDependencies) {}

  /** Whether the session holds tokens. */
  get status(): SessionStatus {
    return this.tokens === null ? "signed-out" : "signed-in";
  }

  /** Listens for sign-outs; returns the function that stops listening. */
  onSignOut(listener: SignOutListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts the session with the tokens `POST /v1/auth/login` answered. */
  signIn(tokens: SessionTokens): void {
    this.generation += 1;
    this.inFlight = null;
    this.hold(tokens);
  }

  /**
   * A valid access token: the held one until its refresh time, then a fresh one (callers
   * at the same time share one refresh). Between the refresh time and expiry, a refresh
   * that fails for a reason other than a refused refresh token falls back to the held
   * token. Rejects with `SessionEndedError` once signed out.
   */
  async accessToken(): Promise<string> {
    const tokens = this.requireTokens();
    if (this.deps.now() < tokens.refreshAt) return tokens.accessToken;
    try {
      return await this.refreshOnce();
    } catch (error) {
      if (error instanceof SessionEndedError || this.deps.now() >= tokens.expiresAt) throw error;
      return tokens.accessToken;
    }
  }

  /**
   * A new access token after the server refused `rejectedToken` (a 401): refreshes unless
   * the session already moved past that token, in which case the newer one is returned.
   */
  async accessTokenReplacing(rejectedToken: string): Promise<string> {
    const tokens = this.requireTokens();
    if (tokens.accessToken !== rejectedToken) return tokens.accessToken;
    return this.refreshOnce();
  }

  /** Ends the session locally: forgets the tokens and cancels the scheduled refresh. The
   * caller tells the server (`POST /v1/auth/logout`) first if it wants the session gone. */
  logout(): void {
    this.signOut("logout");
  }

  private requireTokens(): HeldTokens {
    if (this.tokens === null) throw new SessionEndedError();
    return this.tokens;
  }

  private refreshOnce(): Promise<string> {
    if (this.inFlight === null) {
      const refreshToken = this.requireTokens().refreshToken;
      const generation = this.generation;
      const attempt = this.runRefresh(refreshToken, generation);
      this.inFlight = attempt;
      const clear = (): void => {
        if (this.inFlight === attempt) this.inFlight = null;
      };
      attempt.then(clear, clear);
    }
    return this.inFlight;
  }

  private async runRefresh(refreshToken: string, generation: number): Promise<string> {
    try {
      const fresh = await this.deps.refresh(refreshToken);
      if (generation !== this.generation) throw new SessionEndedError();
      this.hold(fresh);
      return fresh.accessToken;
    } catch (error) {
      if (error instanceof SessionEndedError && generation === this.generation) {
        this.signOut("session-ended");
      }
      throw error;
    }
  }

  private hold(tokens: SessionTokens): void {
    const receivedAt = this.deps.now();
    const expiresAt = expiryOf(tokens, receivedAt);
    const refreshAt = expiresAt - refreshMarginMs(expiresAt - receivedAt);
    this.tokens = { accessToken: tokens.accessToken, refreshToken: tokens.refreshToken,
                    expiresAt, refreshAt };
    this.scheduleRefresh(refreshAt - receivedAt);
  }

  private scheduleRefresh(delayMs: number): void {
    this.cancelTimer?.();
    this.cancelTimer = this.deps.schedule(() => {
      this.cancelTimer = null;
      this.refreshOnce().catch(() => undefined);
    }, Math.max(0, delayMs));
  }

  private signOut(reason: SignOutReason): void {
    if (this.tokens === null) return;
    this.generation += 1;
    this.tokens = null;
    this.inFlight = null;
    this.cancelTimer?.();
    this.cancelTimer = null;
    for (const listener of this.listeners) listener(reason);
  }
}

/** Request options `withAuth` passes on; the body is a string so a retry can resend it. */
export interface AuthRequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** A `fetch`-shaped function; the global `fetch` fits. */
export type FetchLike<R extends { status: number }> =
  (url: string, options: AuthRequestOptions) => Promise<R>;

/** Whether an answer refuses the access token itself (so a fresh one may succeed), as
 * opposed to another 401, such as a wrong two-factor code, which a retry would repeat. */
export type TokenRejection<R> = (response: R) => Promise<boolean>;

/**
 * Wraps `doFetch` so every request carries `Authorization: Bearer <access token>`; an
 * answer that rejects the token (by default: any 401) gets one refresh and one retry, and
 * a second rejection is returned as it is. Rejects with `SessionEndedError` when the
 * session is signed out or its refresh refused.
 */
export function withAuth<R extends { status: number }>(
  session: Session,
  doFetch: FetchLike<R>,
  rejectsToken: TokenRejection<R> = async (response) => response.status === 401,
): (url: string, options?: AuthRequestOptions) => Promise<R> {
  const send = (url: string, options: AuthRequestOptions, token: string): Promise<R> =>
    doFetch(url, { ...options, headers: { ...options.headers, Authorization: `Bearer ${token}` } });

  return async (url, options = {}) => {
    const token = await session.accessToken();
    const first = await send(url, options, token);
    if (!(await rejectsToken(first))) return first;
    return send(url, options, await session.accessTokenReplacing(token));
  };
}
