import { describe, expect, it } from "vitest";
import {
  type ApiProblem,
  BALANCE_FIELD,
  describe as describeProblem,
  fieldOf,
  parseApiError,
} from "../../src/lib/apiErrors";

/** Response headers as fetch's `Headers` offers them (case-insensitive `get`). */
function headers(values: Record<string, string>): { get(name: string): string | null } {
  const lower = new Map(Object.entries(values).map(([name, value]) => [name.toLowerCase(), value]));
  return { get: (name) => lower.get(name.toLowerCase()) ?? null };
}

function problem(overrides: Partial<ApiProblem>): ApiProblem {
  return { status: 400, code: -1000, message: "", field: null, retryAfterSeconds: null, ...overrides };
}

// Messages below are copied from the server (file named next to each).
describe("fieldOf", () => {
  it.each([
    // chalicelib/entrypoints/http/order_routes.py mandatory()
    [-1102, "Parameter 'quantity' was not sent, was empty/null, or malformed.", "quantity"],
    [-1102, "Parameter 'price' was not sent, was empty/null, or malformed.", "price"],
    [-1102, "Parameter 'stopPrice' was not sent, was empty/null, or malformed.", "stopPrice"],
    // order_routes.py not_required()
    [-1106, "Parameter 'quoteOrderQty' sent when not required.", "quoteOrderQty"],
    // order_routes.py amount()
    [-1102, "Parameter 'quantity' must be greater than zero.", "quantity"],
    // chalicelib/domain/money.py parse_units
    [-1111, "Parameter 'price' has too much precision.", "price"],
    [-1102, "Parameter 'quantity' is too large.", "quantity"],
    // chalicelib/entrypoints/http/requests.py validation_error (missing)
    [-1102, "Mandatory parameter 'email' was not sent, was empty/null, or malformed.", "email"],
    // requests.py validation_error (other), with pydantic's message
    [-1102, "Parameter 'password' is invalid: String should have at least 1 character.", "password"],
    // pydantic's nested location of a list item
    [-1102, "Parameter 'ipAllowlist.0' is invalid: Input should be a valid string.", "ipAllowlist"],
    // chalicelib/service_layer/auth.py
    [-1102, "Parameter 'email' is not a valid email address.", "email"],
    [-1102, "Password must be 8 to 128 characters long.", "password"],
    [-5001, "An account with this email already exists.", "email"],
    [-5002, "Email or password is incorrect.", "password"],
    [-5002, "Current password is incorrect.", "currentPassword"],
    [-5003, "A two-factor code is required.", "code"],
    [-5004, "The two-factor code is not valid.", "code"],
    [-1102, "Mandatory parameter 'totpCode' was not sent, was empty/null, or malformed.", "code"],
    // chalicelib/domain/params.py parse_count
    [-1100, "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,19}$'.", "limit"],
    [-1105, "Parameter 'limit' was empty.", "limit"],
    // chalicelib/entrypoints/http/binance_models.py ENUM_ERRORS
    [-1117, "Invalid side.", "side"],
    [-1115, "Invalid timeInForce.", "timeInForce"],
    // chalicelib/domain/wallet.py
    [-1102, "Parameter 'amount' must be positive.", "amount"],
  ])("%i %s → %s", (code, msg, field) => {
    expect(fieldOf(code, msg)).toBe(field);
  });

  it("puts filter failures at the price or the quantity (chalicelib/domain/orders.py)", () => {
    expect(fieldOf(-1013, "Filter failure: PRICE_FILTER")).toBe("price");
    expect(fieldOf(-1013, "Filter failure: LOT_SIZE")).toBe("quantity");
    expect(fieldOf(-1013, "Filter failure: NOTIONAL")).toBe("quantity");
    expect(fieldOf(-1013, "Filter failure: MIN_NOTIONAL")).toBe("quantity");
  });

  it("puts an order refused for lack of funds at the balance (service_layer/orders.py)", () => {
    expect(fieldOf(-2010, "Account has insufficient balance for requested action.")).toBe(BALANCE_FIELD);
    expect(fieldOf(-5009, "Account has insufficient balance for requested action.")).toBe(BALANCE_FIELD);
  });

  it("puts a stop that would trigger at once at the stop price", () => {
    expect(fieldOf(-2010, "Order would trigger immediately.")).toBe("stopPrice");
  });

  it.each([
    [-2010, "Duplicate order sent."],
    [-2010, "Order would immediately match and take."],
    [-1013, "At most 10 API keys."],
    [-1021, "Timestamp for this request is outside of the recvWindow."],
    [-1003, "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."],
    [-1100, "Request body is not valid JSON."],
    [-1103, "An unknown parameter was sent: foo."],
    [-1102, "Parameter 'Idempotency-Key' header was not sent."],
  ])("belongs to no field: %i %s", (code, msg) => {
    expect(fieldOf(code, msg)).toBeNull();
  });
});

