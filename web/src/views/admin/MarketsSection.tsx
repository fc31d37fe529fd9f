/**
 * Markets: the list from exchangeInfo (status and filters; fees once an admin answer
 * told them, exchangeInfo has none), a new market's form, editing a market's filters and
 * fees, and halting or resuming it after a confirmation.
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { useServices } from "../../app/services";
import type { ApiProblem } from "../../lib/apiErrors";
import { formatAmount } from "../../lib/decimal";
import { listedMarketsFromExchangeInfo, type ListedMarket } from "../../lib/markets";
import { Field, FormError, formError, Panel, useAction } from "../common/forms";
import {
  apiFieldError,
  assetsOfMarkets,
  marketChangesBody,
  marketFormOf,
  newMarketBody,
  ppmToPercent,
  serverNames,
  type FeeRatesPpm,
  type FieldErrors,
  type MarketFormText,
  type MarketScales,
} from "./adminForms";
import { useLoad } from "./useLoad";

/** A market as the admin routes answer (presenters.py `market`). */
interface AdminMarket extends FeeRatesPpm {
  symbol: string;
  baseAsset: string;
  quoteAsset: string;
  status: string;
}

const EMPTY_MARKET_FORM: MarketFormText = {
  symbol: "", baseAsset: "", quoteAsset: "", tickSize: "", stepSize: "", minQty: "",
  maxQty: "", minNotional: "0", makerFee: "0.1", takerFee: "0.1",
};

const FILTER_INPUTS: readonly { field: keyof MarketFormText; label: string; hint: string }[] = [
  { field: "tickSize", label: "Tick size", hint: "Price step, in the quote asset" },
  { field: "stepSize", label: "Lot size", hint: "Quantity step, in the base asset" },
  { field: "minQty", label: "Minimum quantity", hint: "In the base asset" },
  { field: "maxQty", label: "Maximum quantity", hint: "In the base asset" },
  { field: "minNotional", label: "Minimum notional", hint: "Price × quantity, in the quote asset" },
  { field: "makerFee", label: "Maker fee (%)", hint: "0.1 is 0.1 % (1000 ppm); at most 10" },
  { field: "takerFee", label: "Taker fee (%)", hint: "0.1 is 0.1 % (1000 ppm); at most 10" },
];

const FORM_FIELDS = serverNames("symbol", "baseAsset", "quoteAsset", ...FILTER_INPUTS.map((input) => input.field));

/** The operator's markets screen. */
export function MarketsSection(): JSX.Element {
  const services = useServices();
  const markets = useLoad(async () =>
    listedMarketsFromExchangeInfo(await services.api.publicGet("/api/v3/exchangeInfo")));
  const [fees, setFees] = useState<ReadonlyMap<string, FeeRatesPpm>>(new Map());
  const [editing, setEditing] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const listed = markets.data ?? [];
  const scales = assetsOfMarkets(listed);
  const changed = (answer: AdminMarket, words: string): void => {
    setFees((known) => new Map(known).set(answer.symbol, answer));
    setNotice(`${answer.symbol} ${words}.`);
    markets.reload();
  };
  const edited = listed.find((entry) => entry.market.symbol === editing);
  return (
    <div class="admin-section" data-testid="admin-markets">
      <Panel title="Markets" actions={<button type="button" class="ghost" onClick={markets.reload}>Refresh</button>}>
        {notice === null ? null : <p class="notice" role="status">{notice}</p>}
        <FormError message={markets.error} />
        {markets.data === null && markets.loading ? <p class="muted">Loading markets…</p> : null}
        {markets.data === null ? null
          : <MarketsTable markets={listed} fees={fees} onEdit={setEditing} onChanged={changed} />}
      </Panel>
      {edited === undefined ? null
        : <EditMarketForm key={edited.market.symbol} listed={edited} fees={fees.get(edited.market.symbol)}
                          onDone={(answer) => { setEditing(null); changed(answer, "updated"); }}
                          onCancel={() => setEditing(null)} />}
      <NewMarketForm scales={scales} onCreated={(answer) => changed(answer, "created, trading")} />
    </div>
  );
}

function MarketsTable({ markets, fees, onEdit, onChanged }: {
  markets: readonly ListedMarket[];
  fees: ReadonlyMap<string, FeeRatesPpm>;
  onEdit: (symbol: string) => void;
  onChanged: (answer: AdminMarket, words: string) => void;
}): JSX.Element {
  if (markets.length === 0) return <p class="muted">No markets yet: create one below.</p>;
  return (
    <table class="admin-table" aria-label="Markets">
      <thead>
        <tr>
          <th scope="col">Symbol</th><th scope="col">Status</th><th scope="col">Tick size</th>
          <th scope="col">Lot size</th><th scope="col">Min qty</th><th scope="col">Max qty</th>
          <th scope="col">Min notional</th><th scope="col">Maker / taker fee</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        {markets.map((listed) => (
          <MarketRow key={listed.market.symbol} listed={listed} fees={fees.get(listed.market.symbol)}
                     onEdit={onEdit} onChanged={onChanged} />
        ))}
      </tbody>
    </table>
  );
}

