import { describe, expect, it } from "vitest";
import { type Market, type OrderDraft, previewOrder } from "../../src/lib/orderForm";

/** BTCUSDT as tests/e2e/conftest.py creates it: BTC 8 decimals, USDT 6, tick 0.01 USDT,
 *  step 0.0001 BTC, max 1000 BTC, min notional 5 USDT, fees 0.1 % maker / 0.2 % taker. */
const BTCUSDT: Market = {
  symbol: "BTCUSDT",
  baseAsset: "BTC",
  quoteAsset: "USDT",
  baseScale: 8,
  quoteScale: 6,
  tickSize: 10_000n,
  lotSize: 10_000n,
  minQty: 10_000n,
  maxQty: 100_000_000_000n,
  minNotional: 5_000_000n,
  makerFeePpm: 1000,
  takerFeePpm: 2000,
};

const RICH = { BTC: 10_000_000_000n, USDT: 1_000_000_000_000n }; // 100 BTC, 1,000,000 USDT

function preview(draft: OrderDraft, available: Record<string, bigint> = RICH, market = BTCUSDT) {
  return previewOrder(market, draft, available);
}

function problemsOf(draft: OrderDraft, available: Record<string, bigint> = RICH, market = BTCUSDT) {
  return preview(draft, available, market).problems.map((p) => [p.field, p.reason]);
}

describe("what an order locks", () => {
  it("a LIMIT buy locks the notional in quote", () => {
    const result = preview({ side: "BUY", type: "LIMIT", price: "20000.01", quantity: "0.5" });
    expect(result.lock).toEqual({ asset: "USDT", amount: 10_000_005_000n, wholeBalance: false });
    expect(result.problems).toEqual([]);
  });

  it("a stop-limit buy locks like a LIMIT buy", () => {
    const result = preview({ side: "BUY", type: "STOP_LOSS_LIMIT", price: "100", quantity: "2" });
    expect(result.lock).toEqual({ asset: "USDT", amount: 200_000_000n, wholeBalance: false });
  });

  it("a sell locks its quantity in base", () => {
    const result = preview({ side: "SELL", type: "LIMIT", price: "20000", quantity: "0.25" });
    expect(result.lock).toEqual({ asset: "BTC", amount: 25_000_000n, wholeBalance: false });
  });

  it("a MARKET buy by total locks that total", () => {
    const result = preview({ side: "BUY", type: "MARKET", quoteOrderQty: "100.5" });
    expect(result.lock).toEqual({ asset: "USDT", amount: 100_500_000n, wholeBalance: false });
    expect(result.receive).toBeNull();
    expect(result.fee).toEqual({ asset: "BTC", maxAmount: null, ratePpm: 2000 });
    expect(result.problems).toEqual([]);
  });

  it("a MARKET buy by quantity locks the whole available quote as its spend cap", () => {
    const result = preview({ side: "BUY", type: "MARKET", quantity: "0.1" });
    expect(result.lock).toEqual({ asset: "USDT", amount: RICH.USDT, wholeBalance: true });
    expect(result.receive).toEqual({ asset: "BTC", amount: 10_000_000n });
    expect(result.problems).toEqual([]);
  });

  it("a MARKET sell by total locks the whole available base", () => {
    const result = preview({ side: "SELL", type: "MARKET", quoteOrderQty: "100" });
    expect(result.lock).toEqual({ asset: "BTC", amount: RICH.BTC, wholeBalance: true });
    expect(result.receive).toBeNull();
  });
});

describe("fees", () => {
  it("a buyer pays the taker rate in base on the quantity", () => {
    const result = preview({ side: "BUY", type: "LIMIT", price: "20000", quantity: "0.5" });
    expect(result.receive).toEqual({ asset: "BTC", amount: 50_000_000n });
    expect(result.fee).toEqual({ asset: "BTC", maxAmount: 100_000n, ratePpm: 2000 });
  });

  it("a seller pays in quote on the notional, rounded up", () => {
    // 0.0001 BTC at 50000.01 USDT is 5.000001 USDT; 0.2 % of it is 0.010000002 USDT.
    const result = preview({ side: "SELL", type: "LIMIT", price: "50000.01", quantity: "0.0001" });
    expect(result.receive).toEqual({ asset: "USDT", amount: 5_000_001n });
    expect(result.fee).toEqual({ asset: "USDT", maxAmount: 10_001n, ratePpm: 2000 });
  });

  it("a post-only order pays the maker rate", () => {
    const market = { ...BTCUSDT, makerFeePpm: 1234 };
    const result = preview({ side: "BUY", type: "LIMIT_MAKER", price: "20000", quantity: "0.0001" },
      RICH, market);
    // 0.1234 % of 10,000 units is 12.34: 13.
    expect(result.fee).toEqual({ asset: "BTC", maxAmount: 13n, ratePpm: 1234 });
  });

  it("a MARKET order pays the taker rate", () => {
    expect(preview({ side: "BUY", type: "MARKET", quantity: "1" }).fee)
      .toEqual({ asset: "BTC", maxAmount: 200_000n, ratePpm: 2000 });
  });
});

