/**
 * The API's errors in words, next to the form field that caused them.
 *
 * Both APIs (Binance's /api/v3 and the web app's /v1) answer a refusal with an HTTP
 * 4xx/5xx and a `{code, msg}` body (chalicelib/domain/errors.py). The field is read from
 * the server's own messages: validation errors name the parameter in quotes
 * ("Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.",
 * "Parameter 'price' has too much precision."), and the codes that name none are mapped
 * here (filter failures, insufficient balance, the account codes -5001..-5004).
 *
 * Field names are the request's camelCase parameter names, with two choices:
 * - every two-factor code input is "code" (the API calls it `code` when enrolling and
 *   `totpCode` elsewhere), so a form has one name for it;
 * - "Filter failure: NOTIONAL" (and Binance's MIN_NOTIONAL) is "quantity": the message
 *   does not say how the order was sized, and the quantity is what a trader changes to
 *   reach the minimum value; a form sized by quote amount shows "quantity" problems at
 *   its amount input.
 */

/** An API refusal, read from the response: what the client can show and act on. */
export interface ApiProblem {
  status: number;
  code: number;
  message: string;
  field: string | null;
  retryAfterSeconds: number | null;
}

/** The codes of chalicelib/domain/errors.py this module treats specially. */
export const ErrorCodes = {
  UNKNOWN: -1000,
  DISCONNECTED: -1001,
  UNAUTHORIZED: -1002,
  TOO_MANY_REQUESTS: -1003,
  BACKEND_TIMEOUT: -1007,
  FILTER_FAILURE: -1013,
  TOO_MANY_ORDERS: -1015,
  INVALID_TIMESTAMP: -1021,
  INVALID_SIGNATURE: -1022,
  ILLEGAL_CHARS: -1100,
  MANDATORY_PARAM_EMPTY_OR_MALFORMED: -1102,
  PARAM_NOT_REQUIRED: -1106,
  BAD_PRECISION: -1111,
  INVALID_TIME_IN_FORCE: -1115,
  INVALID_ORDER_TYPE: -1116,
  INVALID_SIDE: -1117,
  BAD_SYMBOL: -1121,
  NEW_ORDER_REJECTED: -2010,
  BAD_API_KEY_FMT: -2014,
  REJECTED_MBX_KEY: -2015,
  EMAIL_TAKEN: -5001,
  INVALID_CREDENTIALS: -5002,
  TOTP_REQUIRED: -5003,
  INVALID_TOTP: -5004,
  INVALID_TOKEN: -5007,
  INSUFFICIENT_BALANCE: -5009,
} as const;

/** The pseudo-field of a refusal for lack of funds: no input fixes it, the balance does. */
export const BALANCE_FIELD = "balance";

/** The one field name of every two-factor code input. */
export const TOTP_FIELD = "code";

const NO_ANSWER_MESSAGE = "The exchange did not answer; try again.";
const INSUFFICIENT_BALANCE_MESSAGE = "Account has insufficient balance for requested action.";
const RETRY_AFTER_STATUSES = new Set([429, 503]);
const DELTA_SECONDS = /^\s*(\d{1,9})\s*$/;

const FILTER_FIELDS: Readonly<Record<string, string>> = {
  PRICE_FILTER: "price",
  LOT_SIZE: "quantity",
  NOTIONAL: "quantity",
  MIN_NOTIONAL: "quantity",
};

const ENUM_FIELDS: Readonly<Record<number, string>> = {
  [ErrorCodes.INVALID_TIME_IN_FORCE]: "timeInForce",
  [ErrorCodes.INVALID_ORDER_TYPE]: "type",
  [ErrorCodes.INVALID_SIDE]: "side",
  [ErrorCodes.BAD_SYMBOL]: "symbol",
  [ErrorCodes.EMAIL_TAKEN]: "email",
  [ErrorCodes.TOTP_REQUIRED]: TOTP_FIELD,
  [ErrorCodes.INVALID_TOTP]: TOTP_FIELD,
  [ErrorCodes.INSUFFICIENT_BALANCE]: BALANCE_FIELD,
};

/** The parameter a validation message names in quotes; pydantic's nested locations
 * ("ipAllowlist.0") are reduced to the top-level parameter. */
const QUOTED_PARAMETER = /parameter '([A-Za-z][A-Za-z0-9_]*)(?:\.[^']*)?'/i;
const FILTER_NAME = /^Filter failure: ([A-Z_]+)/;

