/**
 * The order form: Buy/Sell, Limit (GTC/IOC/FOK), Market by amount or by total, Limit
 * maker (post-only) and, where the market lists them, stop-limit orders. Before sending
 * it shows what will be locked and the fee (orderForm.ts `previewOrder`) and names any
 * problem next to its input; the API's refusal is shown the same way.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { href } from "../../app/router";
import { useMe, useServices } from "../../app/services";
import { formatAmount } from "../../lib/decimal";
import { previewOrder, type Market, type OrderPreview, type ProblemField } from "../../lib/orderForm";
import { errorFor, Field, formError, FormError, Panel, useAction } from "../common/forms";
import { useAccountActions, useAccountState, useAccountStatus } from "../account-state/useAccountState";
import {
  amountForShare,
  availableOf,
  emptyOrderForm,
  orderDraftOf,
  orderParamsOf,
  sendsPrice,
  sendsTimeInForce,
  sendsTotal,
  stopPriceProblem,
  stopTypesOf,
  type FormKind,
  type OrderFormValues,
  type ShareFill,
  type TimeInForce,
} from "./tradeLogic";

/** A price picked in the order book; `at` makes picking the same price twice count. */
export interface PickedPrice {
  price: string;
  at: number;
}

/** What POST /api/v3/order answers with newOrderRespType RESULT (the fields shown). */
interface PlacedOrder {
  orderId: number;
  status: string;
  executedQty: string;
}

const KIND_LABELS: Record<FormKind, string> = {
  LIMIT: "Limit",
  MARKET: "Market",
  LIMIT_MAKER: "Limit maker (post-only)",
  STOP_LIMIT: "Stop-limit",
};

const STOP_TYPE_LABELS: Record<OrderFormValues["stopType"], string> = {
  STOP_LOSS_LIMIT: "Stop loss",
  TAKE_PROFIT_LIMIT: "Take profit",
};

/** The API's parameters shown next to an input of the form. */
const SHOWN_FIELDS = ["price", "quantity", "quoteOrderQty", "stopPrice", "timeInForce", "balance"] as const;

function ratePercent(ppm: number): string {
  return `${formatAmount(BigInt(ppm), 4, { trim: true })} %`;
}

function assetScale(market: Market, asset: string): number {
  return asset === market.baseAsset ? market.baseScale : market.quoteScale;
}

/** The lock and fee lines of the preview. */
function PreviewSummary({ market, preview, available }: {
  market: Market;
  preview: OrderPreview;
  available: bigint;
}): JSX.Element {
  const { lock, fee } = preview;
  const lockScale = assetScale(market, lock.asset);
  const feeScale = assetScale(market, fee.asset);
  return (
    <dl class="order-preview" data-testid="order-preview">
      <dt>Available</dt>
      <dd class="num">{formatAmount(available, lockScale)} {lock.asset}</dd>
      <dt>Will lock</dt>
      <dd class="num">
        {lock.wholeBalance
          ? `up to your available ${lock.asset} (${formatAmount(lock.amount, lockScale)})`
          : `${formatAmount(lock.amount, lockScale)} ${lock.asset}`}
      </dd>
      {preview.receive === null ? null : <>
        <dt>You receive</dt>
        <dd class="num">{formatAmount(preview.receive.amount, assetScale(market, preview.receive.asset))} {preview.receive.asset}</dd>
      </>}
      <dt>Fee ({ratePercent(fee.ratePpm)})</dt>
      <dd class="num">
        {fee.maxAmount === null
          ? `${ratePercent(fee.ratePpm)} of the ${fee.asset} received`
          : `up to ${formatAmount(fee.maxAmount, feeScale)} ${fee.asset}`}
      </dd>
    </dl>
  );
}

/** The first problem of the preview on `field`, shown only once its input has text. */
function previewProblem(preview: OrderPreview, field: ProblemField, typed: string): string | null {
  if (typed.trim() === "") return null;
  return preview.problems.find((problem) => problem.field === field)?.message ?? null;
}

function SideTabs({ side, onChange }: { side: "BUY" | "SELL"; onChange: (side: "BUY" | "SELL") => void }): JSX.Element {
  return (
    <div class="side-tabs" role="tablist" aria-label="Side">
      {(["BUY", "SELL"] as const).map((option) => (
        <button key={option} type="button" role="tab" aria-selected={side === option}
                class={side === option ? (option === "BUY" ? "buy" : "sell") : "ghost"}
                onClick={() => onChange(option)}>{option === "BUY" ? "Buy" : "Sell"}</button>
      ))}
    </div>
  );
}