describe("the market's filters, each on its field", () => {
  it("a price off the tick", () => {
    expect(problemsOf({ side: "BUY", type: "LIMIT", price: "20000.001", quantity: "1" }))
      .toEqual([["price", "PRICE_OFF_TICK"]]);
    const message = preview({ side: "BUY", type: "LIMIT", price: "20000.001", quantity: "1" })
      .problems[0]?.message;
    expect(message).toBe("Price must be a multiple of 0.01 USDT");
  });

  it("a quantity off the lot", () => {
    expect(problemsOf({ side: "SELL", type: "LIMIT", price: "20000", quantity: "0.00015" }))
      .toEqual([["quantity", "QTY_OFF_LOT"]]);
  });

  it("a quantity under the minimum", () => {
    const market = { ...BTCUSDT, minQty: 100_000n };
    expect(problemsOf({ side: "SELL", type: "LIMIT", price: "20000", quantity: "0.0009" }, RICH, market))
      .toEqual([["quantity", "QTY_TOO_SMALL"]]);
  });

  it("a quantity over the maximum, for a MARKET order too", () => {
    expect(problemsOf({ side: "SELL", type: "MARKET", quantity: "1000.0001" }, { BTC: 10n ** 20n }))
      .toEqual([["quantity", "QTY_TOO_LARGE"]]);
  });

  it("a LIMIT total under the minimum notional, on the quantity", () => {
    const result = preview({ side: "BUY", type: "LIMIT", price: "49999.99", quantity: "0.0001" });
    expect(result.problems).toEqual([{ field: "quantity", reason: "NOTIONAL_TOO_SMALL",
      message: "Order total must be at least 5 USDT" }]);
  });

  it("a MARKET total under the minimum notional, on the total", () => {
    expect(problemsOf({ side: "BUY", type: "MARKET", quoteOrderQty: "4.999999" }))
      .toEqual([["quoteOrderQty", "NOTIONAL_TOO_SMALL"]]);
  });

  it("a total the ledger cannot hold", () => {
    const market = { ...BTCUSDT, maxQty: 10n ** 30n };
    expect(problemsOf({ side: "SELL", type: "LIMIT", price: "100000000000000000000",
      quantity: "1000000000000000" }, { BTC: 10n ** 30n }, market))
      .toEqual([["quantity", "NOTIONAL_TOO_LARGE"]]);
  });
});

describe("inputs the server would not parse", () => {
  it("text that is not a number, on its field", () => {
    expect(problemsOf({ side: "BUY", type: "LIMIT", price: "abc", quantity: "1" }))
      .toEqual([["price", "MALFORMED"]]);
  });

  it("more decimals than the asset has", () => {
    const result = preview({ side: "BUY", type: "LIMIT", price: "20000", quantity: "0.000000001" });
    expect(result.problems).toEqual([{ field: "quantity", reason: "BAD_PRECISION",
      message: "Amount has more than 8 decimal places" }]);
  });

  it("a zero quantity", () => {
    expect(problemsOf({ side: "SELL", type: "LIMIT", price: "20000", quantity: "0.0" }))
      .toEqual([["quantity", "MALFORMED"]]);
  });

  it("a LIMIT order without a price", () => {
    expect(problemsOf({ side: "BUY", type: "LIMIT", price: " ", quantity: "1" }))
      .toEqual([["price", "MALFORMED"]]);
  });

  it("an order without a size", () => {
    expect(problemsOf({ side: "BUY", type: "MARKET" })).toEqual([["quantity", "MALFORMED"]]);
  });

  it("a price or total the order type does not take", () => {
    expect(problemsOf({ side: "BUY", type: "MARKET", price: "20000", quantity: "1" }))
      .toEqual([["price", "NOT_REQUIRED"]]);
    expect(problemsOf({ side: "BUY", type: "LIMIT", price: "20000", quantity: "1",
      quoteOrderQty: "20000" })).toEqual([["quoteOrderQty", "NOT_REQUIRED"]]);
    expect(problemsOf({ side: "BUY", type: "MARKET", quantity: "1", quoteOrderQty: "20000" }))
      .toEqual([["quoteOrderQty", "NOT_REQUIRED"]]);
  });
});

describe("balance", () => {
  const draft: OrderDraft = { side: "BUY", type: "LIMIT", price: "20000", quantity: "0.5" };

  it("a lock up to the available balance is fine", () => {
    expect(preview(draft, { USDT: 10_000_000_000n }).problems).toEqual([]);
  });

  it("a lock over the available balance is refused, saying how much is missing", () => {
    const result = preview(draft, { USDT: 9_999_999_999n });
    expect(result.problems).toEqual([{ field: "balance", reason: "INSUFFICIENT_BALANCE",
      message: "Insufficient balance: the buy needs 10000 USDT, 9999.999999 USDT available" }]);
  });

  it("an asset without a balance counts as none", () => {
    expect(problemsOf({ side: "SELL", type: "LIMIT", price: "20000", quantity: "0.5" }, {}))
      .toEqual([["balance", "INSUFFICIENT_BALANCE"]]);
  });

  it("a whole-balance MARKET order with nothing available is refused", () => {
    const result = preview({ side: "BUY", type: "MARKET", quantity: "0.1" }, { USDT: 0n });
    expect(result.lock).toEqual({ asset: "USDT", amount: 0n, wholeBalance: true });
    expect(result.problems.map((p) => p.field)).toEqual(["balance"]);
  });

  it("is not judged while the inputs sizing the lock have problems", () => {
    expect(problemsOf({ side: "BUY", type: "LIMIT", price: "20000.001", quantity: "0.5" }, {}))
      .toEqual([["price", "PRICE_OFF_TICK"]]);
  });
});