function namedParameter(msg: string): string | null {
  const name = QUOTED_PARAMETER.exec(msg)?.[1];
  if (name === undefined || name === "body") return null;
  return name === "totpCode" ? TOTP_FIELD : name;
}

function filterField(msg: string): string | null {
  const filter = FILTER_NAME.exec(msg)?.[1];
  return filter === undefined ? null : FILTER_FIELDS[filter] ?? null;
}

function rejectedOrderField(msg: string): string | null {
  if (msg === INSUFFICIENT_BALANCE_MESSAGE) return BALANCE_FIELD;
  if (msg === "Order would trigger immediately.") return "stopPrice";
  return null;
}

function credentialsField(msg: string): string {
  return msg.startsWith("Current password") ? "currentPassword" : "password";
}

/** Which form field a refusal belongs to, or null when it belongs to the whole form
 * (see the module comment for the names). */
export function fieldOf(code: number, msg: string): string | null {
  if (code === ErrorCodes.FILTER_FAILURE) return filterField(msg);
  if (code === ErrorCodes.NEW_ORDER_REJECTED) return rejectedOrderField(msg);
  if (code === ErrorCodes.INVALID_CREDENTIALS) return credentialsField(msg);
  const enumField = ENUM_FIELDS[code];
  if (enumField !== undefined) return enumField;
  if (msg.startsWith("Password must be")) return "password";
  return namedParameter(msg);
}

function parsedBody(body: unknown): unknown {
  if (typeof body !== "string") return body;
  try {
    return JSON.parse(body);
  } catch {
    return null;
  }
}

function stringProperty(record: object, key: string): string | null {
  const value: unknown = (record as Record<string, unknown>)[key];
  return typeof value === "string" && value.trim() !== "" ? value : null;
}

function integerProperty(record: object, key: string): number | null {
  const value: unknown = (record as Record<string, unknown>)[key];
  return typeof value === "number" && Number.isInteger(value) ? value : null;
}

/** The code a body without one stands for: gateways and proxies answer in their own
 * shapes (API Gateway's `{"message": "Too Many Requests"}`), or not at all. */
function codeOfStatus(status: number): number {
  if (status === 429) return ErrorCodes.TOO_MANY_REQUESTS;
  if (status === 401) return ErrorCodes.UNAUTHORIZED;
  if (status === 0 || status === 502 || status === 503 || status === 504) {
    return ErrorCodes.DISCONNECTED;
  }
  return ErrorCodes.UNKNOWN;
}

function messageOfStatus(status: number): string {
  if (status === 0 || status >= 500) return NO_ANSWER_MESSAGE;
  if (status === 429) return "Too many requests.";
  return `The exchange refused the request (HTTP ${status}).`;
}

function retryAfterSeconds(status: number, headers?: { get(name: string): string | null }): number | null {
  if (!RETRY_AFTER_STATUSES.has(status) || headers === undefined) return null;
  const seconds = DELTA_SECONDS.exec(headers.get("Retry-After") ?? "")?.[1];
  return seconds === undefined ? null : Number(seconds);
}

/** An error response as an `ApiProblem`. `body` is the parsed JSON or the raw text (or
 * nothing: status 0 stands for "no response"); a body without `{code, msg}` gets a code
 * from the status. Retry-After is read, in seconds, for 429 and 503 (its HTTP-date
 * form is ignored: the server sends seconds). */
export function parseApiError(
  status: number,
  body: unknown,
  headers?: { get(name: string): string | null },
): ApiProblem {
  const parsed = parsedBody(body);
  const record = typeof parsed === "object" && parsed !== null ? parsed : null;
  const serverMessage = record === null ? null : stringProperty(record, "msg")
    ?? stringProperty(record, "message") ?? stringProperty(record, "Message");
  const code = (record === null ? null : integerProperty(record, "code")) ?? codeOfStatus(status);
  const message = serverMessage ?? messageOfStatus(status);
  return {
    status,
    code,
    message,
    field: serverMessage === null ? null : fieldOf(code, serverMessage),
    retryAfterSeconds: retryAfterSeconds(status, headers),
  };
}

const FIELD_WORDS: Readonly<Record<string, string>> = {
  quoteOrderQty: "total",
  stopPrice: "stop price",
  timeInForce: "time in force",
  email: "email address",
  currentPassword: "current password",
  newPassword: "new password",
  [TOTP_FIELD]: "two-factor code",
  ipAllowlist: "IP allow-list",
};

function wordsFor(field: string): string {
  return FIELD_WORDS[field] ?? field;
}

