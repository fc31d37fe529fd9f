import { describe, expect, it } from "vitest";
import {
  type Candle,
  CandleSeries,
  candleFromStream,
  candlesFromKlines,
  INTERVALS,
  isInterval,
  toChartBar,
  toVolumeBar,
  VOLUME_DOWN_COLOR,
  VOLUME_UP_COLOR,
} from "../../src/lib/candles";

const T0 = 1_700_000_040_000; // a minute boundary

function row(openTime: number, open: string, high: string, low: string, close: string, volume: string): unknown[] {
  return [openTime, open, high, low, close, volume, openTime + 59_999, "1000.00", 12, "0.1", "2000.0", "0"];
}

function candle(openTime: number, close: string, closed = false): Candle {
  return { openTime, open: "100.00", high: "110.00", low: "90.00", close, volume: "1.5", closed };
}

function klineEvent(k: Record<string, unknown>): unknown {
  return {
    e: "kline",
    E: T0 + 1234,
    s: "BTCUSDT",
    k: {
      t: T0, T: T0 + 59_999, s: "BTCUSDT", i: "1m", o: "20000.00", c: "20010.50", h: "20020.00",
      l: "19990.00", v: "3.25000000", n: 42, x: false, q: "65000.00", V: "1.0", Q: "20000.00",
      ...k,
    },
  };
}

describe("candlesFromKlines", () => {
  it("keeps prices and volume as the server's decimal strings", () => {
    const candles = candlesFromKlines([row(T0, "20000.01", "20100.00", "19900.00", "20050.10", "0.00100000")]);
    expect(candles).toEqual([
      { openTime: T0, open: "20000.01", high: "20100.00", low: "19900.00", close: "20050.10", volume: "0.00100000", closed: false },
    ]);
  });

  it("takes every row but the last as closed without a clock", () => {
    const rows = [row(T0, "1", "1", "1", "1", "0"), row(T0 + 60_000, "1", "1", "1", "1", "0")];
    expect(candlesFromKlines(rows).map((c) => c.closed)).toEqual([true, false]);
  });

  it("decides closed by closeTime when given the time", () => {
    const rows = [row(T0, "1", "1", "1", "1", "0"), row(T0 + 60_000, "1", "1", "1", "1", "0")];
    expect(candlesFromKlines(rows, T0 + 200_000).map((c) => c.closed)).toEqual([true, true]);
    expect(candlesFromKlines(rows, T0 + 60_000).map((c) => c.closed)).toEqual([true, false]);
  });

  it("rejects a row that is not an array, naming it", () => {
    expect(() => candlesFromKlines([row(T0, "1", "1", "1", "1", "0"), { open: "1" }])).toThrow(/Kline row 1/);
  });

  it("rejects a price sent as a number (a float) rather than a decimal string", () => {
    const bad = row(T0, "1", "1", "1", "1", "0");
    bad[4] = 20050.1;
    expect(() => candlesFromKlines([bad])).toThrow(/Kline row 0 close is not a decimal string/);
  });

  it("rejects a negative or exponent amount and a non-integer time", () => {
    expect(() => candlesFromKlines([row(T0, "-1", "1", "1", "1", "0")])).toThrow(/open/);
    expect(() => candlesFromKlines([row(T0, "1", "1e5", "1", "1", "0")])).toThrow(/high/);
    expect(() => candlesFromKlines([row(T0 + 0.5, "1", "1", "1", "1", "0")])).toThrow(/openTime/);
  });
});

