import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./helpers/conformance.js";

function runExample(file: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ["--import", "tsx", path.join(repoRoot, "examples", file)], {
    cwd: repoRoot,
    encoding: "utf8",
    env: { ...process.env, ...env },
    timeout: 120_000,
  });
}

describe("examples", () => {
  it("the demo runs on a fresh default store and is reproducible", () => {
    const home = mkdtempSync(path.join(tmpdir(), "cairn-demo-home-"));
    try {
      const first = runExample("demo.ts", { CAIRN_HOME: home });
      expect(first).toContain("5 of 5 steps CACHED");
      expect(first).toContain("same digest: true");
      expect(first).toContain("0 missing, 0 corrupt");
      expect(first).toContain("hello from a cairn-built image! Built without a daemon.");
      expect(first).toContain("nothing: every part of the demo ran");
      const fresh = mkdtempSync(path.join(tmpdir(), "cairn-demo-home-"));
      const second = runExample("demo.ts", { CAIRN_HOME: fresh });
      rmSync(fresh, { recursive: true, force: true });
      const digests = (s: string) => s.match(/digest sha256:[0-9a-f]{64}/g);
      expect(digests(second)).toEqual(digests(first));
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});
