import { symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildResult, BuildStepReport } from "../src/build/index.js";
import type { Image } from "../src/image/index.js";
import { buildText, busyboxLayout, cleanup, tempDir, treeOf, writeTree } from "./build-helpers.js";

let root: string;
let base1: string;
let base2: string;

beforeAll(() => {
  root = tempDir("link");
  base1 = busyboxLayout(path.join(root, "base1"));
  // Same busybox, another /etc/passwd: a different base image digest.
  base2 = busyboxLayout(path.join(root, "base2"), "app:x:1000:1000::/home/app:/bin/sh\n");
});

afterAll(() => cleanup(root));

function stepAt(r: BuildResult, line: number): BuildStepReport {
  const s = r.steps.find((x) => x.line === line);
  if (!s) throw new Error(`no step on line ${line}`);
  return s;
}

/** The image made of only the last layer of `image`. */
async function lastLayerTree(image: Image) {
  const last = (await image.layers()).at(-1);
  if (!last) throw new Error("no layer");
  return treeOf({ ...image, layers: async () => [last] });
}

describe("COPY --link caching", () => {
  it("reuses a --link layer when the base changes, while a plain COPY reruns", async () => {
    const ctx = writeTree(tempDir("link-ctx"), { "app/main.txt": "main\n", "conf.txt": "conf\n" });
    const store = tempDir("link-store");
    const steps = (from: string) =>
      `FROM ${from}\nCOPY --link app /srv/app/\nCOPY conf.txt /etc/conf.txt\nENV MODE=prod\n`;
    try {
      const a = await buildText(steps(base1), ctx, store, { sourceDateEpoch: 0 });
      expect(stepAt(a, 2).cached).toBe(false);
      const aLink = stepAt(a, 2).diffId;
      expect(aLink).toMatch(/^sha256:/);

      const b = await buildText(steps(base2), ctx, store, { sourceDateEpoch: 0 });
      expect(stepAt(b, 2)).toMatchObject({
        cached: true,
        diffId: aLink,
        reason: "link: reused across base change",
      });
      expect(stepAt(b, 3).cached).toBe(false);
      expect(stepAt(b, 3).reason).toBeDefined();
      // The reused layer sits on base2's layers, blob and all.
      const bManifest = await b.image.manifest();
      const aManifest = await a.image.manifest();
      const aLayer = aManifest.layers.at(-2);
      expect(bManifest.layers.at(-2)).toEqual(aLayer);
      expect((await b.image.config()).rootfs.diff_ids.at(-2)).toBe(aLink);
      expect(await (await treeOf(b.image)).readText("etc/passwd")).toContain("app:x:1000");
      expect(await (await treeOf(b.image)).readText("srv/app/main.txt")).toBe("main\n");

      // Reproducible: the same inputs give the same digest, rebuilt from the cache or from nothing.
      const again = await buildText(steps(base2), ctx, store, { sourceDateEpoch: 0 });
      expect(again.steps.every((s) => s.cached)).toBe(true);
      expect(again.digest).toBe(b.digest);
      const fresh = tempDir("link-fresh");
      try {
        const cold = await buildText(steps(base2), ctx, fresh, { sourceDateEpoch: 0 });
        expect(cold.steps.some((s) => s.cached)).toBe(false);
        expect(stepAt(cold, 2).diffId).toBe(aLink);
        expect(cold.digest).toBe(b.digest);
      } finally {
        cleanup(fresh);
      }
    } finally {
      cleanup(ctx, store);
    }
  });

  it("reuses across a changed earlier step, and not with --no-cache", async () => {
    const ctx = writeTree(tempDir("link-ctx"), { "a.txt": "a\n" });
    const store = tempDir("link-store");
    try {
      const first = await buildText(`FROM ${base1}\nENV X=1\nCOPY --link a.txt /a.txt\n`, ctx, store);
      const second = await buildText(`FROM ${base1}\nENV X=2\nCOPY --link a.txt /a.txt\n`, ctx, store);
      expect(stepAt(second, 3)).toMatchObject({ cached: true, diffId: stepAt(first, 3).diffId });
      expect((await second.image.config()).config?.Env).toContain("X=2");
      const none = await buildText(`FROM ${base1}\nENV X=3\nCOPY --link a.txt /a.txt\n`, ctx, store, {
        noCache: true,
      });
      expect(stepAt(none, 3)).toMatchObject({ cached: false, reason: "--no-cache" });
    } finally {
      cleanup(ctx, store);
    }
  });

  it("does not follow a symlinked destination directory of the base", async () => {
    const ctx = writeTree(tempDir("link-ctx"), { "opt/real/.keep": "", "a.txt": "a\n" });
    symlinkSync("real", path.join(ctx, "opt/data"));
    const store = tempDir("link-store");
    const layout = path.join(root, "symbase");
    try {
      await buildText(`FROM ${base1}\nCOPY opt /opt/\n`, ctx, store, { output: `oci:${layout}:base` });
      const from = `oci:${layout}:base`;
      const linked = await buildText(`FROM ${from}\nCOPY --link a.txt /opt/data/\n`, ctx, store);
      const layer = await lastLayerTree(linked.image);
      expect(layer.lstat("opt/data")).toMatchObject({ type: "directory", mode: 0o755, uid: 0, gid: 0 });
      expect(layer.lstat("opt")).toMatchObject({ type: "directory", mode: 0o755 });
      expect(await layer.readText("opt/data/a.txt")).toBe("a\n");
      expect(layer.lstat("opt/real")).toBeUndefined();

      const plain = await buildText(`FROM ${from}\nCOPY a.txt /opt/data/\n`, ctx, store);
      const plainLayer = await lastLayerTree(plain.image);
      expect(await plainLayer.readText("opt/real/a.txt")).toBe("a\n");
      expect(plainLayer.lstat("opt/data")).toBeUndefined();
    } finally {
      cleanup(ctx, store);
    }
  });

  it("reruns a --link step when a source file changes", async () => {
    const ctx = writeTree(tempDir("link-ctx"), { "app/main.txt": "v1\n" });
    const store = tempDir("link-store");
    const dockerfile = (from: string) => `FROM ${from}\nCOPY --link app /srv/\n`;
    try {
      const v1 = await buildText(dockerfile(base1), ctx, store);
      writeFileSync(path.join(ctx, "app/main.txt"), "v2\n");
      const v2 = await buildText(dockerfile(base1), ctx, store);
      expect(stepAt(v2, 2).cached).toBe(false);
      expect(stepAt(v2, 2).reason).toContain("source app changed");
      expect(stepAt(v2, 2).diffId).not.toBe(stepAt(v1, 2).diffId);
      // On another base too: the link key holds the source digest.
      writeFileSync(path.join(ctx, "app/main.txt"), "v3\n");
      const v3 = await buildText(dockerfile(base2), ctx, store);
      expect(stepAt(v3, 2).cached).toBe(false);
      expect(await (await treeOf(v3.image)).readText("srv/main.txt")).toBe("v3\n");
    } finally {
      cleanup(ctx, store);
    }
  });

  it("keys --chown by the ids it resolves to in the stage", async () => {
    const ctx = writeTree(tempDir("link-ctx"), { "a.txt": "a\n" });
    const store = tempDir("link-store");
    const other = path.join(root, "base3");
    const base3 = busyboxLayout(other, "app:x:2000:2000::/home/app:/bin/sh\n");
    try {
      const dockerfile = (from: string) => `FROM ${from}\nCOPY --link --chown=app a.txt /a.txt\n`;
      await buildText(dockerfile(base2), ctx, store);
      const moved = await buildText(dockerfile(base3), ctx, store);
      expect(stepAt(moved, 2).cached).toBe(false);
      expect((await treeOf(moved.image)).lstat("a.txt")).toMatchObject({ uid: 2000 });
    } finally {
      cleanup(ctx, store);
    }
  });
});