describe("candleFromStream", () => {
  it("reads the candle of a kline event", () => {
    expect(candleFromStream(klineEvent({}))).toEqual({
      openTime: T0, open: "20000.00", high: "20020.00", low: "19990.00", close: "20010.50",
      volume: "3.25000000", closed: false,
    });
  });

  it("marks the final update of an interval as closed", () => {
    expect(candleFromStream(klineEvent({ x: true })).closed).toBe(true);
  });

  it("rejects other events and malformed fields with a clear error", () => {
    expect(() => candleFromStream({ e: "trade", p: "1" })).toThrow(/not \{e: "kline"/);
    expect(() => candleFromStream(klineEvent({ c: 20010.5 }))).toThrow(/k\.c \(close\)/);
    expect(() => candleFromStream(klineEvent({ x: "true" }))).toThrow(/k\.x/);
  });
});

describe("CandleSeries", () => {
  it("sorts loaded history by openTime and keeps the last duplicate", () => {
    const series = new CandleSeries();
    series.load([candle(T0 + 60_000, "2"), candle(T0, "1"), candle(T0 + 60_000, "3")]);
    expect(series.candles().map((c) => [c.openTime, c.close])).toEqual([[T0, "1"], [T0 + 60_000, "3"]]);
  });

  it("replaces the running candle with its update", () => {
    const series = new CandleSeries();
    series.load([candle(T0, "100.00")]);
    expect(series.apply(candle(T0, "101.25"))).toBe("updated-last");
    expect(series.candles()).toEqual([candle(T0, "101.25")]);
  });

  it("appends a newer candle", () => {
    const series = new CandleSeries();
    series.load([candle(T0, "100.00", true)]);
    expect(series.apply(candle(T0 + 60_000, "100.50"))).toBe("appended");
    expect(series.candles().map((c) => c.openTime)).toEqual([T0, T0 + 60_000]);
  });

  it("appends to an empty series", () => {
    const series = new CandleSeries();
    expect(series.apply(candle(T0, "1"))).toBe("appended");
    expect(series.candles()).toHaveLength(1);
  });

  it("ignores an out-of-order older candle it does not hold", () => {
    const series = new CandleSeries();
    series.load([candle(T0, "1"), candle(T0 + 120_000, "3")]);
    expect(series.apply(candle(T0 + 60_000, "2"))).toBe("ignored-older");
    expect(series.candles().map((c) => c.openTime)).toEqual([T0, T0 + 120_000]);
  });

  it("replaces an older candle with the same openTime", () => {
    const series = new CandleSeries();
    series.load([candle(T0, "1"), candle(T0 + 60_000, "2")]);
    expect(series.apply(candle(T0, "1.5", true))).toBe("replaced-older");
    expect(series.candles()[0]).toEqual(candle(T0, "1.5", true));
  });

  it("drops the oldest candles beyond its cap", () => {
    const series = new CandleSeries(2);
    series.load([candle(T0, "1"), candle(T0 + 60_000, "2"), candle(T0 + 120_000, "3")]);
    expect(series.candles().map((c) => c.close)).toEqual(["2", "3"]);
    series.apply(candle(T0 + 180_000, "4"));
    expect(series.candles().map((c) => c.close)).toEqual(["3", "4"]);
  });

  it("refuses a cap that is not a positive integer", () => {
    expect(() => new CandleSeries(0)).toThrow(/maxCandles/);
  });

  it("hands out copies that cannot change the series", () => {
    const series = new CandleSeries();
    series.load([candle(T0, "1")]);
    series.candles().pop();
    expect(series.candles()).toHaveLength(1);
  });
});

describe("INTERVALS", () => {
  it("has the server's intervals with their lengths", () => {
    expect(Object.keys(INTERVALS)).toEqual([
      "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M",
    ]);
    expect(INTERVALS["1m"]).toBe(60_000);
    expect(INTERVALS["4h"]).toBe(14_400_000);
    expect(INTERVALS["1w"]).toBe(604_800_000);
    expect(INTERVALS["1M"]).toBe(31 * 86_400_000);
  });

  it("tells interval names from other text, case-sensitively", () => {
    expect(isInterval("1M")).toBe(true);
    expect(isInterval("1mo")).toBe(false);
    expect(isInterval("toString")).toBe(false);
  });
});

describe("chart bars", () => {
  const rising: Candle = {
    openTime: T0, open: "20000.01", high: "20100.00", low: "19900.00", close: "20050.10", volume: "0.00100000", closed: true,
  };

  it("turns a candle into a bar in UTC seconds with numeric prices", () => {
    expect(toChartBar(rising)).toEqual({ time: T0 / 1000, open: 20000.01, high: 20100, low: 19900, close: 20050.1 });
  });

  it("colours volume by exact comparison of close and open", () => {
    expect(toVolumeBar(rising)).toEqual({ time: T0 / 1000, value: 0.001, color: VOLUME_UP_COLOR });
    const flat = { ...rising, close: "20000.0100" };
    expect(toVolumeBar(flat).color).toBe(VOLUME_UP_COLOR);
    const falling = { ...rising, close: "20000.00999999" };
    expect(toVolumeBar(falling).color).toBe(VOLUME_DOWN_COLOR);
  });
});
