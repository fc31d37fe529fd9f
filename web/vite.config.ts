import { defineConfig } from "vite";

// One self-contained build (no CDN at run time): index.html and hashed assets/*, which
// `exchange up` serves locally and `exchange deploy` ships to S3 behind CloudFront.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true, target: "es2022" },
});
