/**
 * API keys as GET/POST /v1/api-keys answer them (chalicelib/service_layer/api_keys.py),
 * and the create form's checks that the server would otherwise refuse: at least one
 * permission, and an IP allow-list for a key that may withdraw.
 */

/** A key's permissions, in the server's order. */
export const API_KEY_PERMISSIONS = ["READ", "TRADE", "WITHDRAW"] as const;

/** One permission of an API key. */
export type ApiKeyPermission = (typeof API_KEY_PERMISSIONS)[number];

/** What each permission lets a program holding the key do, in words. */
export const PERMISSION_WORDS: Readonly<Record<ApiKeyPermission, string>> = {
  READ: "Read balances, orders and trades",
  TRADE: "Place and cancel orders",
  WITHDRAW: "Request withdrawals (needs an IP allow-list)",
};

/** An API key as listed (its secret is never listed). */
export interface ApiKey {
  id: number;
  apiKey: string;
  label: string;
  permissions: string[];
  ipAllowlist: string[];
}

/** A key just created: the one answer that carries its secret. */
export interface CreatedApiKey extends ApiKey {
  secretKey: string;
}

/** The allow-list textarea's entries: one address or network per line, blank lines and
 * surrounding spaces ignored, commas accepted as separators too. */
export function parseAllowlist(text: string): string[] {
  return text.split(/[\n,]/).map((entry) => entry.trim()).filter((entry) => entry !== "");
}

/** The create form's problems by field ("permissions", "ipAllowlist"); empty when none. */
export function newKeyProblems(permissions: readonly string[], allowlist: readonly string[]): Record<string, string> {
  const problems: Record<string, string> = {};
  if (permissions.length === 0) problems["permissions"] = "Choose at least one permission.";
  if (permissions.includes("WITHDRAW") && allowlist.length === 0) {
    problems["ipAllowlist"] = "A key that may withdraw needs an IP allow-list: add the addresses of the machines that will use it.";
  }
  return problems;
}

/** The key's id shortened for a table: its first and last characters. */
export function shortKey(apiKey: string): string {
  return apiKey.length <= 16 ? apiKey : `${apiKey.slice(0, 8)}…${apiKey.slice(-6)}`;
}