function feeWords(fees: FeeRatesPpm | undefined): string {
  return fees === undefined ? "—" : `${ppmToPercent(fees.makerFeePpm)} % / ${ppmToPercent(fees.takerFeePpm)} %`;
}

function MarketRow({ listed, fees, onEdit, onChanged }: {
  listed: ListedMarket;
  fees: FeeRatesPpm | undefined;
  onEdit: (symbol: string) => void;
  onChanged: (answer: AdminMarket, words: string) => void;
}): JSX.Element {
  const { market, status } = listed;
  return (
    <tr data-testid="admin-market-row" data-symbol={market.symbol}>
      <th scope="row">{market.symbol} <span class="muted">{market.baseAsset}/{market.quoteAsset}</span></th>
      <td><span class={`status status-${status === "TRADING" ? "on" : "off"}`}>{status}</span></td>
      <td class="num">{formatAmount(market.tickSize, market.quoteScale)}</td>
      <td class="num">{formatAmount(market.lotSize, market.baseScale)}</td>
      <td class="num">{formatAmount(market.minQty, market.baseScale)}</td>
      <td class="num">{formatAmount(market.maxQty, market.baseScale)}</td>
      <td class="num">{formatAmount(market.minNotional, market.quoteScale)}</td>
      <td class="num" title={fees === undefined ? "exchangeInfo does not publish fees; edit the market to set them" : undefined}>
        {feeWords(fees)}
      </td>
      <td>
        <div class="admin-actions">
          <button type="button" class="ghost" onClick={() => onEdit(market.symbol)}
                  aria-label={`Edit ${market.symbol}`}>Edit</button>
          <StatusSwitch symbol={market.symbol} trading={status === "TRADING"} onChanged={onChanged} />
        </div>
      </td>
    </tr>
  );
}

/** Halt or Resume, each after a confirmation in place (Escape cancels). */
function StatusSwitch({ symbol, trading, onChanged }: {
  symbol: string;
  trading: boolean;
  onChanged: (answer: AdminMarket, words: string) => void;
}): JSX.Element {
  const services = useServices();
  const [confirming, setConfirming] = useState(false);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const verb = trading ? "Halt" : "Resume";
  const action = useAction(async () => {
    const answer = await services.api.v1<AdminMarket>("POST",
      `/v1/admin/markets/${encodeURIComponent(symbol)}/${trading ? "halt" : "resume"}`);
    setConfirming(false);
    onChanged(answer, trading ? "halted" : "resumed");
  });
  useEffect(() => {
    if (confirming) confirmButton.current?.focus();
  }, [confirming]);
  const problem = formError(action.problem, []) ?? action.failure;
  if (!confirming) {
    return (
      <>
        <button type="button" class={trading ? "danger" : ""} onClick={() => setConfirming(true)}
                aria-label={`${verb} ${symbol}`}>{verb}</button>
        {problem === null ? null : <small class="error" role="alert">{problem}</small>}
      </>
    );
  }
  return (
    <span class="admin-confirm" role="group" aria-label={`Confirm: ${verb.toLowerCase()} ${symbol}`}
          onKeyDown={(event) => {
            if (event.key === "Escape") setConfirming(false);
          }}>
      <span>{trading ? `Halt ${symbol}? Orders stop matching.` : `Resume trading ${symbol}?`}</span>
      <button type="button" ref={confirmButton} class={trading ? "danger" : ""} disabled={action.busy}
              onClick={() => void action.run()}>{`Confirm ${verb.toLowerCase()}`}</button>
      <button type="button" class="ghost" onClick={() => setConfirming(false)}>Cancel</button>
    </span>
  );
}

