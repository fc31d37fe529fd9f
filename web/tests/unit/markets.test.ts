import { describe, expect, it } from "vitest";
import type { Market } from "../../src/lib/orderForm";
import {
  changePercent,
  listedMarketsFromExchangeInfo,
  MarketList,
  MarketShapeError,
  marketsFromExchangeInfo,
  withCommission,
} from "../../src/lib/markets";

/** BTCUSDT as the server's exchangeInfo prints it (tests/e2e/conftest.py `btcusdt`). */
function btcusdtInfo(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    symbol: "BTCUSDT", status: "TRADING", baseAsset: "BTC", baseAssetPrecision: 8,
    quoteAsset: "USDT", quotePrecision: 6, quoteAssetPrecision: 6,
    orderTypes: ["LIMIT", "LIMIT_MAKER", "MARKET"],
    filters: [
      { filterType: "PRICE_FILTER", minPrice: "0.010000", maxPrice: "0.000000", tickSize: "0.010000" },
      { filterType: "LOT_SIZE", minQty: "0.00010000", maxQty: "1000.00000000", stepSize: "0.00010000" },
      { filterType: "MARKET_LOT_SIZE", minQty: "0.00010000", maxQty: "1000.00000000", stepSize: "0.00010000" },
      { filterType: "NOTIONAL", minNotional: "5.000000", applyMinToMarket: true,
        maxNotional: "99999999999999999999999999999999.999999", applyMaxToMarket: false, avgPriceMins: 5 },
    ],
    ...overrides,
  };
}

function ethbtcInfo(status: string): Record<string, unknown> {
  return btcusdtInfo({ symbol: "ETHBTC", status, baseAsset: "ETH", quoteAsset: "BTC",
    quoteAssetPrecision: 8, filters: [
      { filterType: "PRICE_FILTER", tickSize: "0.00001000" },
      { filterType: "LOT_SIZE", minQty: "0.00100000", maxQty: "100000.00000000", stepSize: "0.00100000" },
    ] });
}

function exchangeInfo(...symbols: unknown[]): unknown {
  return { timezone: "UTC", serverTime: 1, rateLimits: [], exchangeFilters: [], symbols };
}

const BTCUSDT: Market = {
  symbol: "BTCUSDT", baseAsset: "BTC", quoteAsset: "USDT", baseScale: 8, quoteScale: 6,
  tickSize: 10_000n, lotSize: 10_000n, minQty: 10_000n, maxQty: 100_000_000_000n,
  minNotional: 5_000_000n, makerFeePpm: 1000, takerFeePpm: 2000,
};

const RATES = { BTCUSDT: { makerPpm: 1000, takerPpm: 2000 } };

function commission(maker: string, taker: string, symbol = "BTCUSDT"): unknown {
  const zero = { maker: "0.00000000", taker: "0.00000000", buyer: "0.00000000", seller: "0.00000000" };
  return { symbol, standardCommission: { ...zero, maker, taker }, specialCommission: zero,
    taxCommission: zero, discount: { enabledForAccount: false, enabledForSymbol: false,
      discountAsset: "", discount: "0.00000000" } };
}

function expectShapeError(run: () => unknown, message: RegExp): void {
  expect(run).toThrow(MarketShapeError);
  expect(run).toThrow(message);
}

