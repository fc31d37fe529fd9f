/**
 * Assets: those the markets use (from exchangeInfo; the API has no asset list) and those
 * created or changed here, a new asset's form, and the four-eyes threshold above which
 * deposit credits and withdrawals need a second admin (a money action: step-up).
 */
import type { JSX } from "preact";
import { useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { listedMarketsFromExchangeInfo } from "../../lib/markets";
import { Field, FormError, formError, Panel, useAction } from "../common/forms";
import {
  apiFieldError,
  assetsOfMarkets,
  newAssetBody,
  serverNames,
  symbolText,
  thresholdBody,
  type AssetFormText,
  type FieldErrors,
} from "./adminForms";
import { StepUpPrompt, useMoneyAction } from "./stepUp";
import { useLoad } from "./useLoad";

/** An asset as the admin routes answer (presenters.py `asset`). */
interface AdminAsset {
  symbol: string;
  scale: number;
  name: string;
  fourEyesThreshold: string | null;
}

const EMPTY_ASSET_FORM: AssetFormText = { symbol: "", scale: "8", name: "", fourEyesThreshold: "" };
const ASSET_FIELDS = serverNames("symbol", "scale", "name", "fourEyesThreshold");

/** The operator's assets screen. */
export function AssetsSection(): JSX.Element {
  const services = useServices();
  const listed = useLoad(async () =>
    assetsOfMarkets(listedMarketsFromExchangeInfo(await services.api.publicGet("/api/v3/exchangeInfo"))));
  const [answered, setAnswered] = useState<ReadonlyMap<string, AdminAsset>>(new Map());
  const [notice, setNotice] = useState<string | null>(null);
  const scales = new Map(listed.data ?? []);
  for (const asset of answered.values()) scales.set(asset.symbol, asset.scale);
  const remember = (asset: AdminAsset, words: string): void => {
    setAnswered((known) => new Map(known).set(asset.symbol, asset));
    setNotice(`${asset.symbol} ${words}.`);
  };
  return (
    <div class="admin-section" data-testid="admin-assets">
      <Panel title="Assets">
        {notice === null ? null : <p class="notice" role="status">{notice}</p>}
        <FormError message={listed.error} />
        <AssetsTable scales={scales} answered={answered} />
        <datalist id="admin-asset-symbols">
          {[...scales.keys()].map((symbol) => <option key={symbol} value={symbol} />)}
        </datalist>
      </Panel>
      <NewAssetForm onCreated={(asset) => remember(asset, "created")} />
      <ThresholdForm scales={scales} onSet={(asset) => remember(asset, asset.fourEyesThreshold === null
        ? "needs one admin for any amount" : `needs a second admin above ${asset.fourEyesThreshold}`)} />
    </div>
  );
}

function AssetsTable({ scales, answered }: {
  scales: ReadonlyMap<string, number>;
  answered: ReadonlyMap<string, AdminAsset>;
}): JSX.Element {
  const symbols = [...scales.keys()].sort();
  if (symbols.length === 0) return <p class="muted">No assets in any market yet.</p>;
  return (
    <table class="admin-table" aria-label="Assets">
      <caption>Assets of the markets, and those created or changed here. Thresholds are
        shown once set here: the API does not list them.</caption>
      <thead>
        <tr><th scope="col">Symbol</th><th scope="col" class="text">Name</th><th scope="col">Decimals</th>
          <th scope="col">Four-eyes threshold</th></tr>
      </thead>
      <tbody>
        {symbols.map((symbol) => {
          const asset = answered.get(symbol);
          return (
            <tr key={symbol} data-testid="admin-asset-row">
              <th scope="row">{symbol}</th>
              <td class="text">{asset?.name ?? ""}</td>
              <td class="num">{scales.get(symbol)}</td>
              <td class="num">{asset === undefined ? "—" : asset.fourEyesThreshold ?? "none"}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function NewAssetForm({ onCreated }: { onCreated: (asset: AdminAsset) => void }): JSX.Element {
  const services = useServices();
  const [form, setForm] = useState(EMPTY_ASSET_FORM);
  const [checked, setChecked] = useState<FieldErrors>({});
  const action = useAction(async () => {
    const body = newAssetBody(form);
    setChecked(body.ok ? {} : body.errors);
    if (!body.ok) return;
    onCreated(await services.api.v1<AdminAsset>("POST", "/v1/admin/assets", body.value));
    setForm(EMPTY_ASSET_FORM);
  });
  const input = (field: keyof AssetFormText, label: string, hint: string, inputMode: "text" | "numeric" | "decimal"): JSX.Element => {
    const id = `new-asset-${field}`;
    return (
      <Field id={id} label={label} hint={hint} error={checked[field] ?? apiFieldError(action.problem, field, label.toLowerCase())}>
        {(describedBy, invalid) => (
          <input id={id} value={form[field]} inputMode={inputMode} autoComplete="off" spellcheck={false}
                 aria-describedby={describedBy} aria-invalid={invalid}
                 onInput={(event) => setForm({ ...form, [field]: event.currentTarget.value })} />
        )}
      </Field>
    );
  };
  return (
    <Panel title="New asset">
      <form noValidate aria-label="New asset" onSubmit={(event) => {
        event.preventDefault();
        void action.run();
      }}>
        <div class="admin-form-grid">
          {input("symbol", "Symbol", "Like BTC: letters A–Z and digits", "text")}
          {input("scale", "Decimals", "Smallest unit: 8 means 0.00000001", "numeric")}
          {input("name", "Name", "Optional, like Bitcoin", "text")}
          {input("fourEyesThreshold", "Four-eyes threshold", "Optional: larger credits and withdrawals need a second admin", "decimal")}
        </div>
        <FormError message={formError(action.problem, ASSET_FIELDS) ?? action.failure} />
        <button type="submit" disabled={action.busy}>Create asset</button>
      </form>
    </Panel>
  );
}

interface ThresholdInput {
  symbol: string;
  threshold: string;
}

interface ThresholdChange {
  symbol: string;
  body: { fourEyesThreshold: string | null };
}

function ThresholdForm({ scales, onSet }: {
  scales: ReadonlyMap<string, number>;
  onSet: (asset: AdminAsset) => void;
}): JSX.Element {
  const services = useServices();
  const [form, setForm] = useState<ThresholdInput>({ symbol: "", threshold: "" });
  const [checked, setChecked] = useState<FieldErrors>({});
  const action = useMoneyAction(async ({ symbol, body }: ThresholdChange) => {
    onSet(await services.api.v1<AdminAsset>("PATCH", `/v1/admin/assets/${encodeURIComponent(symbol)}`, body));
    setForm({ symbol: "", threshold: "" });
  });
  const submit = (): void => {
    const symbol = symbolText(form.symbol);
    const body = thresholdBody(form.threshold, scales.get(symbol));
    setChecked({ ...(symbol === "" ? { symbol: "Enter the asset, like BTC" } : {}), ...(body.ok ? {} : body.errors) });
    if (body.ok && symbol !== "") void action.run({ symbol, body: body.value });
  };
  const symbolError = checked["symbol"] ?? apiFieldError(action.problem, "symbol", "asset");
  const thresholdError = checked["fourEyesThreshold"] ?? apiFieldError(action.problem, "fourEyesThreshold", "threshold");
  return (
    <Panel title="Four-eyes threshold">
      <form noValidate aria-label="Four-eyes threshold" onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}>
        <p class="hint">Deposit credits and withdrawals larger than this amount need a second
          admin's approval. Leave it blank so that one admin suffices for any amount.</p>
        <div class="admin-form-grid">
          <Field id="threshold-asset" label="Asset" error={symbolError}>
            {(describedBy, invalid) => (
              <input id="threshold-asset" value={form.symbol} list="admin-asset-symbols" autoComplete="off"
                     aria-describedby={describedBy} aria-invalid={invalid}
                     onInput={(event) => setForm({ ...form, symbol: event.currentTarget.value })} />
            )}
          </Field>
          <Field id="threshold-amount" label="Threshold" error={thresholdError}
                 hint="In the asset, like 10000; blank: no threshold">
            {(describedBy, invalid) => (
              <input id="threshold-amount" value={form.threshold} inputMode="decimal" autoComplete="off"
                     aria-describedby={describedBy} aria-invalid={invalid}
                     onInput={(event) => setForm({ ...form, threshold: event.currentTarget.value })} />
            )}
          </Field>
        </div>
        <FormError message={formError(action.problem, ["symbol", ...serverNames("fourEyesThreshold")]) ?? action.failure} />
        <button type="submit" disabled={action.busy}>Set threshold</button>
      </form>
      <StepUpPrompt action={action} id="threshold" what="change the threshold" />
    </Panel>
  );
}
