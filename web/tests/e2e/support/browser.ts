/// <reference types="node" />
/**
 * Debian's Chromium through playwright-core (no browser download), one context per
 * person, every page's console errors and failed requests collected so the suite can
 * assert the app ran cleanly (a Content-Security-Policy violation shows up there).
 */
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";

/** The environment the driver (tests/e2e/web/test_web_app.py) sets. */
export function env(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") throw new Error(`${name} is not set: run the suite through pytest tests/e2e/web`);
  return value;
}

export async function launch(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
  return chromium.launch({ executablePath: env("CHROMIUM_PATH"), headless: true, args: ["--no-sandbox"] });
}

/** A person's own browser window: storage of its own, errors recorded. */
export class Person {
  readonly errors: string[] = [];

  private constructor(readonly name: string, readonly context: BrowserContext, readonly page: Page) {}

  static async open(browser: Browser, name: string, viewport = { width: 1400, height: 900 }): Promise<Person> {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const person = new Person(name, context, page);
    page.on("console", (message) => {
      // The browser logs every 4xx answer; the app shows those to the user (a wrong code,
      // "two-factor required"), so only other errors count.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
        person.errors.push(`${name} console: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => person.errors.push(`${name} page error: ${error.message}`));
    return person;
  }

  /** Opens a route of the app (`/trade/BTCUSDT`). */
  async go(route: string): Promise<void> {
    const base = env("WEB_URL");
    if (this.page.url().startsWith(base)) {
      await this.page.evaluate((hash) => { window.location.hash = hash; }, route);
    } else {
      await this.page.goto(`${base}#${route}`);
    }
  }

  byTestId(id: string): Locator {
    return this.page.getByTestId(id);
  }

  async screenshot(name: string): Promise<void> {
    await this.page.screenshot({ path: `${env("SCREENSHOT_DIR")}/${name}.png`, fullPage: true });
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

/** Waits until `locator` shows text matching `pattern` (the state the test needs). */
export async function waitForText(locator: Locator, pattern: RegExp, timeout = 30_000): Promise<void> {
  await locator.filter({ hasText: pattern }).first().waitFor({ state: "visible", timeout });
}

/** Waits until nothing matches `locator`. */
export async function waitGone(locator: Locator, timeout = 30_000): Promise<void> {
  await locator.first().waitFor({ state: "detached", timeout });
}
