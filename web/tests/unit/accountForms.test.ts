import { describe, expect, it } from "vitest";
import { confirmationProblem, passwordProblem } from "../../src/views/auth/passwordPolicy";
import { newKeyProblems, parseAllowlist, shortKey } from "../../src/views/account/apiKeys";
import { qrPath } from "../../src/views/account/qrCode";

describe("password policy", () => {
  it("accepts 10 to 128 characters, as the server does", () => {
    expect(passwordProblem("a".repeat(10))).toBeNull();
    expect(passwordProblem("a".repeat(128))).toBeNull();
  });

  it("says how short a short password is", () => {
    expect(passwordProblem("short")).toBe("Use at least 10 characters (5 so far).");
  });

  it("refuses passwords longer than 128 characters", () => {
    expect(passwordProblem("a".repeat(129))).toBe("Use at most 128 characters.");
  });

  it("requires the confirmation to match exactly", () => {
    expect(confirmationProblem("correct horse", "correct horse")).toBeNull();
    expect(confirmationProblem("correct horse", "correct horse ")).not.toBeNull();
  });
});

describe("API key form", () => {
  it("reads one allow-list entry per line, ignoring blanks and spaces", () => {
    expect(parseAllowlist(" 203.0.113.7 \n\n198.51.100.0/24\n")).toEqual(["203.0.113.7", "198.51.100.0/24"]);
  });

  it("accepts commas between entries", () => {
    expect(parseAllowlist("203.0.113.7, 2001:db8::1")).toEqual(["203.0.113.7", "2001:db8::1"]);
  });

  it("needs at least one permission", () => {
    expect(newKeyProblems([], [])).toHaveProperty("permissions");
  });

  it("needs an allow-list for a withdrawing key only", () => {
    expect(newKeyProblems(["READ", "WITHDRAW"], [])).toHaveProperty("ipAllowlist");
    expect(newKeyProblems(["READ", "WITHDRAW"], ["203.0.113.7"])).toEqual({});
    expect(newKeyProblems(["READ", "TRADE"], [])).toEqual({});
  });

  it("shortens long keys for the table", () => {
    expect(shortKey("0123456789abcdef0123456789abcdef")).toBe("01234567…abcdef");
    expect(shortKey("short")).toBe("short");
  });
});

describe("QR code path", () => {
  it("draws one unit square per dark module at its column and row", () => {
    expect(qrPath([[true, false], [false, true]])).toBe("M0 0h1v1h-1zM1 1h1v1h-1z");
  });

  it("is empty when no module is dark", () => {
    expect(qrPath([[false]])).toBe("");
  });
});
