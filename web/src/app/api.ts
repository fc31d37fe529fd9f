/**
 * The one HTTP client of the views: public market data, the /v1 JSON API and the
 * Binance-shaped /api/v3 account and order routes, the last two with the session's bearer
 * token (refreshed and retried once on a 401 by `withAuth`). Every refusal becomes an
 * `ApiFailure` carrying the parsed `ApiProblem`, so a view shows it next to its field.
 */
import { describe, ErrorCodes, parseApiError, type ApiProblem } from "../lib/apiErrors";
import { apiUrl, type AppConfig, type QueryParams } from "../lib/config";
import { SessionEndedError, withAuth, type AuthRequestOptions, type Session } from "../lib/session";

/** A refusal from the API (or no answer at all: status 0), in words for people. */
export class ApiFailure extends Error {
  constructor(readonly problem: ApiProblem) {
    super(describe(problem));
    this.name = "ApiFailure";
  }
}

type Fetch = (url: string, options: AuthRequestOptions) => Promise<Response>;

const JSON_HEADERS = { "Content-Type": "application/json" };

async function answerOf<T>(response: Response): Promise<T> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === "" ? null : JSON.parse(text);
  } catch {
    // Not JSON (a proxy's error page): parseApiError reads the status instead.
  }
  if (!response.ok) throw new ApiFailure(parseApiError(response.status, body, response.headers));
  return body as T;
}

async function sent(request: Promise<Response>): Promise<Response> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof SessionEndedError) throw error;
    throw new ApiFailure(parseApiError(0, null));
  }
}

/** The codes of a refused access token (missing, expired, session ended): only these are
 * worth a refresh and a retry; a wrong two-factor code (-5004) or a missing step-up
 * (-5003) is the user's to fix, and a retry would count twice against the lockout. */
const TOKEN_REJECTIONS: ReadonlySet<number> = new Set([ErrorCodes.UNAUTHORIZED, ErrorCodes.INVALID_TOKEN]);

async function rejectsToken(response: Response): Promise<boolean> {
  if (response.status !== 401) return false;
  try {
    const body: unknown = await response.clone().json();
    return TOKEN_REJECTIONS.has(parseApiError(401, body).code);
  } catch {
    return true;
  }
}

/** Calls the exchange's HTTP API for the views. */
export class ApiClient {
  private readonly authed: (url: string, options?: AuthRequestOptions) => Promise<Response>;

  constructor(
    private readonly config: AppConfig,
    session: Session,
    private readonly fetchFn: Fetch = (url, options) => fetch(url, options),
  ) {
    this.authed = withAuth(session, this.fetchFn, rejectsToken);
  }

  /** A public route (market data): no token. */
  async publicGet<T>(path: string, query?: QueryParams): Promise<T> {
    return answerOf<T>(await sent(this.fetchFn(apiUrl(this.config, path, query), { method: "GET" })));
  }

  /** A public /v1 route with a JSON body (signup, login, refresh): no token. */
  async publicPost<T>(path: string, body: object): Promise<T> {
    const options = { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) };
    return answerOf<T>(await sent(this.fetchFn(apiUrl(this.config, path), options)));
  }

  /** A /v1 route as the signed-in user, with an optional JSON body. */
  async v1<T>(method: string, path: string, body?: object, headers: Record<string, string> = {}): Promise<T> {
    const options: AuthRequestOptions = body === undefined
      ? { method, headers }
      : { method, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
    return answerOf<T>(await sent(this.authed(apiUrl(this.config, path), options)));
  }

  /** A Binance-shaped /api/v3 route as the signed-in user, its parameters in the query
   * string (Binance takes them there for every method). */
  async account<T>(method: string, path: string, params?: QueryParams): Promise<T> {
    return answerOf<T>(await sent(this.authed(apiUrl(this.config, path, params), { method })));
  }
}
