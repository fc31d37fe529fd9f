import { describe, expect, it } from "vitest";
import type { Market } from "../../src/lib/orderForm";
import {
  amountForShare,
  availableOf,
  averagePrice,
  bookRowsOf,
  changeDirection,
  emptyOrderForm,
  orderDraftOf,
  orderParamsOf,
  orderTypesBySymbol,
  priceDecimals,
  priceText,
  quantityDecimals,
  quantityText,
  spreadOf,
  stopPriceProblem,
  stopTypesOf,
  type OrderFormValues,
} from "../../src/views/trade/tradeLogic";

const BTCUSDT: Market = {
  symbol: "BTCUSDT",
  baseAsset: "BTC",
  quoteAsset: "USDT",
  baseScale: 8,
  quoteScale: 8,
  tickSize: 1_000_000n, // 0.01
  lotSize: 1000n, // 0.00001
  minQty: 1000n,
  maxQty: 900_000_000_000n,
  minNotional: 500_000_000n, // 5
  makerFeePpm: 1000,
  takerFeePpm: 1000,
};

function form(patch: Partial<OrderFormValues>): OrderFormValues {
  return { ...emptyOrderForm("BUY"), ...patch };
}

describe("orderParamsOf", () => {
  it("sends a GTC limit order with price and quantity", () => {
    expect(orderParamsOf("BTCUSDT", form({ price: "20000", amount: "0.5" }))).toEqual({
      symbol: "BTCUSDT", side: "BUY", type: "LIMIT", timeInForce: "GTC", quantity: "0.5",
      quoteOrderQty: undefined, price: "20000", stopPrice: undefined, newOrderRespType: "RESULT",
    });
  });

  it("sends a market order by total as quoteOrderQty without price or time in force", () => {
    const params = orderParamsOf("BTCUSDT", form({ kind: "MARKET", marketSizing: "total", price: "1",
      amount: "2", total: "100" }));
    expect(params).toMatchObject({ type: "MARKET", quoteOrderQty: "100", quantity: undefined,
      price: undefined, timeInForce: undefined });
  });

  it("sends a post-only order as LIMIT_MAKER without time in force", () => {
    expect(orderParamsOf("BTCUSDT", form({ kind: "LIMIT_MAKER", price: "1", amount: "1", timeInForce: "IOC" })))
      .toMatchObject({ type: "LIMIT_MAKER", timeInForce: undefined });
  });

  it("sends a stop-limit order with its stop price and time in force", () => {
    expect(orderParamsOf("BTCUSDT", form({ kind: "STOP_LIMIT", stopType: "TAKE_PROFIT_LIMIT",
      price: "1", amount: "1", stopPrice: " 2 ", timeInForce: "FOK" })))
      .toMatchObject({ type: "TAKE_PROFIT_LIMIT", stopPrice: "2", timeInForce: "FOK" });
  });

  it("leaves blank inputs out of the draft", () => {
    expect(orderDraftOf(form({ price: " ", amount: "" }))).toEqual({ side: "BUY", type: "LIMIT" });
  });
});

describe("stopPriceProblem", () => {
  it("is null for other kinds and for a price on the tick grid", () => {
    expect(stopPriceProblem(BTCUSDT, form({ stopPrice: "x" }))).toBeNull();
    expect(stopPriceProblem(BTCUSDT, form({ kind: "STOP_LIMIT", stopPrice: "20000.01" }))).toBeNull();
  });

  it("names an empty, malformed, zero or off-tick stop price", () => {
    expect(stopPriceProblem(BTCUSDT, form({ kind: "STOP_LIMIT" }))).toBe("Enter a stop price");
    expect(stopPriceProblem(BTCUSDT, form({ kind: "STOP_LIMIT", stopPrice: "1e5" }))).toMatch(/^Stop price must not use an exponent/);
    expect(stopPriceProblem(BTCUSDT, form({ kind: "STOP_LIMIT", stopPrice: "0" }))).toBe("Stop price must be greater than zero");
    expect(stopPriceProblem(BTCUSDT, form({ kind: "STOP_LIMIT", stopPrice: "1.001" })))
      .toBe("Stop price must be a multiple of 0.01 USDT");
  });
});

