/**
 * The operator screens' pure logic: their forms' text checked and turned into the
 * /v1/admin request bodies (chalicelib/entrypoints/http/models.py: NewMarket,
 * MarketChanges, NewAsset, AssetChanges, DepositCredit), amounts kept as decimal strings
 * and never floats, and the API's answers (pages, withdrawals, audit entries) read back.
 */
import { describe, ErrorCodes, type ApiProblem } from "../../lib/apiErrors";
import {
  AmountError,
  compareDecimals,
  formatAmount,
  MAX_SCALE,
  parseAmount,
} from "../../lib/decimal";
import type { ListedMarket } from "../../lib/markets";

/** Messages in words for the inputs of a form, by the form's field name. */
export type FieldErrors = Readonly<Record<string, string>>;

/** A form's text turned into a request body, or what is wrong with it. */
export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldErrors };

/** Whether a money action was refused for lack of a recent two-factor step-up
 * (auth.py `require_step_up`: 401 with TOTP_REQUIRED). */
export function needsStepUp(problem: ApiProblem): boolean {
  return problem.status === 401 && problem.code === ErrorCodes.TOTP_REQUIRED;
}

/** How long before the server's end of a step-up this tab stops counting on it. */
const STEP_UP_MARGIN_MS = 15_000;

/** Until when (ms) a step-up answered at `nowMs` with `stepUpExpiresIn` seconds can be
 * counted on, a margin before the server's end of it. */
export function stepUpValidUntil(nowMs: number, expiresInSeconds: number): number {
  return nowMs + Math.max(0, expiresInSeconds * 1000 - STEP_UP_MARGIN_MS);
}

/** The other names the server gives a form's field in its messages: its filter checks
 * use the stored names (`tick_size`), some checks the short ones (`base`). */
const SERVER_ALIASES: Readonly<Record<string, readonly string[]>> = {
  baseAsset: ["base"],
  quoteAsset: ["quote"],
  tickSize: ["tick_size"],
  stepSize: ["lot_size", "base_unit"],
  minQty: ["min_qty"],
  maxQty: ["max_qty"],
  minNotional: ["min_notional"],
  makerFee: ["makerFeePpm", "maker_fee_ppm"],
  takerFee: ["takerFeePpm", "taker_fee_ppm"],
  fourEyesThreshold: ["four_eyes_threshold"],
};

/** Every name a refusal may give `fields`, for `errorFor` and `formError`. */
export function serverNames(...fields: string[]): string[] {
  return fields.flatMap((field) => [field, ...(SERVER_ALIASES[field] ?? [])]);
}

/** The API's refusal in words when it is about `field` (under any of its server names),
 * the server's name for it replaced by `words` ("The tick size must be ..."), else null. */
export function apiFieldError(problem: ApiProblem | null, field: string, words: string): string | null {
  if (problem === null || problem.field === null || !serverNames(field).includes(problem.field)) return null;
  const named = problem.field;
  return describe(problem).split(named).join(words);
}

/** The largest fee the server takes: 100 000 ppm, 10 %. */
export const MAX_FEE_PPM = 100_000;
/** Percent with 4 decimals is ppm: "0.1" % is 1000 ppm. */
const PERCENT_PPM_SCALE = 4;

/** A fee rate in percent ("0.1") as whole parts per million (1000); throws `AmountError`. */
export function percentToPpm(text: string): number {
  const ppm = parseAmount(text, PERCENT_PPM_SCALE);
  if (ppm > BigInt(MAX_FEE_PPM)) throw new AmountError("Fee must be at most 10 %");
  return Number(ppm);
}

/** Parts per million as percent text: 1000 is "0.1". */
export function ppmToPercent(ppm: number): string {
  return formatAmount(BigInt(ppm), PERCENT_PPM_SCALE, { trim: true });
}

/** What is wrong with a decimal input (`what` names it), or null. `scale` is the asset's
 * when known (else any scale up to 18); `positive` refuses zero. */
export function decimalProblem(text: string, what: string, scale: number | undefined,
  positive = false): string | null {
  try {
    const units = parseAmount(text, scale ?? MAX_SCALE);
    return positive && units === 0n ? `${what} must be greater than zero` : null;
  } catch (error) {
    if (!(error instanceof AmountError)) throw error;
    return error.message.replace(/^Amount/, what);
  }
}

/** A market form's text; fees in percent. */
export interface MarketFormText {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  tickSize: string;
  stepSize: string;
  minQty: string;
  maxQty: string;
  minNotional: string;
  makerFee: string;
  takerFee: string;
}

