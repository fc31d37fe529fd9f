/**
 * API keys: the list (label, key, permissions, IP allow-list) with delete after a
 * confirmation, and the create form (label, permissions, IP allow-list, the two-factor
 * code when it is on). A new key's secret is shown once, in a panel that says so.
 */
import type { JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { TOTP_FIELD } from "../../lib/apiErrors";
import { useMe, useServices } from "../../app/services";
import { errorFor, Field, FormError, formError, Panel, useAction } from "../common/forms";
import { TotpInput } from "../auth/TotpInput";
import { CopyButton } from "./CopyButton";
import { useFocusOnMount } from "./useFocusOnMount";
import {
  API_KEY_PERMISSIONS,
  newKeyProblems,
  parseAllowlist,
  PERMISSION_WORDS,
  shortKey,
  type ApiKey,
  type ApiKeyPermission,
  type CreatedApiKey,
} from "./apiKeys";

/** The API keys panel of the account page. */
export function ApiKeysPanel(): JSX.Element {
  const services = useServices();
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const load = useAction(async () => {
    setKeys((await services.api.v1<{ apiKeys: ApiKey[] }>("GET", "/v1/api-keys")).apiKeys);
  });
  useEffect(() => {
    void load.run();
  }, []);
  return (
    <Panel title="API keys">
      <p class="hint">Programs (trading bots, tax tools) use an API key to act for you through the Binance-compatible API.</p>
      {created === null ? null : <NewKeySecret created={created} onDone={() => setCreated(null)} />}
      <FormError message={formError(load.problem, []) ?? load.failure} />
      {keys === null ? <p class="muted">Loading keys…</p> : <KeyTable keys={keys} onDeleted={() => void load.run()} />}
      <CreateKeyForm onCreated={(key) => {
        setCreated(key);
        void load.run();
      }} />
    </Panel>
  );
}

function KeyTable({ keys, onDeleted }: { keys: ApiKey[]; onDeleted: () => void }): JSX.Element {
  if (keys.length === 0) return <p class="muted" data-testid="api-keys-empty">No API keys yet.</p>;
  return (
    <table class="key-table" data-testid="api-keys">
      <caption>Your API keys</caption>
      <thead>
        <tr><th scope="col">Label</th><th scope="col">API key</th><th scope="col">Permissions</th>
          <th scope="col">IP allow-list</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr>
      </thead>
      <tbody>
        {keys.map((key) => <KeyRow key={key.id} apiKey={key} onDeleted={onDeleted} />)}
      </tbody>
    </table>
  );
}

function KeyRow({ apiKey, onDeleted }: { apiKey: ApiKey; onDeleted: () => void }): JSX.Element {
  const services = useServices();
  const [confirming, setConfirming] = useState(false);
  const remove = useAction(async () => {
    await services.api.v1("DELETE", `/v1/api-keys/${apiKey.id}`);
    onDeleted();
  });
  const name = apiKey.label === "" ? shortKey(apiKey.apiKey) : apiKey.label;
  return (
    <tr data-testid="api-key-row">
      <td>{apiKey.label === "" ? <span class="muted">(no label)</span> : apiKey.label}</td>
      <td class="num" title={apiKey.apiKey}>{shortKey(apiKey.apiKey)}</td>
      <td>{apiKey.permissions.join(", ")}</td>
      <td class="acct-allowlist">{apiKey.ipAllowlist.length === 0 ? <span class="muted">Any IP</span> : apiKey.ipAllowlist.join(", ")}</td>
      <td class="acct-row-actions">
        {confirming
          ? <DeleteConfirmation name={name} busy={remove.busy} onDelete={() => void remove.run()}
                                onKeep={() => setConfirming(false)} />
          : <button type="button" class="danger" onClick={() => setConfirming(true)}
                    aria-label={`Delete API key ${name}`}>Delete</button>}
        <FormError message={formError(remove.problem, []) ?? remove.failure} />
      </td>
    </tr>
  );
}

/** "Delete? Yes / Keep", focused on "Yes" when it appears; Escape keeps the key. */
function DeleteConfirmation({ name, busy, onDelete, onKeep }: {
  name: string;
  busy: boolean;
  onDelete: () => void;
  onKeep: () => void;
}): JSX.Element {
  const yes = useFocusOnMount<HTMLButtonElement>();
  return (
    <span class="acct-confirm" role="group" aria-label={`Delete key ${name}?`}
          onKeyDown={(event) => { if (event.key === "Escape") onKeep(); }}>
      <span>Delete? Programs using it stop working.</span>
      <button ref={yes} type="button" class="danger" disabled={busy} onClick={onDelete}>Yes, delete {name}</button>
      <button type="button" class="ghost" onClick={onKeep}>Keep</button>
    </span>
  );
}

function CreateKeyForm({ onCreated }: { onCreated: (key: CreatedApiKey) => void }): JSX.Element {
  const services = useServices();
  const me = useMe();
  const [label, setLabel] = useState("");
  const [permissions, setPermissions] = useState<ApiKeyPermission[]>(["READ"]);
  const [allowlistText, setAllowlistText] = useState("");
  const [code, setCode] = useState("");
  const [problems, setProblems] = useState<Record<string, string>>({});
  const twoFactor = me?.totpEnabled === true;
  const action = useAction(async () => {
    const body = { label: label.trim(), permissions, ipAllowlist: parseAllowlist(allowlistText),
                   ...(twoFactor ? { totpCode: code.trim() } : {}) };
    setCode(""); // The server spends a code once it has seen it: a retry needs a new one.
    onCreated(await services.api.v1<CreatedApiKey>("POST", "/v1/api-keys", body));
    setLabel("");
    setPermissions(["READ"]);
    setAllowlistText("");
  });
  const toggle = (permission: ApiKeyPermission, on: boolean): void => {
    setPermissions(API_KEY_PERMISSIONS.filter((p) => p === permission ? on : permissions.includes(p)));
  };
  const onSubmit = (event: Event): void => {
    event.preventDefault();
    const found = newKeyProblems(permissions, parseAllowlist(allowlistText));
    setProblems(found);
    if (Object.keys(found).length === 0) void action.run();
  };
  const shown = ["label", "permissions", "ipAllowlist", TOTP_FIELD];
  const permissionsError = problems["permissions"] ?? errorFor(action.problem, "permissions");
  return (
    <form class="create-key" onSubmit={onSubmit} aria-label="Create an API key" data-testid="create-api-key" noValidate>
      <h3>Create a key</h3>
      <Field id="key-label" label="Label" hint="A name to recognise it by, such as the program that uses it."
             error={errorFor(action.problem, "label")}>
        {(describedBy, invalid) => (
          <input id="key-label" maxLength={64} value={label} onInput={(e) => setLabel(e.currentTarget.value)}
                 aria-describedby={describedBy} aria-invalid={invalid} />
        )}
      </Field>
      <fieldset class="acct-permissions" aria-describedby={permissionsError === null ? undefined : "key-permissions-error"}>
        <legend>Permissions</legend>
        {API_KEY_PERMISSIONS.map((permission) => (
          <label key={permission} class="acct-check">
            <input type="checkbox" name="permissions" value={permission} checked={permissions.includes(permission)}
                   onChange={(e) => toggle(permission, e.currentTarget.checked)} />
            <span><strong>{permission}</strong> <span class="muted">{PERMISSION_WORDS[permission]}</span></span>
          </label>
        ))}
        {permissionsError === null ? null
          : <small id="key-permissions-error" class="error" role="alert">{permissionsError}</small>}
      </fieldset>
      <Field id="key-allowlist" label="IP allow-list (one address or network per line)"
             hint="Only these addresses may use the key; leave empty to allow any. Required for WITHDRAW, so a stolen key cannot move money from elsewhere."
             error={problems["ipAllowlist"] ?? errorFor(action.problem, "ipAllowlist")}>
        {(describedBy, invalid) => (
          <textarea id="key-allowlist" rows={3} placeholder={"for example 203.0.113.7\n198.51.100.0/24"} value={allowlistText}
                    onInput={(e) => setAllowlistText(e.currentTarget.value)}
                    aria-describedby={describedBy} aria-invalid={invalid} />
        )}
      </Field>
      {twoFactor
        ? <TotpInput id="key-code" value={code} onInput={setCode} error={errorFor(action.problem, TOTP_FIELD)} />
        : null}
      <FormError message={formError(action.problem, shown) ?? action.failure} />
      <button type="submit" disabled={action.busy}>Create API key</button>
    </form>
  );
}

function NewKeySecret({ created, onDone }: { created: CreatedApiKey; onDone: () => void }): JSX.Element {
  const panel = useRef<HTMLDivElement>(null);
  useEffect(() => {
    panel.current?.focus();
  }, [created.id]);
  return (
    <div ref={panel} class="secret-panel" role="dialog" aria-modal="false" aria-labelledby="new-key-title"
         aria-describedby="new-key-warning" tabIndex={-1} data-testid="new-api-key"
         onKeyDown={(event) => { if (event.key === "Escape") onDone(); }}>
      <h3 id="new-key-title">API key “{created.label === "" ? shortKey(created.apiKey) : created.label}” created</h3>
      <p id="new-key-warning" class="acct-warning" role="alert">
        Copy the secret key now: it is shown only once and cannot be shown again. Anyone who has it can use this key; if it is lost, delete the key and create another.
      </p>
      <dl class="acct-key-values">
        <dt>API key</dt>
        <dd><code class="copyable" data-testid="api-key-id">{created.apiKey}</code> <CopyButton text={created.apiKey} what="API key" /></dd>
        <dt>Secret key</dt>
        <dd><code class="copyable" data-testid="api-key-secret">{created.secretKey}</code> <CopyButton text={created.secretKey} what="secret key" /></dd>
      </dl>
      <button type="button" onClick={onDone}>I have saved the secret</button>
    </div>
  );
}
