import { describe, expect, it } from "vitest";
import {
  refreshMarginMs,
  Session,
  SessionEndedError,
  type SessionTokens,
  type SignOutReason,
  withAuth,
} from "../../src/lib/session";

const START_MS = 1_700_000_000_000;
const LIFETIME_S = 900;

function jwt(claims: Record<string, unknown>): string {
  const encode = (value: unknown): string =>
    btoa(JSON.stringify(value)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${encode({ alg: "HS256", typ: "JWT" })}.${encode(claims)}.signature`;
}

/** An access token issued at `issuedAtMs` for the 15-minute lifetime. */
function accessTokenIssuedAt(issuedAtMs: number, sid = "s1"): string {
  const iat = Math.floor(issuedAtMs / 1000);
  return jwt({ sub: "7", sid, iat, exp: iat + LIFETIME_S });
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve: (value: T) => void = () => undefined;
  let reject: (error: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface Timer {
  at: number;
  fn: () => void;
  cancelled: boolean;
}

/** A fake clock and scheduler, and a refresh endpoint answering when told to. */
function harness() {
  let now = START_MS;
  const timers: Timer[] = [];
  const refreshCalls: string[] = [];
  const answers: Deferred<SessionTokens>[] = [];
  const session = new Session({
    now: () => now,
    schedule: (fn, delayMs) => {
      const timer = { at: now + delayMs, fn, cancelled: false };
      timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    refresh: (refreshToken) => {
      refreshCalls.push(refreshToken);
      const answer = deferred<SessionTokens>();
      answers.push(answer);
      return answer.promise;
    },
  });
  const signOuts: SignOutReason[] = [];
  session.onSignOut((reason) => signOuts.push(reason));
  return {
    session,
    refreshCalls,
    signOuts,
    pendingTimers: () => timers.filter((timer) => !timer.cancelled),
    setClock: (ms: number) => {
      now = START_MS + ms;
    },
    runTimersUntil: (ms: number) => {
      now = START_MS + ms;
      for (const timer of timers.filter((t) => !t.cancelled && t.at <= now)) {
        timer.cancelled = true;
        timer.fn();
      }
    },
    answerRefresh: (index: number, tokens: SessionTokens) => answers[index]?.resolve(tokens),
    failRefresh: (index: number, error: unknown) => answers[index]?.reject(error),
  };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function signedIn() {
  const world = harness();
  const firstToken = accessTokenIssuedAt(START_MS);
  world.session.signIn({ accessToken: firstToken, refreshToken: "s1.r1" });
  return { ...world, firstToken };
}

describe("refresh margin", () => {
  it("is 60 s for the 15-minute tokens and 10 % of shorter lifetimes", () => {
    expect(refreshMarginMs(900_000)).toBe(60_000);
    expect(refreshMarginMs(100_000)).toBe(10_000);
  });
});

describe("Session", () => {
  it("schedules the refresh 60 s before a 15-minute token expires", () => {
    const { pendingTimers } = signedIn();

    expect(pendingTimers().map((timer) => timer.at)).toEqual([START_MS + 840_000]);
  });

  it("uses the token until the refresh time, then the refreshed one", async () => {
    const world = signedIn();
    world.setClock(839_999);
    expect(await world.session.accessToken()).toBe(world.firstToken);
    expect(world.refreshCalls).toEqual([]);

    world.runTimersUntil(840_000);
    expect(world.refreshCalls).toEqual(["s1.r1"]);
    const secondToken = accessTokenIssuedAt(START_MS + 840_000);
    world.answerRefresh(0, { accessToken: secondToken, refreshToken: "s1.r2" });
    await settle();

    expect(await world.session.accessToken()).toBe(secondToken);
    expect(world.pendingTimers().map((timer) => timer.at)).toEqual([START_MS + 1_680_000]);
  });

  it("honours an explicit expiresAt over the token's claims", () => {
    const world = harness();
    world.session.signIn({ accessToken: "opaque", refreshToken: "s1.r1",
                           expiresAt: START_MS + 100_000 });

    expect(world.pendingTimers().map((timer) => timer.at)).toEqual([START_MS + 90_000]);
  });

  it("shares one refresh between concurrent callers", async () => {
    const world = signedIn();
    world.setClock(850_000);
    const callers = [world.session.accessToken(), world.session.accessToken(),
                     world.session.accessToken()];
    world.runTimersUntil(850_000);
    const secondToken = accessTokenIssuedAt(START_MS + 850_000);
    world.answerRefresh(0, { accessToken: secondToken, refreshToken: "s1.r2" });

    expect(await Promise.all(callers)).toEqual([secondToken, secondToken, secondToken]);
    expect(world.refreshCalls).toEqual(["s1.r1"]);
  });

  it("keeps the still-valid token when a refresh fails for a network reason", async () => {
    const world = signedIn();
    world.setClock(850_000);
    const caller = world.session.accessToken();
    world.failRefresh(0, new TypeError("network down"));

    expect(await caller).toBe(world.firstToken);
    expect(world.session.status).toBe("signed-in");
  });

  it("signs out and tells the listener when the refresh token is refused", async () => {
    const world = signedIn();
    world.runTimersUntil(840_000);
    world.failRefresh(0, new SessionEndedError());
    await settle();

    expect(world.session.status).toBe("signed-out");
    expect(world.signOuts).toEqual(["session-ended"]);
    expect(world.pendingTimers()).toEqual([]);
    await expect(world.session.accessToken()).rejects.toBeInstanceOf(SessionEndedError);
  });

  it("cancels the scheduled refresh on logout", async () => {
    const world = signedIn();
    world.session.logout();

    expect(world.pendingTimers()).toEqual([]);
    expect(world.session.status).toBe("signed-out");
    expect(world.signOuts).toEqual(["logout"]);
    world.runTimersUntil(900_000);
    expect(world.refreshCalls).toEqual([]);
    await expect(world.session.accessToken()).rejects.toBeInstanceOf(SessionEndedError);
  });

  it("does not revive the session when a refresh under way answers after logout", async () => {
    const world = signedIn();
    world.runTimersUntil(840_000);
    world.session.logout();
    world.answerRefresh(0, { accessToken: accessTokenIssuedAt(START_MS + 840_000),
                             refreshToken: "s1.r2" });
    await settle();

    expect(world.session.status).toBe("signed-out");
    expect(world.pendingTimers()).toEqual([]);
  });
});

describe("withAuth", () => {
  interface Sent {
    url: string;
    authorization: string | undefined;
    body: string | undefined;
  }

  function recordingFetch(statuses: number[]) {
    const sent: Sent[] = [];
    const doFetch = async (url: string, options: { headers?: Record<string, string>;
                                                   body?: string }) => {
      sent.push({ url, authorization: options.headers?.["Authorization"], body: options.body });
      return { status: statuses[sent.length - 1] ?? 200 };
    };
    return { sent, doFetch };
  }

  it("sends the access token as a Bearer header", async () => {
    const world = signedIn();
    const { sent, doFetch } = recordingFetch([200]);

    const response = await withAuth(world.session, doFetch)("/v1/balances");

    expect(response.status).toBe(200);
    expect(sent).toEqual([{ url: "/v1/balances", authorization: `Bearer ${world.firstToken}`,
                            body: undefined }]);
  });

  it("refreshes once and retries once on 401, then gives up", async () => {
    const world = signedIn();
    const { sent, doFetch } = recordingFetch([401, 401]);
    const secondToken = accessTokenIssuedAt(START_MS, "s1-rotated");

    const pending = withAuth(world.session, doFetch)("/v1/withdrawals",
      { method: "POST", body: '{"asset":"BTC","amount":"0.5"}' });
    await settle();
    world.answerRefresh(0, { accessToken: secondToken, refreshToken: "s1.r2" });
    const response = await pending;

    expect(response.status).toBe(401);
    expect(world.refreshCalls).toEqual(["s1.r1"]);
    expect(sent.map((request) => request.authorization))
      .toEqual([`Bearer ${world.firstToken}`, `Bearer ${secondToken}`]);
    expect(sent[1]?.body).toBe('{"asset":"BTC","amount":"0.5"}');
  });

  it("returns a 401 that does not reject the token (a wrong two-factor code) unretried", async () => {
    const world = signedIn();
    const { sent, doFetch } = recordingFetch([401]);

    const response = await withAuth(world.session, doFetch, async () => false)(
      "/v1/withdrawals", { method: "POST", body: '{"totpCode":"123456"}' });

    expect(response.status).toBe(401);
    expect(sent).toHaveLength(1);
    expect(world.refreshCalls).toEqual([]);
  });

  it("answers the retried request when the refreshed token is accepted", async () => {
    const world = signedIn();
    const { doFetch } = recordingFetch([401, 200]);

    const pending = withAuth(world.session, doFetch)("/v1/balances");
    await settle();
    world.answerRefresh(0, { accessToken: accessTokenIssuedAt(START_MS, "s2"),
                             refreshToken: "s1.r2" });

    expect((await pending).status).toBe(200);
  });

  it("rejects with SessionEndedError when the refresh after a 401 is refused", async () => {
    const world = signedIn();
    const { sent, doFetch } = recordingFetch([401]);

    const pending = withAuth(world.session, doFetch)("/v1/balances");
    await settle();
    world.failRefresh(0, new SessionEndedError());

    await expect(pending).rejects.toBeInstanceOf(SessionEndedError);
    expect(sent).toHaveLength(1);
    expect(world.signOuts).toEqual(["session-ended"]);
  });
});