/** The filters and fees of PATCH /v1/admin/markets/{symbol}: only what changes. */
export interface MarketChangesBody {
  tickSize?: string;
  stepSize?: string;
  minQty?: string;
  maxQty?: string;
  minNotional?: string;
  makerFeePpm?: number;
  takerFeePpm?: number;
}

/** The body of POST /v1/admin/markets: every filter and fee, and what the market trades. */
export interface NewMarketBody extends Required<MarketChangesBody> {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
}

/** The scales of the assets a form's amounts are in: base for quantities, quote for
 * prices and notionals (undefined: not known here, the server checks). */
export interface MarketScales {
  base: number | undefined;
  quote: number | undefined;
}

const SYMBOL_PATTERN = /^[A-Z0-9]+$/;

/** An asset or market symbol as typed, in the server's upper case. */
export function symbolText(text: string): string {
  return text.trim().toUpperCase();
}

type FilterField = "tickSize" | "stepSize" | "minQty" | "maxQty" | "minNotional";

const FILTER_WORDS: Readonly<Record<FilterField, string>> = {
  tickSize: "Tick size",
  stepSize: "Lot size",
  minQty: "Minimum quantity",
  maxQty: "Maximum quantity",
  minNotional: "Minimum notional",
};

const POSITIVE_FILTERS: ReadonlySet<FilterField> = new Set(["tickSize", "stepSize", "maxQty"]);

function filterScale(field: FilterField, scales: MarketScales): number | undefined {
  return field === "tickSize" || field === "minNotional" ? scales.quote : scales.base;
}

/** Checks the filters and fees given (blank ones are left out) into `body` and `errors`. */
function collectChanges(form: MarketFormText, scales: MarketScales,
  body: MarketChangesBody, errors: Record<string, string>): void {
  for (const field of Object.keys(FILTER_WORDS) as FilterField[]) {
    const text = form[field].trim();
    if (text === "") continue;
    const problem = decimalProblem(text, FILTER_WORDS[field], filterScale(field, scales),
      POSITIVE_FILTERS.has(field));
    if (problem === null) body[field] = text;
    else errors[field] = problem;
  }
  if (body.minQty !== undefined && body.maxQty !== undefined &&
      compareDecimals(body.minQty, body.maxQty) > 0) {
    errors["maxQty"] = "Maximum quantity must not be below the minimum quantity";
  }
  for (const [field, key] of [["makerFee", "makerFeePpm"], ["takerFee", "takerFeePpm"]] as const) {
    const text = form[field].trim();
    if (text === "") continue;
    try {
      body[key] = percentToPpm(text);
    } catch (error) {
      if (!(error instanceof AmountError)) throw error;
      errors[field] = error.message.replace(/^Amount/, "Fee").replace("more than 4 decimal places",
        "more than 4 decimal places (1 ppm is 0.0001 %)");
    }
  }
}

/** A new market's form as the body of POST /v1/admin/markets. */
export function newMarketBody(form: MarketFormText, scales: MarketScales): Checked<NewMarketBody> {
  const errors: Record<string, string> = {};
  const symbol = symbolText(form.symbol);
  const baseAsset = symbolText(form.baseAsset);
  const quoteAsset = symbolText(form.quoteAsset);
  if (!SYMBOL_PATTERN.test(symbol) || symbol.length < 2) errors["symbol"] = "Enter the market's symbol, like BTCUSDT (A–Z, 0–9)";
  if (!SYMBOL_PATTERN.test(baseAsset)) errors["baseAsset"] = "Enter the base asset, like BTC";
  if (!SYMBOL_PATTERN.test(quoteAsset)) errors["quoteAsset"] = "Enter the quote asset, like USDT";
  else if (quoteAsset === baseAsset) errors["quoteAsset"] = "The quote asset must differ from the base asset";
  for (const field of ["tickSize", "stepSize", "minQty", "maxQty", "makerFee", "takerFee"] as const) {
    if (form[field].trim() === "") errors[field] = "Required";
  }
  const changes: MarketChangesBody = {};
  collectChanges(form, scales, changes, errors);
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: {
      symbol, baseAsset, quoteAsset,
      tickSize: changes.tickSize ?? "", stepSize: changes.stepSize ?? "",
      minQty: changes.minQty ?? "", maxQty: changes.maxQty ?? "",
      minNotional: changes.minNotional ?? "0",
      makerFeePpm: changes.makerFeePpm ?? 0, takerFeePpm: changes.takerFeePpm ?? 0,
    },
  };
}

