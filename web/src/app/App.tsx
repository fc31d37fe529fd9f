/**
 * The app's frame: the header (markets, the signed-in user's screens, the streams' state,
 * the theme switch) and the screen of the current route. Screens that need a signed-in
 * user send a signed-out one to the login screen, and back afterwards.
 */
import type { JSX } from "preact";
import { useEffect } from "preact/hooks";
import type { ConnectionState } from "../lib/streamConnection";
import { AccountPage } from "../views/account/AccountPage";
import { AdminPage } from "../views/admin/AdminPage";
import { LoginPage } from "../views/auth/LoginPage";
import { SignupPage } from "../views/auth/SignupPage";
import { OrdersPage } from "../views/orders/OrdersPage";
import { TradePage } from "../views/trade/TradePage";
import { WalletPage } from "../views/wallet/WalletPage";
import { HOME, href, navigate, useRoute } from "./router";
import { useMarketConnection, useMe, useServices, type Me } from "./services";
import { useTheme } from "./theme";

const CONNECTION_WORDS: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

function ConnectionBadge(): JSX.Element {
  const state = useMarketConnection();
  return (
    <span class={`connection connection-${state}`} role="status" aria-live="polite"
          title="Market data stream">
      {CONNECTION_WORDS[state]}
    </span>
  );
}

function NavLink({ path, label, current }: { path: string; label: string; current: string }): JSX.Element {
  const active = current === path.split("/")[1];
  return <a href={href(path)} aria-current={active ? "page" : undefined}>{label}</a>;
}

function Header({ me, section }: { me: Me | null; section: string }): JSX.Element {
  const services = useServices();
  const [theme, toggleTheme] = useTheme();
  return (
    <header class="app-header">
      <a class="brand" href={href(HOME)}>Exchange</a>
      <nav aria-label="Main">
        <NavLink path={HOME} label="Trade" current={section} />
        {me === null ? null : <>
          <NavLink path="/orders" label="Orders" current={section} />
          <NavLink path="/wallet" label="Wallet" current={section} />
          <NavLink path="/account" label="Account" current={section} />
          {me.isAdmin ? <NavLink path="/admin" label="Admin" current={section} /> : null}
        </>}
      </nav>
      <div class="header-end">
        <ConnectionBadge />
        <button type="button" class="ghost" onClick={toggleTheme}
                aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}>
          {theme === "dark" ? "Light" : "Dark"}
        </button>
        {me === null
          ? <><a href={href("/login")}>Log in</a> <a class="button" href={href("/signup")}>Sign up</a></>
          : <>
              <span class="user-email" data-testid="user-email">{me.email}</span>
              <button type="button" class="ghost" onClick={() => {
                void services.logOut().then(() => navigate("/login"));
              }}>Log out</button>
            </>}
      </div>
    </header>
  );
}

/** Screens of a signed-in user: a signed-out visitor is sent to log in, then back. */
function SignedIn({ me, children }: { me: Me | null; children: () => JSX.Element }): JSX.Element {
  useEffect(() => {
    if (me === null) navigate(`/login/${encodeURIComponent(window.location.hash.slice(1))}`);
  }, [me]);
  return me === null ? <p>Redirecting to log in…</p> : children();
}

function Screen({ route, me }: { route: string[]; me: Me | null }): JSX.Element {
  const [section = "trade", argument] = route;
  switch (section) {
    case "trade":
      return <TradePage symbol={(argument ?? "BTCUSDT").toUpperCase()} />;
    case "login":
      return <LoginPage next={argument ?? HOME} />;
    case "signup":
      return <SignupPage />;
    case "orders":
      return <SignedIn me={me}>{() => <OrdersPage />}</SignedIn>;
    case "wallet":
      return <SignedIn me={me}>{() => <WalletPage />}</SignedIn>;
    case "account":
      return <SignedIn me={me}>{() => <AccountPage />}</SignedIn>;
    case "admin":
      return <SignedIn me={me}>{() => me?.isAdmin === true ? <AdminPage section={argument ?? "markets"} />
                                                              : <p role="alert">Only operators (admins) can open this page.</p>}</SignedIn>;
    default:
      return <p role="alert">There is no page here. <a href={href(HOME)}>Go to trading</a>.</p>;
  }
}

/** The whole app. */
export function App(): JSX.Element {
  const route = useRoute();
  const me = useMe();
  return (
    <div class="app">
      <a class="skip-link" href="#main">Skip to content</a>
      <Header me={me} section={route[0] ?? "trade"} />
      <main id="main" tabIndex={-1}>
        <Screen route={route} me={me} />
      </main>
      <footer class="app-footer">
        Charts by <a href="https://www.tradingview.com/" rel="noopener noreferrer" target="_blank">TradingView</a>
        {" "}(lightweight-charts, Apache-2.0).
      </footer>
    </div>
  );
}