const FILTER_SENTENCES: Readonly<Record<string, string>> = {
  PRICE_FILTER: "The price is outside the market's range or not a multiple of its tick size.",
  LOT_SIZE: "The quantity is outside the market's range or not a multiple of its step size.",
  NOTIONAL: "The order's value (price × quantity) is below the market's minimum or above its maximum.",
  MIN_NOTIONAL: "The order's value (price × quantity) is below the market's minimum.",
};

function waitWords(seconds: number | null): string {
  if (seconds === null) return "wait a moment";
  if (seconds < 120) return `wait ${seconds} s`;
  return `wait ${Math.ceil(seconds / 60)} min`;
}

/** "Too many failed logins; try again later." keeps its lead; the weight limit's
 * "Too much request weight used; ..." is said as too many requests. */
function tooManyLead(message: string): string {
  return message.startsWith("Too many ") ? message.split(";")[0]?.replace(/\.$/, "") ?? message
    : "Too many requests";
}

function describeInvalidParameter(problem: ApiProblem, field: string): string | null {
  const words = wordsFor(field);
  const detail = /^(?:Mandatory parameter|Parameter) '[^']*' (.*)$/.exec(problem.message)?.[1];
  if (detail === undefined) return null;
  if (/was not sent|was empty|malformed/.test(detail)) return `Enter a valid ${words}.`;
  return `The ${words} ${detail}`;
}

function describeFieldProblem(problem: ApiProblem, field: string): string | null {
  switch (problem.code) {
    case ErrorCodes.MANDATORY_PARAM_EMPTY_OR_MALFORMED:
      return describeInvalidParameter(problem, field);
    case ErrorCodes.BAD_PRECISION:
      return `The ${wordsFor(field)} has too many decimal places.`;
    case ErrorCodes.PARAM_NOT_REQUIRED:
      return `The ${wordsFor(field)} is not used by this kind of order.`;
    case ErrorCodes.ILLEGAL_CHARS:
      return `The ${wordsFor(field)} contains characters that are not allowed.`;
    default:
      return null;
  }
}

function describeByCode(problem: ApiProblem): string | null {
  switch (problem.code) {
    case ErrorCodes.TOO_MANY_REQUESTS:
    case ErrorCodes.TOO_MANY_ORDERS:
      return `${tooManyLead(problem.message)}; ${waitWords(problem.retryAfterSeconds)}.`;
    case ErrorCodes.INVALID_TIMESTAMP:
      return "Your computer's clock is off; set it to update automatically and try again.";
    case ErrorCodes.INVALID_SIGNATURE:
      return "The request's signature is not valid; check the API secret.";
    case ErrorCodes.BAD_API_KEY_FMT:
    case ErrorCodes.REJECTED_MBX_KEY:
      return "This API key is not valid for this action.";
    case ErrorCodes.UNAUTHORIZED:
    case ErrorCodes.INVALID_TOKEN:
      return "Please log in again.";
    case ErrorCodes.TOTP_REQUIRED:
      return "Enter the code from your authenticator app.";
    case ErrorCodes.INSUFFICIENT_BALANCE:
      return "Not enough balance for this.";
    case ErrorCodes.BACKEND_TIMEOUT:
      return "The exchange did not confirm in time, so the order may have gone through: check your orders before sending it again.";
    case ErrorCodes.DISCONNECTED:
      return problem.status === 0 || problem.message === NO_ANSWER_MESSAGE
        ? NO_ANSWER_MESSAGE
        : `The exchange is busy; ${waitWords(problem.retryAfterSeconds)} and try again.`;
    default:
      return null;
  }
}

function describeFilterFailure(problem: ApiProblem): string | null {
  const filter = FILTER_NAME.exec(problem.message)?.[1];
  return filter === undefined ? null : FILTER_SENTENCES[filter] ?? null;
}

function describeRejectedOrder(problem: ApiProblem): string | null {
  return problem.message === INSUFFICIENT_BALANCE_MESSAGE
    ? "Not enough balance for this order."
    : null;
}

/** A short sentence for people; the server's own message when nothing better is known
 * (the /v1 messages are written for people already). */
export function describe(problem: ApiProblem): string {
  const byField = problem.field === null ? null : describeFieldProblem(problem, problem.field);
  return byField
    ?? (problem.code === ErrorCodes.FILTER_FAILURE ? describeFilterFailure(problem) : null)
    ?? (problem.code === ErrorCodes.NEW_ORDER_REJECTED ? describeRejectedOrder(problem) : null)
    ?? describeByCode(problem)
    ?? problem.message;
}