describe("amountForShare", () => {
  const available = { BTC: 123_456_789n, USDT: 100_000_000_000n }; // 1.23456789 BTC, 1000 USDT

  it("sells a share of the base balance, down to the lot size", () => {
    expect(amountForShare(BTCUSDT, form({ side: "SELL" }), available, 50))
      .toEqual({ field: "amount", value: "0.61728" });
  });

  it("buys what a share of the quote balance pays for at the price", () => {
    expect(amountForShare(BTCUSDT, form({ price: "30000" }), available, 100))
      .toEqual({ field: "amount", value: "0.03333" });
    expect(amountForShare(BTCUSDT, form({ price: "abc" }), available, 100)).toBeNull();
    expect(amountForShare(BTCUSDT, form({ price: "" }), available, 100)).toBeNull();
  });

  it("fills a MARKET buy's total, and knows no share for a MARKET buy by amount", () => {
    expect(amountForShare(BTCUSDT, form({ kind: "MARKET", marketSizing: "total" }), available, 25))
      .toEqual({ field: "total", value: "250" });
    expect(amountForShare(BTCUSDT, form({ kind: "MARKET" }), available, 25)).toBeNull();
    expect(amountForShare(BTCUSDT, form({ kind: "MARKET", side: "SELL" }), available, 100))
      .toEqual({ field: "amount", value: "1.23456" });
  });
});

describe("availableOf", () => {
  it("reads free balances as smallest units, unknown ones as zero", () => {
    const balances = availableOf(BTCUSDT, (asset) => asset === "USDT"
      ? { asset, free: "1000.50000000", locked: "1.00000000" } : undefined);
    expect(balances).toEqual({ BTC: 0n, USDT: 100_050_000_000n });
  });
});

describe("bookRowsOf and spreadOf", () => {
  it("formats levels at the tick's and lot's decimals, the total rounded down", () => {
    expect(bookRowsOf(BTCUSDT, [["20000.50000000", "0.25000000"]])).toEqual([{
      rawPrice: "20000.5", price: "20000.50", amount: "0.25000", total: "5000.12",
    }]);
  });

  it("is the best ask minus the best bid, null with an empty side", () => {
    expect(spreadOf(BTCUSDT, { asks: [["101.5", "1"]], bids: [["100", "1"]] })).toBe("1.50");
    expect(spreadOf(BTCUSDT, { asks: [], bids: [["100", "1"]] })).toBeNull();
  });
});

describe("priceText and quantityText", () => {
  it("show a market's prices at its tick's decimals and amounts at its lot's", () => {
    expect(priceDecimals(BTCUSDT)).toBe(2);
    expect(quantityDecimals(BTCUSDT)).toBe(5);
    expect(priceText(BTCUSDT, "59658.38000000")).toBe("59658.38");
    expect(quantityText(BTCUSDT, "0.00160000")).toBe("0.00160");
    expect(priceText(BTCUSDT, "not a number")).toBe("not a number");
  });
});

describe("averagePrice", () => {
  it("divides exactly and rounds down at the quote scale", () => {
    expect(averagePrice("30000.00000000", "1.50000000", 2)).toBe("20000.00");
    expect(averagePrice("10.00000000", "3.00000000", 4)).toBe("3.3333");
  });

  it("is null when nothing was executed", () => {
    expect(averagePrice("0.00000000", "0.00000000", 8)).toBeNull();
  });
});

describe("changeDirection", () => {
  it("reads the sign, zero being neither", () => {
    expect(changeDirection("1.250")).toBe("up");
    expect(changeDirection("-0.010")).toBe("down");
    expect(changeDirection("0.000")).toBe("");
    expect(changeDirection("-0.000")).toBe("");
    expect(changeDirection(null)).toBe("");
  });
});

describe("orderTypesBySymbol and stopTypesOf", () => {
  it("reads each symbol's order types and the stop-limit ones offered", () => {
    const types = orderTypesBySymbol({ symbols: [
      { symbol: "BTCUSDT", orderTypes: ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"] },
      { symbol: "BROKEN" },
    ] });
    expect(types).toEqual({ BTCUSDT: ["LIMIT", "MARKET", "STOP_LOSS_LIMIT"] });
    expect(stopTypesOf(types["BTCUSDT"] ?? [])).toEqual(["STOP_LOSS_LIMIT"]);
    expect(orderTypesBySymbol(null)).toEqual({});
  });
});
