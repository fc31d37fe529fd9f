import { describe, expect, it } from "vitest";
import { addDecimals } from "../../src/lib/decimal";
import {
  AccountState,
  type AccountSnapshot,
  type BalanceUpdateEvent,
  type ExecutionReportEvent,
  type OpenOrder,
  type OutboundAccountPositionEvent,
} from "../../src/lib/accountState";

const SNAPSHOT_TIME = 1_700_000_000_000;

function account(updateTime = SNAPSHOT_TIME): AccountSnapshot {
  return {
    updateTime,
    balances: [
      { asset: "USDT", free: "1000.00000000", locked: "0.00000000" },
      { asset: "BNB", free: "0.00000000", locked: "0.00000000" },
      { asset: "BTC", free: "0.10000000", locked: "0.00000000" },
    ],
  };
}

function restOrder(orderId: number, overrides: Partial<OpenOrder> = {}): OpenOrder {
  return {
    symbol: "BTCUSDT",
    orderId,
    clientOrderId: `web-${orderId}`,
    side: "BUY",
    type: "LIMIT",
    price: "20000.00000000",
    origQty: "1.00000000",
    executedQty: "0.00000000",
    cummulativeQuoteQty: "0.00000000",
    status: "NEW",
    timeInForce: "GTC",
    stopPrice: "0.00000000",
    time: SNAPSHOT_TIME - 5000,
    updateTime: SNAPSHOT_TIME - 5000,
    ...overrides,
  };
}

/** A report as the server's `execution_reports` builds it, for order 7 unless told. */
function report(overrides: Partial<ExecutionReportEvent>): ExecutionReportEvent {
  return {
    e: "executionReport",
    E: SNAPSHOT_TIME + 1000,
    s: "BTCUSDT",
    c: "web-7",
    S: "BUY",
    o: "LIMIT",
    f: "GTC",
    q: "1.00000000",
    p: "20000.00000000",
    P: "0.00000000",
    x: "NEW",
    X: "NEW",
    i: 7,
    l: "0.00000000",
    z: "0.00000000",
    L: "0.00000000",
    n: "0",
    N: null,
    T: SNAPSHOT_TIME + 1000,
    t: -1,
    m: false,
    O: SNAPSHOT_TIME + 1000,
    Z: "0.00000000",
    Y: "0.00000000",
    ...overrides,
  };
}

/** A TRADE report of order 7 at 20000: this fill and the order's totals after it. */
function trade(tradeId: number, lastQty: string, cumulativeQty: string, status: string, time: number) {
  const quotes: Record<string, string> = {
    "0.40000000": "8000.00000000",
    "0.60000000": "12000.00000000",
    "1.00000000": "20000.00000000",
  };
  const quoteOf = (qty: string) => quotes[qty] ?? "0.00000000";
  return report({
    x: "TRADE",
    X: status,
    t: tradeId,
    l: lastQty,
    z: cumulativeQty,
    L: "20000.00000000",
    Y: quoteOf(lastQty),
    Z: quoteOf(cumulativeQty),
    n: "0.00040000",
    N: "BTC",
    m: true,
    T: time,
    E: time,
  });
}

function position(time: number, assets: [string, string, string][]): OutboundAccountPositionEvent {
  return {
    e: "outboundAccountPosition",
    E: time,
    u: time,
    B: assets.map(([a, f, l]) => ({ a, f, l })),
  };
}

function deposit(asset: string, delta: string, time: number): BalanceUpdateEvent {
  return { e: "balanceUpdate", E: time, a: asset, d: delta, T: time };
}

function loaded(orders: OpenOrder[] = [restOrder(3)]): AccountState {
  const state = new AccountState();
  state.loadSnapshot(account(), orders);
  return state;
}

