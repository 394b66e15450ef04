import { defineConfig } from "tsup";

/** Every module is its own entry so `cairn-oci/<module>` pulls in nothing else. */
export const modules = [
  "errors",
  "digest",
  "reference",
  "manifest",
  "content",
  "layer",
  "image",
  "unionfs",
  "registry",
  "dockerfile",
  "build",
  "runtime",
] as const;

export default defineConfig({
  entry: {
    index: "src/index.ts",
    "cli/main": "src/cli/main.ts",
    ...Object.fromEntries(modules.map((m) => [`${m}/index`, `src/${m}/index.ts`])),
  },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "node20",
  platform: "node",
  splitting: true,
  shims: true,
});
