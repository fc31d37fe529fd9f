import { describe, expect, it } from "vitest";
import { compareDecimals } from "../../src/lib/decimal";
import {
  DepthBook,
  type DepthBookState,
  type DepthSnapshot,
  type DepthUpdateEvent,
  type PriceLevel,
} from "../../src/lib/depthBook";

function diff(U: number, u: number, b: PriceLevel[] = [], a: PriceLevel[] = []): DepthUpdateEvent {
  return { e: "depthUpdate", E: 1_700_000_000_000, s: "BTCUSDT", U, u, b, a };
}

function snapshot(lastUpdateId: number): DepthSnapshot {
  return {
    lastUpdateId,
    bids: [["100.00", "1.5"], ["99.50", "2"]],
    asks: [["100.50", "0.7"], ["101.00", "3"]],
  };
}

describe("DepthBook sync", () => {
  it("applies a snapshot and then contiguous diffs", () => {
    const book = new DepthBook("BTCUSDT");
    expect(book.applySnapshot(snapshot(10))).toBe("synced");
    book.applyEvent(diff(11, 12, [["100.00", "2.25"]]));
    book.applyEvent(diff(13, 15, [], [["100.25", "0.1"]]));

    expect(book.state).toBe("synced");
    expect(book.lastUpdateId).toBe(15);
    expect(book.top(2)).toEqual({
      bids: [["100.00", "2.25"], ["99.50", "2"]],
      asks: [["100.25", "0.1"], ["100.50", "0.7"]],
    });
  });

  it("drops buffered events the snapshot already contains", () => {
    const book = new DepthBook("BTCUSDT");
    book.applyEvent(diff(5, 8, [["100.00", "9"]]));
    book.applyEvent(diff(9, 10, [["99.50", "9"]]));
    book.applyEvent(diff(11, 12, [["98.00", "4"]]));

    expect(book.applySnapshot(snapshot(10))).toBe("synced");
    expect(book.lastUpdateId).toBe(12);
    expect(book.top(3).bids).toEqual([["100.00", "1.5"], ["99.50", "2"], ["98.00", "4"]]);
  });

  it("applies a first event that straddles the snapshot's lastUpdateId", () => {
    const book = new DepthBook("BTCUSDT");
    book.applyEvent(diff(8, 14, [["100.00", "0.4"]]));

    expect(book.applySnapshot(snapshot(10))).toBe("synced");
    expect(book.lastUpdateId).toBe(14);
    expect(book.top(1).bids).toEqual([["100.00", "0.4"]]);
  });

  it("asks for another snapshot when the buffered events start after it", () => {
    const book = new DepthBook("BTCUSDT");
    book.applyEvent(diff(20, 22, [["100.00", "5"]]));

    expect(book.applySnapshot(snapshot(10))).toBe("need-newer-snapshot");
    expect(book.state).toBe("waiting-snapshot");
    expect(book.top(5)).toEqual({ bids: [], asks: [] });

    expect(book.applySnapshot(snapshot(21))).toBe("synced");
    expect(book.lastUpdateId).toBe(22);
    expect(book.top(1).bids).toEqual([["100.00", "5"]]);
  });

  it("goes resyncing on a gap, buffers, and recovers from a new snapshot", () => {
    const book = new DepthBook("BTCUSDT");
    const states: DepthBookState[] = [];
    book.onStateChange((state) => states.push(state));
    book.applySnapshot(snapshot(10));

    expect(book.applyEvent(diff(11, 12))).toBe("synced");
    expect(book.applyEvent(diff(14, 15, [["100.00", "8"]]))).toBe("resyncing");
    book.applyEvent(diff(16, 17, [["99.50", "0"]]));
    expect(book.lastUpdateId).toBe(12);
    expect(book.top(1).bids).toEqual([["100.00", "1.5"]]);

    expect(book.applySnapshot(snapshot(14))).toBe("synced");
    expect(book.lastUpdateId).toBe(17);
    expect(book.top(5).bids).toEqual([["100.00", "8"]]);
    expect(states).toEqual(["synced", "resyncing", "synced"]);
  });

  it("reports a gap among the buffered events as needing another snapshot", () => {
    const book = new DepthBook("BTCUSDT");
    book.applyEvent(diff(11, 12));
    book.applyEvent(diff(20, 21));

    expect(book.applySnapshot(snapshot(10))).toBe("need-newer-snapshot");
    expect(book.state).toBe("resyncing");
    expect(book.applySnapshot(snapshot(20))).toBe("synced");
    expect(book.lastUpdateId).toBe(21);
  });

  it("keeps only the newest events when the buffer overflows", () => {
    const book = new DepthBook("BTCUSDT", 2);
    book.applyEvent(diff(11, 11));
    book.applyEvent(diff(12, 12));
    book.applyEvent(diff(13, 13));

    expect(book.applySnapshot(snapshot(10))).toBe("need-newer-snapshot");
    expect(book.applySnapshot(snapshot(12))).toBe("synced");
    expect(book.lastUpdateId).toBe(13);
  });

  it("ignores events for another symbol", () => {
    const book = new DepthBook("BTCUSDT");
    book.applySnapshot(snapshot(10));
    book.applyEvent({ ...diff(30, 31, [["100.00", "0"]]), s: "ETHUSDT" });

    expect(book.state).toBe("synced");
    expect(book.top(1).bids).toEqual([["100.00", "1.5"]]);
  });
});

describe("DepthBook levels", () => {
  it("removes a level whose quantity is zero, however it is written", () => {
    const book = new DepthBook("BTCUSDT");
    book.applySnapshot(snapshot(10));
    book.applyEvent(diff(11, 11, [["100.00", "0.00000000"]], [["100.5", "0"]]));

    expect(book.top(5)).toEqual({
      bids: [["99.50", "2"]],
      asks: [["101.00", "3"]],
    });
  });

  it("orders levels numerically: bids descending, asks ascending", () => {
    const book = new DepthBook("BTCUSDT");
    book.applySnapshot({
      lastUpdateId: 1,
      bids: [["9.5", "1"], ["10.0", "1"], ["99.99", "1"], ["100", "1"]],
      asks: [["100", "1"], ["99.99", "1"], ["10.0", "1"], ["9.5", "1"]],
    });

    const prices = (levels: PriceLevel[]): string[] => levels.map(([price]) => price);
    expect(prices(book.top(4).bids)).toEqual(["100", "99.99", "10.0", "9.5"]);
    expect(prices(book.top(4).asks)).toEqual(["9.5", "10.0", "99.99", "100"]);
  });

  it("treats differently written equal prices as one level", () => {
    const book = new DepthBook("BTCUSDT");
    book.applySnapshot(snapshot(10));
    book.applyEvent(diff(11, 11, [["100.0", "3.3"]]));

    expect(book.top(5).bids).toEqual([["100.0", "3.3"], ["99.50", "2"]]);
  });

  it("compares decimal strings exactly", () => {
    expect(compareDecimals("9.5", "10.0")).toBeLessThan(0);
    expect(compareDecimals("100", "99.99")).toBeGreaterThan(0);
    expect(compareDecimals("10", "10.000")).toBe(0);
    expect(compareDecimals("0.30000000000000001", "0.3")).toBeGreaterThan(0);
    expect(() => compareDecimals("1e3", "1")).toThrow();
  });
});