const EDITABLE_FIELDS = ["tickSize", "stepSize", "minQty", "maxQty", "minNotional", "makerFee", "takerFee"] as const;

function sameDecimal(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return compareDecimals(a, b) === 0;
  } catch (error) {
    if (error instanceof AmountError) return false;
    throw error;
  }
}

/** `form` with the fields still as in `initial` blanked: only changes are sent. */
function changedOnly(form: MarketFormText, initial: MarketFormText): MarketFormText {
  const changed = { ...form };
  for (const field of EDITABLE_FIELDS) {
    if (sameDecimal(form[field].trim(), initial[field].trim())) changed[field] = "";
  }
  return changed;
}

/** An edit form as the body of PATCH /v1/admin/markets/{symbol}: the non-blank fields
 * that differ from `initial` (symbol and assets are not editable). At least one change
 * is needed. */
export function marketChangesBody(form: MarketFormText, initial: MarketFormText,
  scales: MarketScales): Checked<MarketChangesBody> {
  const errors: Record<string, string> = {};
  const body: MarketChangesBody = {};
  collectChanges(changedOnly(form, initial), scales, body, errors);
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  if (Object.keys(body).length === 0) return { ok: false, errors: { tickSize: "Change at least one filter or fee" } };
  return { ok: true, value: body };
}

/** A market's current filters (and fees when known) as an edit form's text. */
export function marketFormOf(listed: ListedMarket, fees: FeeRatesPpm | undefined): MarketFormText {
  const { market } = listed;
  return {
    symbol: market.symbol, baseAsset: market.baseAsset, quoteAsset: market.quoteAsset,
    tickSize: formatAmount(market.tickSize, market.quoteScale, { trim: true }),
    stepSize: formatAmount(market.lotSize, market.baseScale, { trim: true }),
    minQty: formatAmount(market.minQty, market.baseScale, { trim: true }),
    maxQty: formatAmount(market.maxQty, market.baseScale, { trim: true }),
    minNotional: formatAmount(market.minNotional, market.quoteScale, { trim: true }),
    makerFee: fees === undefined ? "" : ppmToPercent(fees.makerFeePpm),
    takerFee: fees === undefined ? "" : ppmToPercent(fees.takerFeePpm),
  };
}

/** A market's fees as the admin routes answer them (exchangeInfo has none). */
export interface FeeRatesPpm {
  makerFeePpm: number;
  takerFeePpm: number;
}

