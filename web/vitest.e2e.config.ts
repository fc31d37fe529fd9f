import { defineConfig } from "vitest/config";

// The browser suite: Debian's Chromium through playwright-core against a running exchange
// whose URL and people come from the environment (tests/e2e/web/test_web_app.py sets them).
export default defineConfig({
  test: {
    include: ["tests/e2e/**/*.e2e.ts"],
    environment: "node",
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});
