/**
 * The account page (#/account): two-factor, password and API keys. Right after sign-up
 * (#/account/welcome) it greets the new user and suggests turning two-factor on.
 */
import type { JSX } from "preact";
import { href, useRoute } from "../../app/router";
import { useMe } from "../../app/services";
import { ApiKeysPanel } from "./ApiKeysPanel";
import { PasswordPanel } from "./PasswordPanel";
import { TwoFactorPanel } from "./TwoFactorPanel";
import "./account.css";

/** The signed-in user's account settings. */
export function AccountPage(): JSX.Element {
  const me = useMe();
  const [, argument] = useRoute();
  return (
    <div class="account-page" data-testid="account-page">
      <h1>Account</h1>
      {me === null ? null : (
        <p class="muted">
          Logged in as <strong>{me.email}</strong> · user ID{" "}
          <strong data-testid="user-id">{me.id}</strong> (support and operators find your account by it)
        </p>
      )}
      {argument === "welcome" ? <WelcomeNote twoFactorOn={me?.totpEnabled === true} /> : null}
      <div class="page-grid">
        <TwoFactorPanel />
        <PasswordPanel />
      </div>
      <ApiKeysPanel />
    </div>
  );
}

function WelcomeNote({ twoFactorOn }: { twoFactorOn: boolean }): JSX.Element {
  return (
    <div class="acct-welcome" role="status" data-testid="welcome-note">
      <p><strong>Welcome, your account is ready.</strong></p>
      {twoFactorOn ? null : <p>We suggest you turn on two-factor authentication below before depositing: it protects logins and withdrawals even if your password leaks.</p>}
      <p>Next: <a href={href("/wallet")}>deposit funds</a> or <a href={href("/trade/BTCUSDT")}>start trading</a>.</p>
    </div>
  );
}