/** The inputs of a market form; `locked` leaves the symbol and assets read-only (edit). */
function MarketInputs({ idPrefix, form, setForm, errors, locked }: {
  idPrefix: string;
  form: MarketFormText;
  setForm: (form: MarketFormText) => void;
  errors: (field: keyof MarketFormText, label: string) => string | null;
  locked: boolean;
}): JSX.Element {
  const input = (field: keyof MarketFormText, label: string, hint?: string): JSX.Element => {
    const id = `${idPrefix}-${field}`;
    const props = hint === undefined ? {} : { hint };
    return (
      <Field key={field} id={id} label={label} error={errors(field, label)} {...props}>
        {(describedBy, invalid) => (
          <input id={id} value={form[field]} readOnly={locked && ["symbol", "baseAsset", "quoteAsset"].includes(field)}
                 inputMode={["symbol", "baseAsset", "quoteAsset"].includes(field) ? "text" : "decimal"}
                 autoComplete="off" spellcheck={false}
                 aria-describedby={describedBy} aria-invalid={invalid}
                 onInput={(event) => setForm({ ...form, [field]: event.currentTarget.value })} />
        )}
      </Field>
    );
  };
  return (
    <div class="admin-form-grid">
      {locked ? null : <>
        {input("symbol", "Symbol", "Like BTCUSDT")}
        {input("baseAsset", "Base asset", "What is bought and sold, like BTC")}
        {input("quoteAsset", "Quote asset", "What prices are in, like USDT")}
      </>}
      {FILTER_INPUTS.map(({ field, label, hint }) => input(field, label, hint))}
    </div>
  );
}

/** Messages for a market form's fields: this form's own checks first, then the API's. */
function fieldMessages(checked: FieldErrors, problem: ApiProblem | null) {
  return (field: keyof MarketFormText, label: string): string | null =>
    checked[field] ?? apiFieldError(problem, field, label.replace(/ \(%\)$/, "").toLowerCase());
}

function NewMarketForm({ scales, onCreated }: {
  scales: ReadonlyMap<string, number>;
  onCreated: (answer: AdminMarket) => void;
}): JSX.Element {
  const services = useServices();
  const [form, setForm] = useState(EMPTY_MARKET_FORM);
  const [checked, setChecked] = useState<FieldErrors>({});
  const action = useAction(async () => {
    const marketScales: MarketScales = {
      base: scales.get(form.baseAsset.trim().toUpperCase()),
      quote: scales.get(form.quoteAsset.trim().toUpperCase()),
    };
    const body = newMarketBody(form, marketScales);
    setChecked(body.ok ? {} : body.errors);
    if (!body.ok) return;
    onCreated(await services.api.v1<AdminMarket>("POST", "/v1/admin/markets", body.value));
    setForm(EMPTY_MARKET_FORM);
  });
  return (
    <Panel title="New market">
      <form noValidate aria-label="New market" onSubmit={(event) => {
        event.preventDefault();
        void action.run();
      }}>
        <MarketInputs idPrefix="new-market" form={form} setForm={setForm} locked={false}
                      errors={fieldMessages(checked, action.problem)} />
        <FormError message={formError(action.problem, FORM_FIELDS) ?? action.failure} />
        <button type="submit" disabled={action.busy}>Create market</button>
      </form>
    </Panel>
  );
}

function EditMarketForm({ listed, fees, onDone, onCancel }: {
  listed: ListedMarket;
  fees: FeeRatesPpm | undefined;
  onDone: (answer: AdminMarket) => void;
  onCancel: () => void;
}): JSX.Element {
  const services = useServices();
  const { market } = listed;
  const initial = marketFormOf(listed, fees);
  const [form, setForm] = useState(initial);
  const [checked, setChecked] = useState<FieldErrors>({});
  const first = useRef<HTMLDivElement>(null);
  useEffect(() => {
    first.current?.querySelector("input")?.focus();
  }, []);
  const action = useAction(async () => {
    const body = marketChangesBody(form, initial, { base: market.baseScale, quote: market.quoteScale });
    setChecked(body.ok ? {} : body.errors);
    if (!body.ok) return;
    onDone(await services.api.v1<AdminMarket>("PATCH",
      `/v1/admin/markets/${encodeURIComponent(market.symbol)}`, body.value));
  });
  return (
    <Panel title={`Edit ${market.symbol}`}>
      <form noValidate aria-label={`Edit ${market.symbol}`} data-testid="admin-market-edit"
            onKeyDown={(event) => {
              if (event.key === "Escape") onCancel();
            }}
            onSubmit={(event) => {
              event.preventDefault();
              void action.run();
            }}>
        <p class="hint">
          Changes apply to new orders; resting orders stay as they are.
          {fees === undefined ? " Blank fees stay as they are (exchangeInfo does not publish them)." : ""}
        </p>
        <div ref={first}>
          <MarketInputs idPrefix={`edit-${market.symbol}`} form={form} setForm={setForm} locked
                        errors={fieldMessages(checked, action.problem)} />
        </div>
        <FormError message={formError(action.problem, FORM_FIELDS) ?? action.failure} />
        <div class="admin-buttons">
          <button type="submit" disabled={action.busy}>Save changes</button>
          <button type="button" class="ghost" onClick={onCancel}>Cancel</button>
        </div>
      </form>
    </Panel>
  );
}
