import { describe, expect, it } from "vitest";
import { AmountError, formatAmount, formatApiDecimal, mulDiv, parseAmount } from "../../src/lib/decimal";

describe("parseAmount", () => {
  it("turns decimal text into smallest units at the scale", () => {
    expect(parseAmount("0.001", 8)).toBe(100_000n);
    expect(parseAmount("20000", 8)).toBe(2_000_000_000_000n);
    expect(parseAmount("20000.5", 6)).toBe(20_000_500_000n);
    expect(parseAmount("0.00000001", 8)).toBe(1n);
  });

  it("reads zero as zero units", () => {
    expect(parseAmount("0", 8)).toBe(0n);
    expect(parseAmount("0.0", 8)).toBe(0n);
  });

  it("accepts trailing zeros beyond the scale, as the server does", () => {
    expect(parseAmount("1.50", 1)).toBe(15n);
    expect(parseAmount("0.00100000000", 8)).toBe(100_000n);
  });

  it("is exact beyond 2^53", () => {
    expect(parseAmount("123456789012345678.12345678", 8)).toBe(12345678901234567812345678n);
    expect(parseAmount("9007199254740993", 0)).toBe(9007199254740993n);
  });

  it("takes whole numbers only at scale 0", () => {
    expect(parseAmount("42", 0)).toBe(42n);
    expect(parseAmount("42.000", 0)).toBe(42n);
    expect(() => parseAmount("42.5", 0)).toThrow("more than 0 decimal places");
  });

  it.each([
    ["0.000000001", "more than 8 decimal places"],
    ["", "empty"],
    ["-1", "negative"],
    ["+1", "sign"],
    ["1e5", "exponent"],
    ["1.5E3", "exponent"],
    [".5", "digit before the decimal point"],
    ["5.", "digit after the decimal point"],
    ["abc", "not a number"],
    ["1,000", "not a number"],
    [" 1", "not a number"],
    ["1.2.3", "not a number"],
    ["١٢", "not a number"],
  ])("refuses %j: %s", (text, problem) => {
    expect(() => parseAmount(text, 8)).toThrow(AmountError);
    expect(() => parseAmount(text, 8)).toThrow(problem);
  });

  it("refuses a scale no asset can have", () => {
    expect(() => parseAmount("1", 19)).toThrow(RangeError);
    expect(() => parseAmount("1", -1)).toThrow(RangeError);
  });
});

describe("formatAmount", () => {
  it("prints exactly scale decimals by default", () => {
    expect(formatAmount(2_000_000_000_000n, 8)).toBe("20000.00000000");
    expect(formatAmount(1n, 8)).toBe("0.00000001");
    expect(formatAmount(0n, 6)).toBe("0.000000");
  });

  it("trims trailing zeros on request", () => {
    expect(formatAmount(2_000_000_000_000n, 8, { trim: true })).toBe("20000");
    expect(formatAmount(2_000_050_000_000n, 8, { trim: true })).toBe("20000.5");
    expect(formatAmount(0n, 8, { trim: true })).toBe("0");
  });

  it("groups thousands on request", () => {
    expect(formatAmount(20_000_500_000n, 6, { group: true, trim: true })).toBe("20,000.5");
    expect(formatAmount(1_234_567_000_000n, 6, { group: true })).toBe("1,234,567.000000");
    expect(formatAmount(999_000_000n, 6, { group: true, trim: true })).toBe("999");
  });

  it("prints no decimal point at scale 0", () => {
    expect(formatAmount(1234n, 0)).toBe("1234");
    expect(formatAmount(1234n, 0, { group: true })).toBe("1,234");
  });

  it("keeps the sign of negative amounts", () => {
    expect(formatAmount(-1n, 8)).toBe("-0.00000001");
    expect(formatAmount(-1_234_500_000n, 6, { trim: true, group: true })).toBe("-1,234.5");
  });

  it("is exact beyond 2^53", () => {
    expect(formatAmount(12345678901234567812345678n, 8)).toBe("123456789012345678.12345678");
  });

  it("round-trips with parseAmount", () => {
    for (const text of ["0.00000000", "0.00100000", "20000.50000000", "99999999999999999999.99999999"]) {
      expect(formatAmount(parseAmount(text, 8), 8)).toBe(text);
    }
  });
});

describe("formatApiDecimal", () => {
  it("re-formats an API amount at the asset's scale", () => {
    expect(formatApiDecimal("0.00100000", 8)).toBe("0.00100000");
    expect(formatApiDecimal("0.00100000", 8, { trim: true })).toBe("0.001");
    expect(formatApiDecimal("20000.50", 6, { group: true })).toBe("20,000.500000");
  });

  it("rounds more decimals than the scale DOWN", () => {
    expect(formatApiDecimal("1.23456789", 2)).toBe("1.23");
    expect(formatApiDecimal("0.999", 0)).toBe("0");
    expect(formatApiDecimal("-1.239", 2)).toBe("-1.23");
  });

  it("refuses text that is not a decimal", () => {
    expect(() => formatApiDecimal("1e-8", 8)).toThrow(AmountError);
  });
});

describe("mulDiv", () => {
  it("rounds down for notionals and up for fees", () => {
    expect(mulDiv(7n, 3n, 2n, "down")).toBe(10n);
    expect(mulDiv(7n, 3n, 2n, "up")).toBe(11n);
    expect(mulDiv(8n, 3n, 2n, "up")).toBe(12n);
    expect(mulDiv(0n, 3n, 2n, "up")).toBe(0n);
  });

  it("keeps every unit of amounts beyond 2^53", () => {
    const price = 100_000_000_000_000n; // 100,000,000 USDT at scale 6
    const qty = 123_456_789_012_345_678n; // 1,234,567,890.12345678 BTC
    expect(mulDiv(price, qty, 100_000_000n, "down")).toBe(123_456_789_012_345_678_000_000n);
  });

  it("refuses negative factors and a zero divisor", () => {
    expect(() => mulDiv(-1n, 1n, 1n, "down")).toThrow(RangeError);
    expect(() => mulDiv(1n, 1n, 0n, "down")).toThrow(RangeError);
  });
});