describe("AccountState orders", () => {
  it("shows the snapshot's open orders and then a NEW order, newest first", () => {
    const state = loaded();
    expect(state.applyEvent(report({}))).toBe(true);

    expect(state.openOrders().map((o) => [o.orderId, o.status, o.origQty])).toEqual([
      [7, "NEW", "1.00000000"],
      [3, "NEW", "1.00000000"],
    ]);
    expect(state.openOrders("ETHUSDT")).toEqual([]);
  });

  it("updates a partially filled order and records the fill", () => {
    const state = loaded();
    state.applyEvent(report({}));
    const partial = trade(501, "0.40000000", "0.40000000", "PARTIALLY_FILLED", SNAPSHOT_TIME + 2000);
    expect(state.applyEvent(partial)).toBe(true);

    const order = state.openOrders().find((o) => o.orderId === 7);
    expect(order?.status).toBe("PARTIALLY_FILLED");
    expect(order?.executedQty).toBe("0.40000000");
    expect(state.recentFills(10)).toEqual([
      {
        symbol: "BTCUSDT",
        orderId: 7,
        tradeId: 501,
        side: "BUY",
        price: "20000.00000000",
        qty: "0.40000000",
        quoteQty: "8000.00000000",
        commission: "0.00040000",
        commissionAsset: "BTC",
        isMaker: true,
        time: SNAPSHOT_TIME + 2000,
      },
    ]);
  });

  it("removes an order its last fill completes, keeping both fills newest first", () => {
    const state = loaded();
    state.applyEvent(report({}));
    state.applyEvent(trade(501, "0.40000000", "0.40000000", "PARTIALLY_FILLED", SNAPSHOT_TIME + 2000));
    state.applyEvent(trade(502, "0.60000000", "1.00000000", "FILLED", SNAPSHOT_TIME + 3000));

    expect(state.openOrders().map((o) => o.orderId)).toEqual([3]);
    expect(state.recentFills(10).map((f) => [f.tradeId, f.qty])).toEqual([
      [502, "0.60000000"],
      [501, "0.40000000"],
    ]);
    expect(state.recentFills(1).map((f) => f.tradeId)).toEqual([502]);
  });

  it("removes a canceled snapshot order", () => {
    const state = loaded();
    const cancel = report({ i: 3, c: "cancel-1", x: "CANCELED", X: "CANCELED", T: SNAPSHOT_TIME + 500 });

    expect(state.applyEvent(cancel)).toBe(true);
    expect(state.openOrders()).toEqual([]);
  });

  it("applies a fill whose time precedes its order's NEW report (both sent in one batch)", () => {
    const state = loaded([]);
    state.applyEvent(report({ T: SNAPSHOT_TIME + 5000 }));
    state.applyEvent(trade(501, "0.40000000", "0.40000000", "PARTIALLY_FILLED", SNAPSHOT_TIME + 4999));

    expect(state.openOrders()[0]?.executedQty).toBe("0.40000000");
  });

  it("never brings a FILLED order back, neither by a late report nor by an older snapshot", () => {
    const state = loaded([]);
    state.applyEvent(report({}));
    state.applyEvent(trade(502, "1.00000000", "1.00000000", "FILLED", SNAPSHOT_TIME + 3000));

    expect(state.applyEvent(report({ x: "REPLACED", T: SNAPSHOT_TIME + 4000 }))).toBe(false);
    const lateFill = trade(501, "0.40000000", "0.40000000", "PARTIALLY_FILLED", SNAPSHOT_TIME + 2000);
    expect(state.applyEvent(lateFill)).toBe(true); // the fill itself is news
    expect(state.openOrders()).toEqual([]);

    state.loadSnapshot(account(), [restOrder(7)]);
    expect(state.openOrders()).toEqual([]);
  });

  it("keeps a snapshot order's state against reports older than its updateTime", () => {
    const partly = restOrder(3, {
      status: "PARTIALLY_FILLED",
      executedQty: "0.50000000",
      updateTime: SNAPSHOT_TIME,
    });
    const state = loaded([partly]);

    expect(state.applyEvent(report({ i: 3, T: SNAPSHOT_TIME - 5000 }))).toBe(false);
    expect(state.openOrders()[0]?.executedQty).toBe("0.50000000");
  });
});

