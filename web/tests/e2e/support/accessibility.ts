/// <reference types="node" />
/**
 * axe-core, the accessibility rules engine browsers' own audits build on, run inside the
 * page: what it finds of serious or critical impact (missing labels and names, contrast,
 * keyboard traps, ARIA misuse), one line each.
 */
import axe from "axe-core";
import type { Page } from "playwright-core";

export async function seriousAccessibilityProblems(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const engine = (window as unknown as { axe: typeof axe }).axe;
    const result = await engine.run(document, { resultTypes: ["violations"] });
    return result.violations
      .filter((violation) => violation.impact === "serious" || violation.impact === "critical")
      .map((violation) => `${violation.id}: ${violation.help} (${violation.nodes.length}×: ` +
                          `${violation.nodes.slice(0, 4).map((node) => node.failureSummary?.split("\n").at(-1)?.trim() + " @ " + node.target.join(" ")).join("; ")})`);
  });
}
