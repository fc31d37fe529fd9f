import { describe, expect, it } from "vitest";
import { ErrorCodes, type ApiProblem } from "../../src/lib/apiErrors";
import type { ListedMarket } from "../../src/lib/markets";
import {
  afterDecision,
  apiFieldError,
  assetsOfMarkets,
  compactDetails,
  decimalProblem,
  depositBody,
  formatTime,
  marketChangesBody,
  marketFormOf,
  mergeOlder,
  needsStepUp,
  newAssetBody,
  newMarketBody,
  pageQuery,
  percentToPpm,
  ppmToPercent,
  serverNames,
  stepUpValidUntil,
  thresholdBody,
  type AdminWithdrawal,
  type MarketFormText,
} from "../../src/views/admin/adminForms";

function problem(status: number, code: number, field: string | null = null): ApiProblem {
  return { status, code, message: "", field, retryAfterSeconds: null };
}

const NEW_MARKET: MarketFormText = {
  symbol: "ethusdt", baseAsset: "eth", quoteAsset: "USDT", tickSize: "0.01", stepSize: "0.0001",
  minQty: "0.0001", maxQty: "1000", minNotional: "5", makerFee: "0.1", takerFee: "0.25",
};

/** BTCUSDT in smallest units: BTC at 8 decimals, USDT at 6. */
const BTCUSDT: ListedMarket = {
  status: "TRADING",
  market: {
    symbol: "BTCUSDT", baseAsset: "BTC", quoteAsset: "USDT", baseScale: 8, quoteScale: 6,
    tickSize: 10_000n, lotSize: 10_000n, minQty: 10_000n, maxQty: 100_000_000_000n,
    minNotional: 5_000_000n, makerFeePpm: 0, takerFeePpm: 0,
  },
};

function withdrawal(id: number, status = "PENDING"): AdminWithdrawal {
  return { id, userId: 7, asset: "BTC", amount: "0.50000000", address: "bc1q", status,
           requestedAt: 0, decidedAt: null, firstApprovedBy: null };
}

describe("needsStepUp", () => {
  it("is the 401 TOTP_REQUIRED of require_step_up only", () => {
    expect(needsStepUp(problem(401, ErrorCodes.TOTP_REQUIRED))).toBe(true);
    expect(needsStepUp(problem(401, ErrorCodes.INVALID_TOTP))).toBe(false);
    expect(needsStepUp(problem(401, ErrorCodes.UNAUTHORIZED))).toBe(false);
    expect(needsStepUp(problem(403, ErrorCodes.TOTP_REQUIRED))).toBe(false);
  });
});

describe("stepUpValidUntil", () => {
  it("stops counting on a step-up 15 s before the server's end of it", () => {
    expect(stepUpValidUntil(1_000_000, 300)).toBe(1_285_000);
    expect(stepUpValidUntil(1_000_000, 10)).toBe(1_000_000);
  });
});

describe("apiFieldError", () => {
  it("puts the server's name for a field in words", () => {
    const refused: ApiProblem = { status: 400, code: ErrorCodes.MANDATORY_PARAM_EMPTY_OR_MALFORMED,
      message: "Parameter 'tick_size' must be a multiple of the smallest unit.", field: "tick_size",
      retryAfterSeconds: null };
    expect(apiFieldError(refused, "tickSize", "tick size")).toBe("The tick size must be a multiple of the smallest unit.");
    expect(apiFieldError(refused, "stepSize", "lot size")).toBeNull();
    expect(apiFieldError(null, "tickSize", "tick size")).toBeNull();
  });
});

describe("serverNames", () => {
  it("adds the names the server's own checks use", () => {
    expect(serverNames("tickSize", "symbol")).toEqual(["tickSize", "tick_size", "symbol"]);
    expect(serverNames("makerFee")).toEqual(["makerFee", "makerFeePpm", "maker_fee_ppm"]);
  });
});