describe("AccountState balances", () => {
  it("lists held balances first, then empty ones, each group by asset", () => {
    expect(loaded().balances().map((b) => b.asset)).toEqual(["BTC", "USDT", "BNB"]);
  });

  it("replaces free and locked from outboundAccountPosition, after exact deltas", () => {
    const state = loaded();
    state.applyEvent(deposit("BTC", "0.20000000", SNAPSHOT_TIME + 5));
    const afterDeposit = position(SNAPSHOT_TIME + 5, [["BTC", "0.30000000", "0.00000000"]]);
    expect(state.applyEvent(afterDeposit)).toBe(false);
    expect(state.balance("BTC")?.free).toBe("0.30000000");

    const afterOrder = position(SNAPSHOT_TIME + 10, [
      ["BTC", "0.30000000", "0.00000000"],
      ["USDT", "6.00000000", "994.00000000"],
    ]);
    expect(state.applyEvent(afterOrder)).toBe(true);
    expect(state.balance("USDT")).toEqual({ asset: "USDT", free: "6.00000000", locked: "994.00000000" });
  });

  it("ignores an outboundAccountPosition older than the account snapshot", () => {
    const state = loaded();
    expect(state.applyEvent(position(SNAPSHOT_TIME - 1, [["BTC", "5.00000000", "0.00000000"]]))).toBe(false);
    expect(state.balance("BTC")?.free).toBe("0.10000000");
  });

  it("adds balanceUpdate deltas to free without float drift", () => {
    const state = loaded();
    state.applyEvent(deposit("BTC", "0.20000000", SNAPSHOT_TIME + 1));
    expect(state.balance("BTC")?.free).toBe("0.30000000");

    state.applyEvent(deposit("BTC", "-0.05", SNAPSHOT_TIME + 2));
    expect(state.balance("BTC")).toEqual({ asset: "BTC", free: "0.25000000", locked: "0.00000000" });
  });

  it("creates the balance of a first deposit in a new asset", () => {
    const state = loaded();
    expect(state.applyEvent(deposit("ETH", "2.500000000000000000", SNAPSHOT_TIME + 1))).toBe(true);
    expect(state.balance("ETH")).toEqual({
      asset: "ETH",
      free: "2.500000000000000000",
      locked: "0.000000000000000000",
    });
  });

  it("does not count a balanceUpdate the snapshot already contains", () => {
    const state = loaded();
    expect(state.applyEvent(deposit("BTC", "1.00000000", SNAPSHOT_TIME))).toBe(false);
    expect(state.balance("BTC")?.free).toBe("0.10000000");
  });
});

describe("AccountState stream handling", () => {
  it("ignores unknown events without notifying", () => {
    const state = loaded();
    let changes = 0;
    state.onChange(() => changes++);

    expect(state.applyEvent({ e: "listStatus", E: SNAPSHOT_TIME + 1 })).toBe(false);
    expect(state.applyEvent("not an event")).toBe(false);
    expect(changes).toBe(0);
    expect(state.openOrders().map((o) => o.orderId)).toEqual([3]);
  });

  it("notifies listeners of changes until they unsubscribe", () => {
    const state = loaded();
    let changes = 0;
    const stop = state.onChange(() => changes++);
    state.applyEvent(report({}));
    stop();
    state.applyEvent(report({ i: 8 }));
    expect(changes).toBe(1);
  });

  it("needs a snapshot at first and after a reopen, replaying what arrived meanwhile", () => {
    const state = new AccountState();
    expect(state.needsResync()).toBe(true);
    expect(state.applyEvent(report({}))).toBe(false);
    state.loadSnapshot(account(), []);
    expect(state.needsResync()).toBe(false);
    expect(state.openOrders().map((o) => o.orderId)).toEqual([7]);

    state.markStreamReopened();
    expect(state.needsResync()).toBe(true);
    state.applyEvent(report({ x: "CANCELED", X: "CANCELED", T: SNAPSHOT_TIME + 9000 }));
    state.applyEvent(deposit("BTC", "1.00000000", SNAPSHOT_TIME + 9500));
    expect(state.openOrders()).toHaveLength(1);

    state.loadSnapshot(account(SNAPSHOT_TIME + 8000), [restOrder(7, { time: SNAPSHOT_TIME + 1000 })]);
    expect(state.openOrders()).toEqual([]);
    expect(state.balance("BTC")?.free).toBe("1.10000000");
  });
});

describe("addDecimals", () => {
  it("adds exactly at the larger scale, signs included", () => {
    expect(addDecimals("0.1", "0.2")).toBe("0.3");
    expect(addDecimals("0.10000000", "0.2")).toBe("0.30000000");
    expect(addDecimals("1.00000000", "-1.5")).toBe("-0.50000000");
    expect(addDecimals("99999999999999999.99", "0.01")).toBe("100000000000000000.00");
  });
});
