/**
 * Where the API and the WebSocket streams are, read at runtime: the built app fetches
 * `config.json` next to its index.html (served by `exchange up` locally, from the S3
 * bucket in AWS), so one build runs in every environment.
 *
 * config.json: `{"apiBaseUrl": "...", "wsBaseUrl": "...", "environment": "..."}`, every
 * key optional. URLs may be absolute or relative to the page ("/api"); without them the
 * API is the page's origin and the streams are the page's origin with http→ws, https→wss.
 * An unknown key is refused rather than ignored: a misspelt "apiBaseURL" would otherwise
 * send the app to the page's origin and fail far from the cause.
 */

/** The runtime configuration; URLs without a trailing slash. */
export interface AppConfig {
  apiBaseUrl: string;
  wsBaseUrl: string;
  environment: string;
}

/** Where config.json is fetched from: relative, next to index.html. */
export const CONFIG_PATH = "config.json";

/** The environment's name when config.json does not give one. */
export const DEFAULT_ENVIRONMENT = "unknown";

const KNOWN_KEYS = ["apiBaseUrl", "wsBaseUrl", "environment"] as const;
const HTTP_SCHEMES = ["http:", "https:"];
const WS_SCHEMES = ["ws:", "wss:"];
/** Characters that would end or split a stream name inside `?streams=a/b`. */
const STREAM_NAME = /^[A-Za-z0-9@_.\-!]+$/;

function configError(key: string, problem: string): Error {
  return new Error(`config.json: "${key}" ${problem}`);
}

function pageOriginUrl(pageOrigin: string): URL {
  const url = URL.canParse(pageOrigin) ? new URL(pageOrigin) : null;
  if (url === null || !HTTP_SCHEMES.includes(url.protocol)) {
    throw new Error(`page origin "${pageOrigin}" is not an http(s) URL`);
  }
  return new URL(url.origin);
}

function withoutTrailingSlashes(url: URL): string {
  return url.href.replace(/\/+$/, "");
}

function asWebSocket(url: URL): URL {
  const converted = new URL(url.href);
  converted.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return converted;
}

function optionalString(record: Record<string, unknown>, key: string): string | null {
  const value = record[key];
  if (value === undefined || value === null) return null;
  if (typeof value !== "string") throw configError(key, `must be a string, not ${typeof value}`);
  if (value.trim() === "") throw configError(key, "must not be empty");
  return value.trim();
}

function isRelative(text: string): boolean {
  return !/^[A-Za-z][A-Za-z0-9+.-]*:/.test(text);
}

/** `text` as an absolute URL of one of `schemes`; a relative one is resolved against
 * the page (and made a WebSocket URL when `schemes` are ws/wss). */
function baseUrl(key: string, text: string, page: URL, schemes: readonly string[]): URL {
  if (!isRelative(text) && !URL.canParse(text)) throw configError(key, `is not a URL: "${text}"`);
  const resolved = new URL(text, page);
  const url = isRelative(text) && schemes === WS_SCHEMES ? asWebSocket(resolved) : resolved;
  if (!schemes.includes(url.protocol)) {
    throw configError(key, `must be a ${schemes.join("/")} URL, not "${text}"`);
  }
  if (url.search !== "" || url.hash !== "") {
    throw configError(key, `must not have a query or fragment: "${text}"`);
  }
  if (page.protocol === "https:" && (url.protocol === "http:" || url.protocol === "ws:")) {
    throw configError(key, `is insecure ("${text}") but the page is https: the browser would block it`);
  }
  return url;
}

function checkKnownKeys(record: Record<string, unknown>): void {
  const unknown = Object.keys(record).find((key) => !(KNOWN_KEYS as readonly string[]).includes(key));
  if (unknown !== undefined) {
    throw configError(unknown, `is not a known key (known: ${KNOWN_KEYS.join(", ")})`);
  }
}

/** The configuration in `json` (config.json's content) for a page at `pageOrigin`;
 * throws an Error naming the bad key. */
export function parseConfig(json: unknown, pageOrigin: string): AppConfig {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Error("config.json must hold a JSON object");
  }
  const record = json as Record<string, unknown>;
  checkKnownKeys(record);
  const page = pageOriginUrl(pageOrigin);
  const api = optionalString(record, "apiBaseUrl");
  const ws = optionalString(record, "wsBaseUrl");
  return {
    apiBaseUrl: withoutTrailingSlashes(api === null ? page : baseUrl("apiBaseUrl", api, page, HTTP_SCHEMES)),
    wsBaseUrl: withoutTrailingSlashes(ws === null ? asWebSocket(page) : baseUrl("wsBaseUrl", ws, page, WS_SCHEMES)),
    environment: optionalString(record, "environment") ?? DEFAULT_ENVIRONMENT,
  };
}

async function fetchOrNull(fetchJson: (path: string) => Promise<unknown>): Promise<unknown> {
  try {
    return await fetchJson(CONFIG_PATH);
  } catch {
    return null;
  }
}

/** The configuration from config.json, fetched with `fetchJson`; when it is missing
 * (`fetchJson` throws or returns null, e.g. on a 404 or an HTML fallback page), the
 * defaults for the page. A config.json that is there but wrong throws. */
export async function loadConfig(
  fetchJson: (path: string) => Promise<unknown>,
  pageOrigin: string,
): Promise<AppConfig> {
  const json = await fetchOrNull(fetchJson);
  return parseConfig(json ?? {}, pageOrigin);
}

/** Query parameters of an API call; undefined ones are left out, amounts are decimal strings. */
export type QueryParams = Readonly<Record<string, string | number | boolean | undefined>>;

/** The URL of the API's `path` ("/api/v3/order") with `query` encoded in its key order. */
export function apiUrl(config: AppConfig, path: string, query?: QueryParams): string {
  if (!path.startsWith("/")) throw new Error(`API path must start with "/": "${path}"`);
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.append(name, String(value));
  }
  const search = params.toString();
  return `${config.apiBaseUrl}${path}${search === "" ? "" : `?${search}`}`;
}

/** The combined-streams URL for `streams` ("btcusdt@trade"), whose messages are
 * `{stream, data}`; without streams, a bare connection to SUBSCRIBE on later. The names
 * go in the query of the base URL itself, not in a Binance path (`/stream`): API
 * Gateway's WebSocket API answers only on its stage's URL. */
export function streamUrl(config: AppConfig, streams: readonly string[]): string {
  const bad = streams.find((name) => !STREAM_NAME.test(name));
  if (bad !== undefined) throw new Error(`not a stream name: "${bad}"`);
  const base = `${config.wsBaseUrl}?combined=true`;
  return streams.length === 0 ? base : `${base}&streams=${streams.join("/")}`;
}
