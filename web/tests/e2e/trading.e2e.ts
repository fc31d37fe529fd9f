/// <reference types="node" />
/**
 * A trader's first day, in Chromium, against a whole exchange: sign up, turn two-factor
 * on, log in again with a code, receive a deposit (credited through the admin API), place
 * a limit buy and see it in the book and in open orders, have a seller fill it and see the
 * trade, the candle and the balances change live, cancel a second order, and withdraw
 * with an operator approving in the admin views. A screenshot of each main view is
 * written to SCREENSHOT_DIR. The driver, tests/e2e/web/test_web_app.py, checks the
 * ledger afterwards.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser } from "playwright-core";
import { seriousAccessibilityProblems } from "./support/accessibility";
import { Operator } from "./support/adminApi";
import { Person, env, launch, waitForText, waitGone } from "./support/browser";
import { Authenticator } from "./support/totp";

const PASSWORD = () => env("PASSWORD");

async function logIn(person: Person, email: string, authenticator?: Authenticator): Promise<void> {
  await person.go("/login");
  const page = person.page;
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(PASSWORD());
  await page.getByRole("button", { name: "Log in" }).click();
  if (authenticator !== undefined) {
    await page.getByLabel("Two-factor code").fill(await authenticator.freshCode());
    await page.getByRole("button", { name: "Log in" }).click();
  }
  await waitForText(person.byTestId("user-email"), new RegExp(email.replace(/[.+]/g, "\\$&")));
}

async function placeLimit(person: Person, side: "Buy" | "Sell", price: string, amount: string): Promise<void> {
  const form = person.byTestId("order-form");
  await form.getByRole("tab", { name: side }).click();
  await form.getByLabel("Order type").selectOption("LIMIT");
  await form.getByLabel("Price", { exact: true }).fill(price);
  await form.getByLabel("Amount", { exact: true }).fill(amount);
  await form.getByRole("button", { name: `${side} BTC` }).click();
  await waitForText(form.getByTestId("order-confirmation"), /placed/i);
}

describe("a trader's first day in the web app", () => {
  let browser: Browser;
  let trader: Person;
  let seller: Person;
  let operatorScreen: Person;
  let operator: Operator;
  let traderCodes: Authenticator;
  const traderEmail = () => env("TRADER_EMAIL");

  beforeAll(async () => {
    browser = await launch();
    operator = await Operator.enrol(env("ADMIN_EMAIL"), PASSWORD());
    trader = await Person.open(browser, "trader");
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("shows the market to a visitor", async () => {
    await trader.go("/trade/BTCUSDT");
    await trader.byTestId("market-row-BTCUSDT").waitFor();
    await trader.byTestId("chart").waitFor();
    await trader.byTestId("order-book").waitFor();
  });

  it("signs up and turns two-factor on with the QR code's secret", async () => {
    await trader.go("/signup");
    const page = trader.page;
    await page.getByLabel("Email").fill(traderEmail());
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD());
    await page.getByLabel("Confirm password").fill(PASSWORD());
    await page.getByRole("button", { name: "Sign up" }).click();
    await trader.byTestId("account-page").waitFor();

    await page.getByRole("button", { name: "Enable two-factor" }).click();
    await page.getByLabel("Your password").fill(PASSWORD());
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("img", { name: /QR code/ }).waitFor();
    traderCodes = new Authenticator((await trader.byTestId("totp-secret").innerText()).trim());
    await page.getByLabel("Two-factor code").fill(await traderCodes.freshCode());
    await page.getByRole("button", { name: "Turn on two-factor" }).click();
    await waitForText(trader.byTestId("totp-status"), /Two-factor is on/);
    await trader.screenshot("account");
  });

  it("logs out and back in with a two-factor code", async () => {
    await trader.page.getByRole("button", { name: "Log out" }).click();
    await trader.page.getByRole("link", { name: "Log in" }).waitFor();
    await logIn(trader, traderEmail(), traderCodes);
  });

  it("sees a deposit credited through the admin API arrive in the wallet", async () => {
    await trader.go("/account");
    const userId = Number((await trader.byTestId("user-id").innerText()).trim());
    await operator.deposit(userId, "USDT", "10000");
    await trader.go("/wallet");
    await waitForText(trader.byTestId("wallet-balance-USDT"), /10,?000/);
    await trader.screenshot("wallet");
  });

  it("places a limit buy and sees it in the book and in open orders", async () => {
    await trader.go("/trade/BTCUSDT");
    await waitForText(trader.byTestId("balance-USDT"), /10,?000/);
    await placeLimit(trader, "Buy", "20000", "0.01");
    await waitForText(trader.byTestId("open-order-row"), /20,?000/);
    await waitForText(trader.byTestId("book-bid"), /20,?000/);
    await trader.screenshot("trade");
  });

  it("sees a seller fill it: the trade, the candle and the balances change live", async () => {
    seller = await Person.open(browser, "seller");
    await logIn(seller, env("SELLER_EMAIL"));
    await seller.go("/trade/BTCUSDT");
    await placeLimit(seller, "Sell", "20000", "0.01");

    await waitGone(trader.byTestId("open-order-row"));
    await waitForText(trader.byTestId("recent-trades"), /20,?000/);
    await waitForText(trader.byTestId("last-candle-close"), /20,?000/);
    await waitForText(trader.byTestId("balance-BTC"), /0\.0099|0\.01/);
    await seller.close();
  });

  it("cancels an order and gets its funds back", async () => {
    await placeLimit(trader, "Buy", "19000", "0.01");
    const row = trader.byTestId("open-order-row");
    await waitForText(row, /19,?000/);
    await row.getByRole("button", { name: /Cancel/ }).click();
    await waitGone(trader.byTestId("open-order-row"));
  });

  it("shows order and trade history", async () => {
    await trader.go("/orders");
    await trader.page.getByRole("tab", { name: "Trade history" }).click();
    await waitForText(trader.byTestId("trades-history"), /20,?000/);
    await trader.screenshot("orders");
  });

  it("requests a withdrawal that an operator approves in the admin views", async () => {
    await trader.go("/wallet");
    const page = trader.page;
    const form = trader.byTestId("withdraw-form");
    await form.getByLabel("Asset").selectOption("USDT");
    await form.getByLabel("Destination address").fill("0x00000000000000000000000000000000000000e2");
    await form.getByLabel(/^Amount/).fill("100");
    await form.getByLabel("Two-factor code").fill(await traderCodes.freshCode());
    await form.getByRole("button", { name: "Request withdrawal" }).click();
    await page.locator('[data-testid="withdrawal-row"][data-status="PENDING"]').waitFor();

    operatorScreen = await Person.open(browser, "operator");
    await logIn(operatorScreen, env("ADMIN_EMAIL"), operator.authenticator);
    await operatorScreen.go("/admin/withdrawals");
    const request = operatorScreen.byTestId("admin-withdrawal-row").filter({ hasText: "0x00000000000000000000000000000000000000e2" });
    await request.waitFor();
    await operatorScreen.screenshot("admin-withdrawals");
    await request.getByRole("button", { name: /Approve/ }).click();
    const stepUp = operatorScreen.page.getByLabel("Two-factor code");
    if (await stepUp.isVisible()) {
      await stepUp.fill(await operator.authenticator.freshCode());
      await operatorScreen.page.getByRole("button", { name: /Confirm|Continue|Approve/ }).last().click();
    }
    await waitGone(request);
    await operatorScreen.go("/admin/markets");
    await operatorScreen.byTestId("admin-markets").waitFor();
    await operatorScreen.screenshot("admin-markets");

    await page.reload();
    await page.locator('[data-testid="withdrawal-row"][data-status="APPROVED"]').waitFor();
  });

  it("has no serious accessibility problems on its main views (axe-core)", async () => {
    const views: [Person, string, string][] = [
      [trader, "/trade/BTCUSDT", "order-form"], [trader, "/orders", "orders-open"],
      [trader, "/wallet", "withdraw-form"], [trader, "/account", "account-page"],
      [operatorScreen, "/admin/markets", "admin-markets"],
      [operatorScreen, "/admin/withdrawals", "admin-withdrawals"],
    ];
    const problems: string[] = [];
    for (const [person, route, landmark] of views) {
      await person.go(route);
      await person.byTestId(landmark).waitFor();
      problems.push(...(await seriousAccessibilityProblems(person.page)).map((line) => `${route} ${line}`));
    }
    expect(problems).toEqual([]);
  });

  it("places an order with the keyboard alone", async () => {
    await trader.go("/trade/BTCUSDT");
    const form = trader.byTestId("order-form");
    await form.getByLabel("Order type").selectOption("LIMIT");
    await form.getByLabel("Price", { exact: true }).focus();
    await trader.page.keyboard.type("18000");
    await trader.page.keyboard.press("Tab");
    await trader.page.keyboard.type("0.01");
    await trader.page.keyboard.press("Enter");
    await waitForText(form.getByTestId("order-confirmation"), /placed/i);
    await waitForText(trader.byTestId("open-order-row"), /18,?000/);
  });

  it("fits a phone's width and has a light and a dark theme, both readable", async () => {
    await trader.page.setViewportSize({ width: 390, height: 844 });
    await trader.go("/trade/BTCUSDT");
    await trader.byTestId("order-book").waitFor();
    await trader.screenshot("trade-phone");
    const width = await trader.page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(390);
    await trader.page.getByRole("button", { name: /Switch to (light|dark) theme/ }).click();
    await trader.screenshot("trade-phone-other-theme");
    expect(await seriousAccessibilityProblems(trader.page)).toEqual([]);
  });

  it("ran without errors in the page (CSP violations included)", () => {
    expect([...trader.errors, ...(operatorScreen?.errors ?? [])]).toEqual([]);
  });
});
