/**
 * Starts the app: reads config.json (where the API and the streams are), resumes the
 * tab's session if it had one, connects the market streams and renders.
 */
import { render } from "preact";
import { loadConfig } from "./lib/config";
import { App } from "./app/App";
import { Services, ServicesContext } from "./app/services";
import { applyInitialTheme } from "./app/theme";
import "./styles.css";

async function fetchJson(path: string): Promise<unknown> {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) return null;
  return response.json();
}

async function start(root: HTMLElement): Promise<void> {
  applyInitialTheme();
  const services = new Services(await loadConfig(fetchJson, window.location.origin));
  await services.resume();
  services.market.connect();
  render(<ServicesContext.Provider value={services}><App /></ServicesContext.Provider>, root);
}

const root = document.getElementById("app");
if (root !== null) {
  root.replaceChildren();
  start(root).catch((error: unknown) => {
    root.textContent = `The app could not start: ${error instanceof Error ? error.message : String(error)}`;
  });
}