const SHARES = [25, 50, 75, 100] as const;

/** Buttons that fill the amount (or total) with a share of the available balance. */
function ShareButtons({ fillFor, onFill }: {
  fillFor: (percent: number) => ShareFill | null;
  onFill: (fill: ShareFill) => void;
}): JSX.Element {
  return (
    <div class="share-buttons" role="group" aria-label="Use a share of the available balance">
      {SHARES.map((percent) => {
        const fill = fillFor(percent);
        return (
          <button key={percent} type="button" class="ghost small" disabled={fill === null}
                  onClick={() => fill !== null && onFill(fill)}>{percent} %</button>
        );
      })}
    </div>
  );
}

/** The form of a signed-in trader. */
function SignedInOrderForm({ market, orderTypes, picked }: {
  market: Market;
  orderTypes: readonly string[];
  picked: PickedPrice | null;
}): JSX.Element {
  const services = useServices();
  const account = useAccountState();
  const status = useAccountStatus();
  const accountActions = useAccountActions();
  const [values, setValues] = useState<OrderFormValues>(() => emptyOrderForm("BUY"));
  const [confirmation, setConfirmation] = useState<string | null>(null);
  const change = (patch: Partial<OrderFormValues>): void => {
    setValues((current) => ({ ...current, ...patch }));
    setConfirmation(null);
  };
  useEffect(() => {
    if (picked !== null) change({ price: picked.price, kind: values.kind === "MARKET" ? "LIMIT" : values.kind });
  }, [picked]);

  const stopTypes = stopTypesOf(orderTypes);
  const kinds: FormKind[] = ["LIMIT", "MARKET", "LIMIT_MAKER", ...(stopTypes.length > 0 ? ["STOP_LIMIT" as const] : [])];
  const balancesLoaded = status?.loaded === true || (account !== null && account.balances().length > 0);
  const available = account === null ? {} : availableOf(market, (asset) => account.balance(asset));
  const preview = previewOrder(market, orderDraftOf(values), available);
  const stopProblem = values.stopPrice.trim() === "" ? null : stopPriceProblem(market, values);
  const blocking = preview.problems.filter((problem) => problem.field !== "balance" || balancesLoaded);
  const canSend = blocking.length === 0 && stopPriceProblem(market, values) === null;
  const byTotal = sendsTotal(values);

  const action = useAction(async () => {
    const placed = await services.api.account<PlacedOrder>("POST", "/api/v3/order",
      orderParamsOf(market.symbol, values));
    setValues((current) => ({ ...current, amount: "", total: "" }));
    setConfirmation(`${values.side === "BUY" ? "Buy" : "Sell"} order ${placed.orderId} placed: ` +
      `${placed.status.toLowerCase().replace(/_/g, " ")}.`);
    accountActions?.afterOwnAction();
  });
  const apiProblem = action.problem;
  const priceError = errorFor(apiProblem, "price") ?? previewProblem(preview, "price", values.price);
  const amountError = byTotal ? null : errorFor(apiProblem, "quantity") ?? previewProblem(preview, "quantity", values.amount);
  const totalError = byTotal
    ? errorFor(apiProblem, "quoteOrderQty", "quantity") ?? previewProblem(preview, "quoteOrderQty", values.total) ??
      previewProblem(preview, "quantity", values.total)
    : null;
  const balanceError = errorFor(apiProblem, "balance") ??
    (balancesLoaded ? preview.problems.find((problem) => problem.field === "balance")?.message ?? null : null);
  const sideWord = values.side === "BUY" ? "Buy" : "Sell";
  const availableAsset = values.side === "BUY" ? market.quoteAsset : market.baseAsset;

  return (
    <form class="order-form" noValidate onSubmit={(event) => {
      event.preventDefault();
      if (canSend) void action.run();
    }}>
      <SideTabs side={values.side} onChange={(side) => change({ side })} />
      <Field id="order-kind" label="Order type" error={errorFor(apiProblem, "type")}>
        {(describedBy) => (
          <select id="order-kind" aria-describedby={describedBy} value={values.kind}
                  onChange={(event) => change({ kind: event.currentTarget.value as FormKind })}>
            {kinds.map((kind) => <option key={kind} value={kind}>{KIND_LABELS[kind]}</option>)}
          </select>
        )}
      </Field>
      {values.kind === "STOP_LIMIT" && stopTypes.length > 1 ? (
        <Field id="order-stop-type" label="Stop kind">
          {(describedBy) => (
            <select id="order-stop-type" aria-describedby={describedBy} value={values.stopType}
                    onChange={(event) => change({ stopType: event.currentTarget.value as OrderFormValues["stopType"] })}>
              {stopTypes.map((type) => <option key={type} value={type}>{STOP_TYPE_LABELS[type]}</option>)}
            </select>
          )}
        </Field>
      ) : null}
      {values.kind === "MARKET" ? (
        <Field id="order-sizing" label="Size by">
          {(describedBy) => (
            <select id="order-sizing" aria-describedby={describedBy} value={values.marketSizing}
                    onChange={(event) => change({ marketSizing: event.currentTarget.value === "total" ? "total" : "amount" })}>
              <option value="amount">Amount ({market.baseAsset})</option>
              <option value="total">Total ({market.quoteAsset})</option>
            </select>
          )}
        </Field>
      ) : null}
      {values.kind === "STOP_LIMIT" ? (
        <AmountInput id="order-stop-price" label="Stop price" asset={market.quoteAsset} value={values.stopPrice}
                     error={errorFor(apiProblem, "stopPrice") ?? stopProblem}
                     onInput={(stopPrice) => change({ stopPrice })} />
      ) : null}
      {sendsPrice(values) ? (
        <AmountInput id="order-price" label="Price" asset={market.quoteAsset} value={values.price}
                     error={priceError} onInput={(price) => change({ price })} />
      ) : null}
      {byTotal ? (
        <AmountInput id="order-total" label="Total" asset={market.quoteAsset} value={values.total}
                     error={totalError} onInput={(total) => change({ total })} />
      ) : (
        <AmountInput id="order-amount" label="Amount" asset={market.baseAsset} value={values.amount}
                     error={amountError} onInput={(amount) => change({ amount })} />
      )}
      <ShareButtons fillFor={(percent) => amountForShare(market, values, available, percent)}
                    onFill={(fill) => change(fill.field === "total" ? { total: fill.value } : { amount: fill.value })} />
      {sendsTimeInForce(values) ? (
        <Field id="order-tif" label="Time in force" error={errorFor(apiProblem, "timeInForce")}>
          {(describedBy) => (
            <select id="order-tif" aria-describedby={describedBy} value={values.timeInForce}
                    onChange={(event) => change({ timeInForce: event.currentTarget.value as TimeInForce })}>
              <option value="GTC">Good till cancelled (GTC)</option>
              <option value="IOC">Immediate or cancel (IOC)</option>
              <option value="FOK">Fill or kill (FOK)</option>
            </select>
          )}
        </Field>
      ) : null}
      <PreviewSummary market={market} preview={preview} available={available[availableAsset] ?? 0n} />
      {balanceError === null ? null : <p class="error" role="alert" data-testid="balance-error">{balanceError}</p>}
      <FormError message={formError(apiProblem, SHOWN_FIELDS) ?? action.failure} />
      <button type="submit" class={values.side === "BUY" ? "buy wide" : "sell wide"}
              disabled={!canSend || action.busy}>
        {action.busy ? "Sending…" : `${sideWord} ${market.baseAsset}`}
      </button>
      <p role="status" class="notice order-confirmation" data-testid="order-confirmation">{confirmation ?? ""}</p>
    </form>
  );
}