/** The assets of the listed markets with their scales, by symbol (A→Z). */
export function assetsOfMarkets(markets: readonly ListedMarket[]): Map<string, number> {
  const scales = new Map<string, number>();
  for (const { market } of markets) {
    scales.set(market.baseAsset, market.baseScale);
    scales.set(market.quoteAsset, market.quoteScale);
  }
  return new Map([...scales].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** A new asset's form. */
export interface AssetFormText {
  symbol: string;
  scale: string;
  name: string;
  fourEyesThreshold: string;
}

/** The body of POST /v1/admin/assets. */
export interface NewAssetBody {
  symbol: string;
  scale: number;
  name: string;
  fourEyesThreshold?: string;
}

/** A new asset's form as the body of POST /v1/admin/assets (blank threshold: none). */
export function newAssetBody(form: AssetFormText): Checked<NewAssetBody> {
  const errors: Record<string, string> = {};
  const symbol = symbolText(form.symbol);
  if (!SYMBOL_PATTERN.test(symbol) || symbol.length > 20) errors["symbol"] = "Enter 1 to 20 letters A–Z or digits, like BTC";
  const scaleText = form.scale.trim();
  const typed = /^[0-9]{1,2}$/.test(scaleText) ? Number(scaleText) : -1;
  const scale = typed <= MAX_SCALE ? typed : -1;
  if (scale < 0) errors["scale"] = `Enter a whole number of decimals from 0 to ${MAX_SCALE}`;
  const name = form.name.trim();
  if (name.length > 100) errors["name"] = "Name must be at most 100 characters";
  const threshold = form.fourEyesThreshold.trim();
  if (threshold !== "") {
    const problem = decimalProblem(threshold, "Threshold", scale < 0 ? undefined : scale);
    if (problem !== null) errors["fourEyesThreshold"] = problem;
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  const body: NewAssetBody = { symbol, scale, name };
  if (threshold !== "") body.fourEyesThreshold = threshold;
  return { ok: true, value: body };
}

/** The body of PATCH /v1/admin/assets/{symbol}: blank clears the threshold (null: one
 * admin suffices for any amount). */
export function thresholdBody(text: string, scale: number | undefined): Checked<{ fourEyesThreshold: string | null }> {
  const threshold = text.trim();
  if (threshold === "") return { ok: true, value: { fourEyesThreshold: null } };
  const problem = decimalProblem(threshold, "Threshold", scale);
  return problem === null ? { ok: true, value: { fourEyesThreshold: threshold } }
    : { ok: false, errors: { fourEyesThreshold: problem } };
}

/** A deposit credit's form. */
export interface DepositFormText {
  userId: string;
  asset: string;
  amount: string;
  txid: string;
}

/** The body of POST /v1/admin/deposits. */
export interface DepositCreditBody {
  userId: number;
  asset: string;
  amount: string;
  txid: string;
}

/** A deposit credit's form as the body of POST /v1/admin/deposits; `scale` is the asset's
 * when known. */
export function depositBody(form: DepositFormText, scale: number | undefined): Checked<DepositCreditBody> {
  const errors: Record<string, string> = {};
  const userText = form.userId.trim();
  if (!/^[1-9][0-9]{0,15}$/.test(userText)) errors["userId"] = "Enter the user's id, a whole number like 42";
  const asset = symbolText(form.asset);
  if (!SYMBOL_PATTERN.test(asset)) errors["asset"] = "Enter the asset, like USDT";
  const amount = form.amount.trim();
  const amountProblem = decimalProblem(amount, "Amount", scale, true);
  if (amountProblem !== null) errors["amount"] = amountProblem;
  const txid = form.txid.trim();
  if (txid === "" || txid.length > 128) errors["txid"] = "Enter the transaction id (1 to 128 characters)";
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, value: { userId: Number(userText), asset, amount, txid } };
}

/** A page of an admin list: newest first; `nextBeforeId` asks for the older ones. */
export interface AdminPageAnswer<T> {
  items: T[];
  nextBeforeId: number | null;
}

/** The query of a page: `beforeId` only past the first page. */
export function pageQuery(limit: number, beforeId: number | null): Record<string, string> {
  return beforeId === null ? { limit: String(limit) }
    : { limit: String(limit), beforeId: String(beforeId) };
}

/** The marker of what awaits a second admin (presenters.py AWAITING_SECOND_ADMIN). */
export const AWAITING_SECOND_ADMIN = "AWAITING_SECOND_ADMIN";

/** A withdrawal as admins see it (presenters.py `admin_withdrawal`). */
export interface AdminWithdrawal {
  id: number;
  userId: number;
  asset: string;
  amount: string;
  address: string;
  status: string;
  requestedAt: number | null;
  decidedAt: number | null;
  firstApprovedBy: number | null;
  state?: string;
}

/** The pending list after a decision: a withdrawal still PENDING (a first approval above
 * the asset's threshold, awaiting a second admin) stays, updated; a decided one leaves. */
export function afterDecision(rows: readonly AdminWithdrawal[], answer: AdminWithdrawal): AdminWithdrawal[] {
  return answer.status === "PENDING"
    ? rows.map((row) => (row.id === answer.id ? answer : row))
    : rows.filter((row) => row.id !== answer.id);
}

/** A deposit credit awaiting a second admin (presenters.py `pending_credit`). */
export interface PendingCredit {
  id: number;
  userId: number;
  asset: string;
  amount: string;
  txid: string;
  requestedBy: number;
  requestedAt: number | null;
  state: string;
}

/** An audit log entry (presenters.py `audit_entry`). */
export interface AuditEntry {
  id: number;
  actorUserId: number | null;
  action: string;
  target: string;
  details: unknown;
  createdAt: number | null;
}

/** Entries of a newer page followed by those of an older one, each id once, newest first. */
export function mergeOlder<T extends { id: number }>(shown: readonly T[], older: readonly T[]): T[] {
  const seen = new Set(shown.map((entry) => entry.id));
  return [...shown, ...older.filter((entry) => !seen.has(entry.id))];
}

/** An entry's details as one compact line of JSON ("" when there are none). */
export function compactDetails(details: unknown): string {
  if (details === null || details === undefined) return "";
  if (typeof details === "object" && Object.keys(details).length === 0) return "";
  return JSON.stringify(details);
}

/** A time in ms as "2026-12-06 19:17:34 UTC" (the same for every operator), or "—". */
export function formatTime(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return "—";
  return `${new Date(ms).toISOString().slice(0, 19).replace("T", " ")} UTC`;
}
