import { describe, expect, it } from "vitest";
import {
  balanceRows,
  intentFor,
  scalesOfMarkets,
  smallestAmount,
  statusWords,
  withdrawalAmountProblem,
  withdrawalFingerprint,
} from "../../src/views/wallet/walletModel";
import type { Market } from "../../src/lib/orderForm";

const BTCUSDT: Market = {
  symbol: "BTCUSDT", baseAsset: "BTC", quoteAsset: "USDT", baseScale: 8, quoteScale: 2,
  tickSize: 1n, lotSize: 1n, minQty: 1n, maxQty: 100n, minNotional: 0n, makerFeePpm: 0, takerFeePpm: 0,
};

describe("balances", () => {
  it("takes each asset's scale from the markets", () => {
    expect(scalesOfMarkets([BTCUSDT])).toEqual(new Map([["BTC", 8], ["USDT", 2]]));
  });

  it("lists held and tradable assets, with totals at the asset's scale", () => {
    const rows = balanceRows([{ asset: "USDT", free: "10.50", locked: "2.25" }], scalesOfMarkets([BTCUSDT]));
    expect(rows).toEqual([
      { asset: "BTC", scale: 8, available: "0.00000000", locked: "0.00000000", total: "0.00000000" },
      { asset: "USDT", scale: 2, available: "10.50", locked: "2.25", total: "12.75" },
    ]);
  });

  it("reads the scale of an asset without a market from how the server wrote it", () => {
    const rows = balanceRows([{ asset: "ETH", free: "1.000000", locked: "0.000000" }], new Map());
    expect(rows[0]).toMatchObject({ asset: "ETH", scale: 6, total: "1.000000" });
  });

  it("adds free and locked exactly, without floats", () => {
    const rows = balanceRows([{ asset: "BTC", free: "0.10000000", locked: "0.20000000" }], new Map([["BTC", 8]]));
    expect(rows[0]?.total).toBe("0.30000000");
  });
});

describe("withdrawal amount", () => {
  it("accepts an amount within the balance at the asset's scale", () => {
    expect(withdrawalAmountProblem("0.5", 8, "1.00000000")).toBeNull();
    expect(withdrawalAmountProblem("1", 8, "1.00000000")).toBeNull();
  });

  it("refuses more decimals than the asset has", () => {
    expect(withdrawalAmountProblem("0.001", 2, null)).toBe("Amount has more than 2 decimal places.");
  });

  it("refuses text that is not an amount", () => {
    expect(withdrawalAmountProblem("1e3", 8, null)).toMatch(/exponent/);
    expect(withdrawalAmountProblem("", 8, null)).toBe("Amount is empty.");
  });

  it("refuses zero", () => {
    expect(withdrawalAmountProblem("0.00", 2, null)).toBe("Amount must be greater than zero.");
  });

  it("refuses more than is available", () => {
    expect(withdrawalAmountProblem("1.00000001", 8, "1.00000000")).toBe("Amount is more than the 1.00000000 available.");
  });

  it("writes the smallest amount of a scale", () => {
    expect(smallestAmount(8)).toBe("0.00000001");
    expect(smallestAmount(0)).toBe("1");
  });
});

describe("withdrawal idempotency key", () => {
  let counter = 0;
  const newKey = (): string => `key-${++counter}`;

  it("keeps the key while the request is the same, so a repeat counts once", () => {
    const first = intentFor(null, withdrawalFingerprint("BTC", "addr", "1"), newKey);
    const again = intentFor(first, withdrawalFingerprint("BTC", " addr ", "1 "), newKey);
    expect(again.key).toBe(first.key);
  });

  it("makes a new key when the request changes", () => {
    const first = intentFor(null, withdrawalFingerprint("BTC", "addr", "1"), newKey);
    const other = intentFor(first, withdrawalFingerprint("BTC", "addr", "2"), newKey);
    expect(other.key).not.toBe(first.key);
  });
});

describe("withdrawal status", () => {
  it("says each status in words and keeps unknown ones", () => {
    expect(statusWords("APPROVED")).toMatch(/^Approved/);
    expect(statusWords("PENDING")).toMatch(/^Pending/);
    expect(statusWords("REJECTED")).toMatch(/^Rejected/);
    expect(statusWords("OTHER")).toBe("OTHER");
  });
});