describe("marketsFromExchangeInfo", () => {
  it("reads the server's BTCUSDT as the order form's market, amounts in smallest units", () => {
    expect(marketsFromExchangeInfo(exchangeInfo(btcusdtInfo()), RATES)).toEqual([BTCUSDT]);
  });

  it("leaves fees at 0 until the account's rates are known", () => {
    const [market] = marketsFromExchangeInfo(exchangeInfo(btcusdtInfo()));
    expect([market?.makerFeePpm, market?.takerFeePpm]).toEqual([0, 0]);
  });

  it("falls back to quotePrecision and to Binance's MIN_NOTIONAL filter", () => {
    const info = btcusdtInfo({ quoteAssetPrecision: undefined, filters: [
      { filterType: "PRICE_FILTER", tickSize: "0.01" },
      { filterType: "LOT_SIZE", minQty: "0.0001", maxQty: "1000", stepSize: "0.0001" },
      { filterType: "MIN_NOTIONAL", minNotional: "5" },
    ] });
    expect(marketsFromExchangeInfo(exchangeInfo(info), RATES)).toEqual([BTCUSDT]);
  });

  it("takes no notional filter as no minimum", () => {
    const [market] = marketsFromExchangeInfo(exchangeInfo(ethbtcInfo("TRADING")));
    expect(market?.minNotional).toBe(0n);
    expect(market?.tickSize).toBe(1000n);
  });

  it("keeps each market's status", () => {
    const listed = listedMarketsFromExchangeInfo(exchangeInfo(btcusdtInfo(), ethbtcInfo("HALT")));
    expect(listed.map((l) => [l.market.symbol, l.status])).toEqual([["BTCUSDT", "TRADING"], ["ETHBTC", "HALT"]]);
  });

  it("rejects a tick finer than the quote asset's scale, naming symbol and field", () => {
    const info = btcusdtInfo({ filters: [
      { filterType: "PRICE_FILTER", tickSize: "0.0000001" },
      { filterType: "LOT_SIZE", minQty: "0.0001", maxQty: "1000", stepSize: "0.0001" },
    ] });
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(info)), /BTCUSDT: PRICE_FILTER\.tickSize/);
  });

  it("rejects a zero step size", () => {
    const info = btcusdtInfo({ filters: [
      { filterType: "PRICE_FILTER", tickSize: "0.01" },
      { filterType: "LOT_SIZE", minQty: "0.0001", maxQty: "1000", stepSize: "0.00000000" },
    ] });
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(info)), /BTCUSDT: LOT_SIZE\.stepSize must be greater than zero/);
  });

  it("rejects a market without a LOT_SIZE filter", () => {
    const info = btcusdtInfo({ filters: [{ filterType: "PRICE_FILTER", tickSize: "0.01" }] });
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(info)), /BTCUSDT: no LOT_SIZE filter/);
  });

  it("rejects a missing or non-integer precision", () => {
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(btcusdtInfo({ baseAssetPrecision: "8" }))),
      /BTCUSDT: baseAssetPrecision/);
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(btcusdtInfo({ quoteAssetPrecision: 6.5 }))),
      /BTCUSDT: quoteAssetPrecision/);
  });

  it("rejects a numeric amount, which would have lost precision as a float", () => {
    const info = btcusdtInfo({ filters: [
      { filterType: "PRICE_FILTER", tickSize: 0.01 },
      { filterType: "LOT_SIZE", minQty: "0.0001", maxQty: "1000", stepSize: "0.0001" },
    ] });
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(info)), /BTCUSDT: PRICE_FILTER\.tickSize is missing/);
  });

  it("rejects an answer without a symbols list or an entry without a symbol", () => {
    expectShapeError(() => marketsFromExchangeInfo({}), /symbols is not a list/);
    expectShapeError(() => marketsFromExchangeInfo(exchangeInfo(btcusdtInfo({ symbol: 7 }))),
      /symbols\[0\]: symbol is missing/);
  });
});

describe("withCommission", () => {
  const feeless = { ...BTCUSDT, makerFeePpm: 0, takerFeePpm: 0 };

  it("converts the account's 8-decimal rates to ppm exactly", () => {
    expect(withCommission(feeless, commission("0.00100000", "0.00200000"))).toEqual(BTCUSDT);
  });

  it("adds special and tax commission to the standard one", () => {
    const answer = commission("0.00100000", "0.00200000") as Record<string, unknown>;
    answer["taxCommission"] = { maker: "0.00000500", taker: "0.00050000" };
    const market = withCommission(feeless, answer);
    expect([market.makerFeePpm, market.takerFeePpm]).toEqual([1005, 2500]);
  });

  it("refuses a rate finer than a ppm instead of rounding it", () => {
    expectShapeError(() => withCommission(feeless, commission("0.00000001", "0.00200000")),
      /BTCUSDT: commission maker "0.00000001"/);
  });

  it("refuses another market's answer and a rate above 100 %", () => {
    expectShapeError(() => withCommission(feeless, commission("0.001", "0.002", "ETHBTC")), /for ETHBTC/);
    expectShapeError(() => withCommission(feeless, commission("0.001", "1.50000000")), /exceeds 100 %/);
  });
});

describe("changePercent", () => {
  it("computes the server's three-decimal percent, half away from zero", () => {
    expect(changePercent("20000.000000", "20500.000000")).toBe("2.500");
    expect(changePercent("30000.000000", "29000.000000")).toBe("-3.333");
    // 1/6 % is 0.1666..., 2/3 of a thousandth: rounds up in both directions.
    expect(changePercent("600.00", "601.00")).toBe("0.167");
    expect(changePercent("600.00", "599.00")).toBe("-0.167");
    // Exactly half a thousandth: 0.0005 % of 200000 is 1.
    expect(changePercent("200000", "200001")).toBe("0.001");
  });

  it("is zero without an open price", () => {
    expect(changePercent("0.000000", "100.000000")).toBe("0.000");
  });
});

