/// <reference types="node" />
/**
 * RFC 6238 codes (SHA-1, 6 digits, 30 s), as an authenticator app computes them from the
 * secret the enrolment shows. The server accepts the previous, current and next window's
 * code, each once: `freshCode` hands out one not used yet, waiting for the next window
 * when all three are spent.
 */

const STEP_SECONDS = 30;
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32Bytes(secret: string): Uint8Array<ArrayBuffer> {
  const clean = secret.replace(/=+$/, "").toUpperCase();
  const bytes: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`not base32: ${char}`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bytes.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Uint8Array.from(bytes);
}

/** The code of time step `counter`. */
export async function codeAt(secret: string, counter: number): Promise<string> {
  const key = await crypto.subtle.importKey("raw", base32Bytes(secret), { name: "HMAC", hash: "SHA-1" },
                                            false, ["sign"]);
  const message = new DataView(new ArrayBuffer(8));
  message.setBigUint64(0, BigInt(counter));
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, message.buffer));
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = (((mac[offset] ?? 0) & 0x7f) << 24) | ((mac[offset + 1] ?? 0) << 16)
    | ((mac[offset + 2] ?? 0) << 8) | (mac[offset + 3] ?? 0);
  return String(binary % 1_000_000).padStart(6, "0");
}

/** Hands out codes of one secret, each at most once. */
export class Authenticator {
  private readonly used = new Set<string>();

  constructor(readonly secret: string) {}

  /** A code the server accepts now and has not seen; polls into the next window when the
   * three acceptable ones are spent. */
  async freshCode(): Promise<string> {
    for (;;) {
      const now = Math.floor(Date.now() / 1000 / STEP_SECONDS);
      for (const counter of [now, now + 1, now - 1]) {
        const code = await codeAt(this.secret, counter);
        if (!this.used.has(code)) {
          this.used.add(code);
          return code;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