/** A decimal input with its asset as the hint. */
function AmountInput({ id, label, asset, value, error, onInput }: {
  id: string;
  label: string;
  asset: string;
  value: string;
  error: string | null;
  onInput: (value: string) => void;
}): JSX.Element {
  return (
    <Field id={id} label={label} error={error} hint={asset}>
      {(describedBy, invalid) => (
        <input id={id} type="text" inputMode="decimal" autoComplete="off" spellcheck={false} value={value}
               aria-describedby={describedBy} aria-invalid={invalid}
               onInput={(event) => onInput(event.currentTarget.value)} />
      )}
    </Field>
  );
}

/** The order form panel: the form when signed in, else a link to log in. */
export function OrderFormPanel({ market, orderTypes, picked, halted }: {
  market: Market;
  orderTypes: readonly string[];
  picked: PickedPrice | null;
  halted: boolean;
}): JSX.Element {
  const me = useMe();
  return (
    <div data-testid="order-form" class="trade-form">
      <Panel title="Place order">
        {halted ? <p class="error" role="alert">This market is halted: orders are refused until it resumes.</p> : null}
        {me === null
          ? <p><a href={href(`/login/${encodeURIComponent(`/trade/${market.symbol}`)}`)}>Log in to trade</a></p>
          : <SignedInOrderForm key={market.symbol} market={market} orderTypes={orderTypes} picked={picked} />}
      </Panel>
    </div>
  );
}
