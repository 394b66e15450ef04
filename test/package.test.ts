import { execFileSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./helpers/conformance.js";

const pkg = (await import("../package.json", { with: { type: "json" } })).default as {
  exports: Record<string, unknown>;
  bin: Record<string, string>;
};

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(p) : statSync(p).mtimeMs);
  }
  return newest;
}

beforeAll(() => {
  const built = (() => {
    try {
      return statSync(path.join(repoRoot, "dist/index.js")).mtimeMs;
    } catch {
      return 0;
    }
  })();
  if (built < newestSource(path.join(repoRoot, "src"))) {
    execFileSync("npm", ["run", "build"], { cwd: repoRoot, stdio: "ignore" });
  }
}, 180_000);

const subpaths = Object.keys(pkg.exports).filter((k) => k !== "./package.json");

function node(args: string[]): string {
  return execFileSync(process.execPath, args, { cwd: repoRoot, encoding: "utf8" });
}

describe("the published package", () => {
  it.each(subpaths)("%s loads as ESM and as CJS with the same exports", (sub) => {
    const spec = sub === "." ? "cairn-oci" : `cairn-oci/${sub.slice(2)}`;
    const esm = node([
      "--input-type=module",
      "-e",
      `const m = await import("${spec}"); console.log(Object.keys(m).sort().join(","))`,
    ]);
    const cjs = node(["-e", `console.log(Object.keys(require("${spec}")).sort().join(","))`]);
    expect(esm.trim().length).toBeGreaterThan(0);
    expect(cjs.trim()).toBe(esm.trim());
  });

  it("ships .d.ts for every entry", () => {
    for (const sub of subpaths) {
      const name = sub === "." ? "index" : `${sub.slice(2)}/index`;
      expect(statSync(path.join(repoRoot, "dist", `${name}.d.ts`)).size).toBeGreaterThan(0);
      expect(statSync(path.join(repoRoot, "dist", `${name}.d.cts`)).size).toBeGreaterThan(0);
    }
  });

  it("the cairn bin runs", () => {
    expect(node([path.join(repoRoot, pkg.bin.cairn as string), "--version"]).trim()).toMatch(
      /^\d+\.\d+\.\d+/,
    );
  });
});
