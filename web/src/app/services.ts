/**
 * The app's one wiring point (its bootstrap): the runtime configuration, the session and
 * its signed-in user, the API client and the public market streams, built once in
 * main.tsx and handed to the views through `ServicesContext`.
 */
import { createContext } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import type { AppConfig } from "../lib/config";
import { Session, SessionEndedError, type SessionTokens } from "../lib/session";
import { StreamConnection, type ConnectionState, type SocketLike } from "../lib/streamConnection";
import { streamUrl } from "../lib/config";
import { ApiClient, ApiFailure } from "./api";

/** The signed-in user as /v1/me answers. */
export interface Me {
  id: number;
  email: string;
  isAdmin: boolean;
  totpEnabled: boolean;
}

/** What POST /v1/auth/login and /v1/auth/refresh answer. */
interface TokenAnswer {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/** The refresh token survives a reload of the tab (not of the browser): sessionStorage. */
const REFRESH_TOKEN_KEY = "exchange.refreshToken";

type MeListener = (me: Me | null) => void;

/** Everything the views use to talk to the exchange. */
export class Services {
  readonly session: Session;
  readonly api: ApiClient;
  /** The public combined streams (tickers, depth, trades, klines), shared by every view. */
  readonly market: StreamConnection;
  private currentUser: Me | null = null;
  private readonly meListeners = new Set<MeListener>();

  constructor(readonly config: AppConfig) {
    this.session = new Session({
      refresh: (token) => this.refreshTokens(token),
      now: () => Date.now(),
      schedule: (fn, delayMs) => {
        const timer = setTimeout(fn, delayMs);
        return () => clearTimeout(timer);
      },
    });
    this.api = new ApiClient(config, this.session);
    this.market = new StreamConnection(streamUrl(config, []), {
      open: browserSocket,
      schedule: (fn, delayMs) => {
        const timer = setTimeout(fn, delayMs);
        return () => clearTimeout(timer);
      },
      random: Math.random,
    });
    this.session.onSignOut(() => {
      sessionStorage.removeItem(REFRESH_TOKEN_KEY);
      this.setMe(null);
    });
  }

  /** The signed-in user, or null. */
  get me(): Me | null {
    return this.currentUser;
  }

  onMeChange(listener: MeListener): () => void {
    this.meListeners.add(listener);
    return () => this.meListeners.delete(listener);
  }

  /** Logs in (with the TOTP code when the account has two-factor on) and loads the user. */
  async logIn(email: string, password: string, totpCode?: string): Promise<Me> {
    const body = totpCode === undefined ? { email, password } : { email, password, totpCode };
    this.signIn(await this.api.publicPost<TokenAnswer>("/v1/auth/login", body));
    return this.reloadMe();
  }

  /** Ends the session on the server, then here (even when the server cannot be reached). */
  async logOut(): Promise<void> {
    try {
      await this.api.v1("POST", "/v1/auth/logout");
    } catch (error) {
      if (!(error instanceof ApiFailure || error instanceof SessionEndedError)) throw error;
    } finally {
      this.session.logout();
    }
  }

  /** Reads /v1/me again (after enabling two-factor, say) and tells the listeners. */
  async reloadMe(): Promise<Me> {
    const me = await this.api.v1<Me>("GET", "/v1/me");
    this.setMe(me);
    return me;
  }

  /** Resumes the tab's session after a reload, if it had one; false when there is none. */
  async resume(): Promise<boolean> {
    const refreshToken = sessionStorage.getItem(REFRESH_TOKEN_KEY);
    if (refreshToken === null) return false;
    try {
      this.session.signIn(await this.refreshTokens(refreshToken));
      await this.reloadMe();
      return true;
    } catch {
      sessionStorage.removeItem(REFRESH_TOKEN_KEY);
      return false;
    }
  }

  private signIn(answer: TokenAnswer): void {
    this.session.signIn(tokensOf(answer));
    sessionStorage.setItem(REFRESH_TOKEN_KEY, answer.refreshToken);
  }

  private async refreshTokens(refreshToken: string): Promise<SessionTokens> {
    try {
      const answer = await this.api.publicPost<TokenAnswer>("/v1/auth/refresh", { refreshToken });
      sessionStorage.setItem(REFRESH_TOKEN_KEY, answer.refreshToken);
      return tokensOf(answer);
    } catch (error) {
      if (error instanceof ApiFailure && error.problem.status === 401) throw new SessionEndedError();
      throw error;
    }
  }

  private setMe(me: Me | null): void {
    this.currentUser = me;
    for (const listener of this.meListeners) listener(me);
  }
}

/** The browser's WebSocket as the connection's `SocketLike`: its handlers take DOM events,
 * of which the connection reads only `data` (a string: the server sends text frames). */
function browserSocket(url: string): SocketLike {
  return new WebSocket(url) as unknown as SocketLike;
}

function tokensOf(answer: TokenAnswer): SessionTokens {
  return { accessToken: answer.accessToken, refreshToken: answer.refreshToken,
           expiresAt: Date.now() + answer.expiresIn * 1000 };
}

export const ServicesContext = createContext<Services | null>(null);

/** The app's services; only inside `<ServicesContext.Provider>`. */
export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (services === null) throw new Error("useServices outside ServicesContext");
  return services;
}

/** The signed-in user, re-rendering on log in and out. */
export function useMe(): Me | null {
  const services = useServices();
  const [me, setMe] = useState(services.me);
  useEffect(() => services.onMeChange(setMe), [services]);
  return me;
}

/** The market streams' connection state, re-rendering on change. */
export function useMarketConnection(): ConnectionState {
  const services = useServices();
  const [state, setState] = useState(services.market.state);
  useEffect(() => {
    setState(services.market.state); // it may have changed before this effect ran
    return services.market.onStateChange(setState);
  }, [services]);
  return state;
}