describe("MarketList", () => {
  const listed = listedMarketsFromExchangeInfo(exchangeInfo(btcusdtInfo(), ethbtcInfo("HALT")));

  function snapshotEntry(symbol: string, quoteVolume: string, closeTime = 1000): unknown {
    return { symbol, priceChange: "100.000000", priceChangePercent: "0.500", lastPrice: "20100.000000",
      highPrice: "20200.000000", lowPrice: "19900.000000", volume: "1.00000000", quoteVolume, closeTime };
  }

  it("lists every market, halted ones flagged, prices unknown before a ticker", () => {
    const rows = new MarketList(listed).rows();
    expect(rows.map((r) => [r.symbol, r.status, r.halted, r.lastPrice])).toEqual([
      ["BTCUSDT", "TRADING", false, null], ["ETHBTC", "HALT", true, null]]);
  });

  it("shows the REST snapshot", () => {
    const list = new MarketList(listed);
    list.applySnapshot([snapshotEntry("BTCUSDT", "20100.000000")]);
    expect(list.rows()[0]).toEqual({ symbol: "BTCUSDT", lastPrice: "20100.000000",
      priceChangePercent: "0.500", high: "20200.000000", low: "19900.000000",
      quoteVolume: "20100.000000", status: "TRADING", halted: false });
  });

  it("updates from a 24hrTicker event, keeping the server's signed percent", () => {
    const list = new MarketList(listed);
    list.applySnapshot([snapshotEntry("BTCUSDT", "20100.000000")]);
    list.applyEvent({ e: "24hrTicker", E: 2000, s: "BTCUSDT", p: "-500.000000", P: "-2.500",
      c: "19500.000000", o: "20000.000000", h: "20200.000000", l: "19400.000000",
      v: "2.00000000", q: "39600.000000" });
    const row = list.rows()[0];
    expect([row?.lastPrice, row?.priceChangePercent, row?.low, row?.quoteVolume])
      .toEqual(["19500.000000", "-2.500", "19400.000000", "39600.000000"]);
  });

  it("computes the percent of a 24hrMiniTicker from its open and close", () => {
    const list = new MarketList(listed);
    list.applyEvent([{ e: "24hrMiniTicker", E: 2000, s: "BTCUSDT", c: "29000.000000",
      o: "30000.000000", h: "30000.000000", l: "28900.000000", v: "1.00000000", q: "29000.000000" }]);
    expect(list.rows()[0]?.priceChangePercent).toBe("-3.333");
  });

  it("ignores a snapshot older than the event already shown", () => {
    const list = new MarketList(listed);
    list.applyEvent({ e: "24hrMiniTicker", E: 5000, s: "BTCUSDT", c: "21000.000000",
      o: "20000.000000", h: "21000.000000", l: "20000.000000", v: "1.00000000", q: "21000.000000" });
    list.applySnapshot(snapshotEntry("BTCUSDT", "20100.000000", 4000));
    expect(list.rows()[0]?.lastPrice).toBe("21000.000000");
  });

  it("ignores tickers of markets it does not list, and follows a new exchangeInfo's halt", () => {
    const list = new MarketList(listed);
    list.applySnapshot([snapshotEntry("BTCUSDT", "1"), snapshotEntry("XRPUSDT", "2")]);
    list.setMarkets(listedMarketsFromExchangeInfo(exchangeInfo(btcusdtInfo({ status: "HALT" }))));
    expect(list.rows().map((r) => [r.symbol, r.halted, r.quoteVolume])).toEqual([["BTCUSDT", true, "1"]]);
  });

  it("sorts by quote volume exactly, largest first, markets without a ticker last", () => {
    const three = listedMarketsFromExchangeInfo(exchangeInfo(
      btcusdtInfo(), ethbtcInfo("TRADING"), btcusdtInfo({ symbol: "BNBUSDT" }), btcusdtInfo({ symbol: "ADAUSDT" })));
    const list = new MarketList(three);
    // Differ only in the 18th significant digit: a float would call them equal.
    list.applySnapshot([snapshotEntry("BTCUSDT", "1000000000000.000001"),
      snapshotEntry("ETHBTC", "1000000000000.000002"), snapshotEntry("BNBUSDT", "999.5")]);
    expect(list.rows("quoteVolume").map((r) => r.symbol)).toEqual(["ETHBTC", "BTCUSDT", "BNBUSDT", "ADAUSDT"]);
    expect(list.rows("symbol").map((r) => r.symbol)).toEqual(["ADAUSDT", "BNBUSDT", "BTCUSDT", "ETHBTC"]);
  });

  it("rejects an event with a malformed price, naming the symbol", () => {
    const list = new MarketList(listed);
    expectShapeError(() => list.applyEvent({ e: "24hrTicker", E: 1, s: "BTCUSDT", c: 20000, P: "0.000",
      h: "1", l: "1", q: "1" }), /BTCUSDT: c is not a decimal string/);
  });
});