describe("parseApiError", () => {
  it("reads the server's {code, msg} and the field it names", () => {
    const parsed = parseApiError(400, { code: -1111, msg: "Parameter 'quantity' has too much precision." });
    expect(parsed).toEqual({
      status: 400,
      code: -1111,
      message: "Parameter 'quantity' has too much precision.",
      field: "quantity",
      retryAfterSeconds: null,
    });
  });

  it("reads a body still in text", () => {
    const parsed = parseApiError(400, '{"code":-1013,"msg":"Filter failure: LOT_SIZE"}');
    expect(parsed.code).toBe(-1013);
    expect(parsed.field).toBe("quantity");
  });

  it("reads Retry-After on a 429 (chalicelib/entrypoints/http/rate_charges.py)", () => {
    const parsed = parseApiError(
      429,
      { code: -1003, msg: "Too many failed logins; try again later." },
      headers({ "Retry-After": "42" }),
    );
    expect(parsed.retryAfterSeconds).toBe(42);
  });

  it("reads Retry-After on a 503 (chalicelib/domain/errors.py unavailable)", () => {
    const parsed = parseApiError(
      503,
      { code: -1001, msg: "Internal error; unable to process your request. Please try again." },
      headers({ "retry-after": "2" }),
    );
    expect(parsed.retryAfterSeconds).toBe(2);
  });

  it("ignores Retry-After on other statuses and in its date form", () => {
    const body = { code: -1000, msg: "An unknown error occurred while processing the request." };
    expect(parseApiError(500, body, headers({ "Retry-After": "5" })).retryAfterSeconds).toBeNull();
    expect(parseApiError(429, body, headers({ "Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT" }))
      .retryAfterSeconds).toBeNull();
  });

  it("tolerates a 5xx without a body", () => {
    const parsed = parseApiError(502, "");
    expect(parsed.code).toBe(-1001);
    expect(parsed.message).toBe("The exchange did not answer; try again.");
    expect(parsed.field).toBeNull();
  });

  it("tolerates an HTML error page", () => {
    const parsed = parseApiError(504, "<html><body>Gateway Timeout</body></html>");
    expect(parsed.message).toBe("The exchange did not answer; try again.");
  });

  it("treats status 0 (no response at all) as no answer", () => {
    expect(parseApiError(0, undefined).message).toBe("The exchange did not answer; try again.");
  });

  it("takes a gateway's {message} and a code from the status", () => {
    const parsed = parseApiError(429, { message: "Too Many Requests" });
    expect(parsed.code).toBe(-1003);
    expect(parsed.message).toBe("Too Many Requests");
  });

  it("says which status refused a 4xx without a body", () => {
    expect(parseApiError(404, null).message).toBe("The exchange refused the request (HTTP 404).");
  });
});

