/**
 * Deposit: choose an asset, get the account's address for it (created on first request,
 * then stable) with a copy button and its QR code; below, the deposits received.
 */
import type { JSX } from "preact";
import { useEffect, useState } from "preact/hooks";
import { useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, Panel, useAction } from "../common/forms";
import { CopyButton } from "../account/CopyButton";
import { QrCode } from "../account/QrCode";
import { formatTime } from "./time";
import type { Deposit } from "./walletModel";

/** The deposit panel; `assets` are the assets one can deposit. */
export function DepositPanel({ assets, deposits }: { assets: string[]; deposits: Deposit[] }): JSX.Element {
  const services = useServices();
  const [asset, setAsset] = useState(assets[0] ?? "");
  const [address, setAddress] = useState<string | null>(null);
  const lookup = useAction(async (wanted: string) => {
    setAddress(null);
    const answer = await services.api.v1<{ asset: string; address: string }>(
      "GET", `/v1/deposit-address?asset=${encodeURIComponent(wanted)}`);
    setAddress(answer.address);
  });
  useEffect(() => {
    if (asset !== "") void lookup.run(asset);
  }, [asset]);
  return (
    <Panel title="Deposit">
      <Field id="deposit-asset" label="Asset to deposit" error={errorFor(lookup.problem, "asset")}>
        {(describedBy, invalid) => (
          <select id="deposit-asset" value={asset} onChange={(e) => setAsset(e.currentTarget.value)}
                  aria-describedby={describedBy} aria-invalid={invalid}>
            {assets.map((symbol) => <option key={symbol} value={symbol}>{symbol}</option>)}
          </select>
        )}
      </Field>
      <FormError message={formError(lookup.problem, ["asset"]) ?? lookup.failure} />
      {address === null
        ? (lookup.busy ? <p class="muted">Getting your address…</p> : null)
        : <DepositAddress asset={asset} address={address} />}
      <DepositHistory deposits={deposits} />
    </Panel>
  );
}

function DepositAddress({ asset, address }: { asset: string; address: string }): JSX.Element {
  return (
    <div class="deposit-address">
      <p class="address-label" id="deposit-address-label">Your {asset} deposit address</p>
      <div class="address-line">
        <code class="copyable" data-testid="deposit-address" aria-labelledby="deposit-address-label">{address}</code>
        <CopyButton text={address} what={`${asset} deposit address`} />
      </div>
      <QrCode value={address} label={`QR code of your ${asset} deposit address`} />
      <p class="hint">Send only {asset} to this address. Deposits show below once credited.</p>
    </div>
  );
}

function DepositHistory({ deposits }: { deposits: Deposit[] }): JSX.Element {
  return (
    <table class="wallet-history" data-testid="deposit-history">
      <caption>Deposit history</caption>
      <thead>
        <tr><th scope="col">Time</th><th scope="col">Asset</th><th scope="col">Amount</th><th scope="col">Transaction</th></tr>
      </thead>
      <tbody>
        {deposits.length === 0
          ? <tr><td colSpan={4} class="muted wallet-empty">No deposits yet.</td></tr>
          : deposits.map((deposit) => (
              <tr key={deposit.id} data-testid="deposit-row">
                <td>{formatTime(deposit.createdAt)}</td>
                <td>{deposit.asset}</td>
                <td class="num">{deposit.amount}</td>
                <td class="num wallet-txid" title={deposit.txid}>{deposit.txid}</td>
              </tr>
            ))}
      </tbody>
    </table>
  );
}