describe("fee percent and ppm", () => {
  it("converts exactly, without floats", () => {
    expect(percentToPpm("0.1")).toBe(1000);
    expect(percentToPpm("0.0001")).toBe(1);
    expect(percentToPpm("10")).toBe(100_000);
    expect(ppmToPercent(1000)).toBe("0.1");
    expect(ppmToPercent(2500)).toBe("0.25");
    expect(ppmToPercent(0)).toBe("0");
  });

  it("refuses more than 10 % and fractions of a ppm", () => {
    expect(() => percentToPpm("10.0001")).toThrow(/at most 10 %/);
    expect(() => percentToPpm("0.00001")).toThrow(/decimal places/);
    expect(() => percentToPpm("-1")).toThrow(/negative/);
  });
});

describe("decimalProblem", () => {
  it("names the input in the decimal module's messages", () => {
    expect(decimalProblem("1.5", "Tick size", 2)).toBeNull();
    expect(decimalProblem("1.555", "Tick size", 2)).toBe("Tick size has more than 2 decimal places");
    expect(decimalProblem("1e5", "Amount", undefined)).toMatch(/exponent/);
    expect(decimalProblem("0", "Lot size", 8, true)).toBe("Lot size must be greater than zero");
    expect(decimalProblem(".5", "Amount", 8)).toBe("Amount needs a digit before the decimal point");
  });
});

describe("newMarketBody", () => {
  it("sends filters as decimal strings and fees as ppm, symbols in upper case", () => {
    expect(newMarketBody(NEW_MARKET, { base: 8, quote: 6 })).toEqual({
      ok: true,
      value: {
        symbol: "ETHUSDT", baseAsset: "ETH", quoteAsset: "USDT", tickSize: "0.01",
        stepSize: "0.0001", minQty: "0.0001", maxQty: "1000", minNotional: "5",
        makerFeePpm: 1000, takerFeePpm: 2500,
      },
    });
  });

  it("names each wrong field", () => {
    const checked = newMarketBody({ ...NEW_MARKET, quoteAsset: "eth", tickSize: "0.001", stepSize: "",
      minQty: "5", maxQty: "1", makerFee: "11" }, { base: 8, quote: 2 });
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.errors).toEqual({
      quoteAsset: "The quote asset must differ from the base asset",
      stepSize: "Required",
      tickSize: "Tick size has more than 2 decimal places",
      maxQty: "Maximum quantity must not be below the minimum quantity",
      makerFee: "Fee must be at most 10 %",
    });
  });

  it("checks precision only where the asset's scale is known", () => {
    expect(newMarketBody({ ...NEW_MARKET, tickSize: "0.00000001" }, { base: undefined, quote: undefined }).ok).toBe(true);
  });
});

describe("marketFormOf and marketChangesBody", () => {
  it("shows the current filters trimmed, fees blank when unknown", () => {
    expect(marketFormOf(BTCUSDT, undefined)).toEqual({
      symbol: "BTCUSDT", baseAsset: "BTC", quoteAsset: "USDT", tickSize: "0.01", stepSize: "0.0001",
      minQty: "0.0001", maxQty: "1000", minNotional: "5", makerFee: "", takerFee: "",
    });
    expect(marketFormOf(BTCUSDT, { makerFeePpm: 1000, takerFeePpm: 2000 }).takerFee).toBe("0.2");
  });

  it("sends only what changed", () => {
    const initial = marketFormOf(BTCUSDT, { makerFeePpm: 1000, takerFeePpm: 1000 });
    const form = { ...initial, tickSize: "0.10", minNotional: "5.000", takerFee: "0.2" };
    expect(marketChangesBody(form, initial, { base: 8, quote: 6 }))
      .toEqual({ ok: true, value: { tickSize: "0.10", takerFeePpm: 2000 } });
  });

  it("asks for a change when there is none", () => {
    const initial = marketFormOf(BTCUSDT, undefined);
    expect(marketChangesBody(initial, initial, { base: 8, quote: 6 }))
      .toEqual({ ok: false, errors: { tickSize: "Change at least one filter or fee" } });
  });
});

describe("assetsOfMarkets", () => {
  it("lists each asset once with its scale, by symbol", () => {
    expect([...assetsOfMarkets([BTCUSDT])]).toEqual([["BTC", 8], ["USDT", 6]]);
  });
});

