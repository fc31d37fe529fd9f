/// <reference types="node" />
/**
 * The operator's calls the suite makes through the API itself rather than the screens:
 * turning two-factor on for the operator, and crediting a deposit (the "receive a
 * deposit through the admin API"), as a deposit watcher would.
 */
import { Authenticator } from "./totp";
import { env } from "./browser";

async function call(path: string, body: object, token?: string): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (token !== undefined) headers["Authorization"] = `Bearer ${token}`;
  const response = await fetch(new URL(path, env("WEB_URL")), { method: "POST", headers, body: JSON.stringify(body) });
  const answer = await response.text();
  if (!response.ok) throw new Error(`${path}: ${response.status} ${answer}`);
  return answer === "" ? {} : JSON.parse(answer) as Record<string, unknown>;
}

/** The operator, signed in through the API with two-factor on and stepped up. */
export class Operator {
  private constructor(readonly authenticator: Authenticator, private readonly token: string) {}

  static async enrol(email: string, password: string): Promise<Operator> {
    const login = await call("/v1/auth/login", { email, password });
    const token = String(login["accessToken"]);
    const enrolment = await call("/v1/auth/totp/enrol", { password }, token);
    const authenticator = new Authenticator(String(enrolment["secret"]));
    await call("/v1/auth/totp/confirm", { code: await authenticator.freshCode() }, token);
    await call("/v1/auth/step-up", { totpCode: await authenticator.freshCode() }, token);
    return new Operator(authenticator, token);
  }

  /** Credits `amount` (a decimal string) of `asset` to the user. */
  async deposit(userId: number, asset: string, amount: string): Promise<void> {
    await call("/v1/admin/deposits", { userId, asset, amount, txid: `web-e2e-${crypto.randomUUID()}` }, this.token);
  }
}