describe("describe", () => {
  it("tells how long to wait after too many requests", () => {
    const parsed = parseApiError(429, {
      code: -1003,
      msg: "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
    }, headers({ "Retry-After": "17" }));
    expect(describeProblem(parsed)).toBe("Too many requests; wait 17 s.");
  });

  it("keeps the reason of a login lock-out and says minutes for long waits", () => {
    const parsed = problem({ status: 429, code: -1003, message: "Too many failed logins; try again later.", retryAfterSeconds: 300 });
    expect(describeProblem(parsed)).toBe("Too many failed logins; wait 5 min.");
  });

  it("says wait a moment when the wait is unknown", () => {
    const parsed = problem({ status: 429, code: -1015, message: "Too many new orders; current limit is 50 orders per 10 SECOND." });
    expect(describeProblem(parsed)).toBe("Too many new orders; wait a moment.");
  });

  it("blames the computer's clock for a timestamp outside the recvWindow", () => {
    const parsed = parseApiError(400, { code: -1021, msg: "Timestamp for this request was 1000ms ahead of the server's time." });
    expect(describeProblem(parsed)).toMatch(/^Your computer's clock is off/);
  });

  it("refuses the API key for -2015", () => {
    const parsed = parseApiError(401, { code: -2015, msg: "Invalid API-key, IP, or permissions for action." });
    expect(describeProblem(parsed)).toBe("This API key is not valid for this action.");
  });

  it("asks to log in again when the session ended (chalicelib/service_layer/auth.py, tokens.py)", () => {
    expect(describeProblem(parseApiError(401, { code: -5007, msg: "Session has ended; log in again." })))
      .toBe("Please log in again.");
    expect(describeProblem(parseApiError(401, { code: -5007, msg: "Access token is invalid or expired; log in or refresh." })))
      .toBe("Please log in again.");
  });

  it("warns that an order whose outcome is unknown may have gone through", () => {
    const parsed = parseApiError(503, {
      code: -1007,
      msg: "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    }, headers({ "Retry-After": "2" }));
    expect(describeProblem(parsed)).toMatch(/may have gone through: check your orders/);
  });

  it("says the exchange is busy when a backend is down, with the wait", () => {
    const parsed = parseApiError(503, {
      code: -1001,
      msg: "Internal error; unable to process your request. Please try again.",
    }, headers({ "Retry-After": "2" }));
    expect(describeProblem(parsed)).toBe("The exchange is busy; wait 2 s and try again.");
  });

  it("names the field in words", () => {
    expect(describeProblem(parseApiError(400, { code: -1111, msg: "Parameter 'stopPrice' has too much precision." })))
      .toBe("The stop price has too many decimal places.");
    expect(describeProblem(parseApiError(400, { code: -1102, msg: "Parameter 'quoteOrderQty' was not sent, was empty/null, or malformed." })))
      .toBe("Enter a valid total.");
    expect(describeProblem(parseApiError(400, { code: -1102, msg: "Parameter 'quantity' must be greater than zero." })))
      .toBe("The quantity must be greater than zero.");
    expect(describeProblem(parseApiError(400, { code: -1106, msg: "Parameter 'price' sent when not required." })))
      .toBe("The price is not used by this kind of order.");
    expect(describeProblem(parseApiError(400, { code: -1102, msg: "Mandatory parameter 'totpCode' was not sent, was empty/null, or malformed." })))
      .toBe("Enter a valid two-factor code.");
  });

  it("keeps a rule the server states about a field", () => {
    const parsed = parseApiError(400, { code: -1102, msg: "Password must be 8 to 128 characters long." });
    expect(parsed.field).toBe("password");
    expect(describeProblem(parsed)).toBe("Password must be 8 to 128 characters long.");
  });

  it("explains the filter an order failed", () => {
    expect(describeProblem(parseApiError(400, { code: -1013, msg: "Filter failure: LOT_SIZE" })))
      .toMatch(/^The quantity is outside the market's range/);
    expect(describeProblem(parseApiError(400, { code: -1013, msg: "Filter failure: NOTIONAL" })))
      .toMatch(/^The order's value/);
  });

  it("says there is not enough balance for the order", () => {
    const parsed = parseApiError(400, { code: -2010, msg: "Account has insufficient balance for requested action." });
    expect(describeProblem(parsed)).toBe("Not enough balance for this order.");
  });

  it("keeps the server's words when they are meant for people", () => {
    const parsed = parseApiError(400, { code: -5010, msg: "Withdrawals are halted while the ledger is checked; nothing was reserved. Try again later." });
    expect(describeProblem(parsed)).toBe("Withdrawals are halted while the ledger is checked; nothing was reserved. Try again later.");
  });

  it("says the exchange did not answer when nothing came back", () => {
    expect(describeProblem(parseApiError(0, undefined))).toBe("The exchange did not answer; try again.");
    expect(describeProblem(parseApiError(500, ""))).toBe("The exchange did not answer; try again.");
  });
});