describe("newAssetBody and thresholdBody", () => {
  it("builds the asset with an optional threshold", () => {
    expect(newAssetBody({ symbol: " btc ", scale: "8", name: "Bitcoin", fourEyesThreshold: "" }))
      .toEqual({ ok: true, value: { symbol: "BTC", scale: 8, name: "Bitcoin" } });
    expect(newAssetBody({ symbol: "USDT", scale: "6", name: "", fourEyesThreshold: "100000" }))
      .toEqual({ ok: true, value: { symbol: "USDT", scale: 6, name: "", fourEyesThreshold: "100000" } });
  });

  it("names wrong fields", () => {
    expect(newAssetBody({ symbol: "B-T", scale: "19", name: "", fourEyesThreshold: "1.5" })).toEqual({
      ok: false,
      errors: {
        symbol: "Enter 1 to 20 letters A–Z or digits, like BTC",
        scale: "Enter a whole number of decimals from 0 to 18",
      },
    });
    expect(newAssetBody({ symbol: "X", scale: "0", name: "", fourEyesThreshold: "1.5" }))
      .toEqual({ ok: false, errors: { fourEyesThreshold: "Threshold has more than 0 decimal places" } });
  });

  it("clears the threshold when blank", () => {
    expect(thresholdBody(" ", 8)).toEqual({ ok: true, value: { fourEyesThreshold: null } });
    expect(thresholdBody("10.5", 8)).toEqual({ ok: true, value: { fourEyesThreshold: "10.5" } });
    expect(thresholdBody("abc", 8).ok).toBe(false);
  });
});

describe("depositBody", () => {
  it("builds the credit", () => {
    expect(depositBody({ userId: "42", asset: "usdt", amount: "1000.50", txid: " tx-1 " }, 6))
      .toEqual({ ok: true, value: { userId: 42, asset: "USDT", amount: "1000.50", txid: "tx-1" } });
  });

  it("refuses a zero amount, a bad user id and an empty txid", () => {
    expect(depositBody({ userId: "0", asset: "USDT", amount: "0", txid: "" }, undefined)).toEqual({
      ok: false,
      errors: {
        userId: "Enter the user's id, a whole number like 42",
        amount: "Amount must be greater than zero",
        txid: "Enter the transaction id (1 to 128 characters)",
      },
    });
  });
});

describe("pages and decisions", () => {
  it("asks for older pages by id", () => {
    expect(pageQuery(50, null)).toEqual({ limit: "50" });
    expect(pageQuery(50, 17)).toEqual({ limit: "50", beforeId: "17" });
  });

  it("drops a decided withdrawal and keeps one awaiting a second admin", () => {
    const rows = [withdrawal(1), withdrawal(2)];
    expect(afterDecision(rows, withdrawal(1, "APPROVED")).map((row) => row.id)).toEqual([2]);
    expect(afterDecision(rows, withdrawal(2, "REJECTED")).map((row) => row.id)).toEqual([1]);
    const awaiting = { ...withdrawal(2), firstApprovedBy: 3, state: "AWAITING_SECOND_ADMIN" };
    expect(afterDecision(rows, awaiting)).toEqual([withdrawal(1), awaiting]);
  });

  it("appends an older page without repeating entries", () => {
    expect(mergeOlder([{ id: 9 }, { id: 8 }], [{ id: 8 }, { id: 7 }])).toEqual([{ id: 9 }, { id: 8 }, { id: 7 }]);
  });
});

describe("audit formatting", () => {
  it("shows details as compact JSON", () => {
    expect(compactDetails({ from: "TRADING", to: "HALT" })).toBe('{"from":"TRADING","to":"HALT"}');
    expect(compactDetails({})).toBe("");
    expect(compactDetails(null)).toBe("");
  });

  it("shows times in UTC", () => {
    expect(formatTime(Date.UTC(2026, 11, 6, 19, 17, 34))).toBe("2026-12-06 19:17:34 UTC");
    expect(formatTime(null)).toBe("—");
  });
});
