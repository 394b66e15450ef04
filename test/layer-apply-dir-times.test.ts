/**
 * A layer that changes a lower layer's directory without an entry for it (adds, replaces or
 * whites out a child) leaves that directory's times as they were: the same as `umoci unpack`,
 * and the same as materializing the image's snapshots.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyLayer, createLayer, type LayerEntry } from "../src/layer/index.js";
import { unpackImage } from "../src/unionfs/index.js";
import { buildImage, dir, file, tempDir, umociUnpack } from "./helpers/union.js";

let work: string;

beforeAll(() => {
  work = tempDir("cairn-dir-times-");
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function dirTimes(root: string): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const child = rel ? `${rel}/${e.name}` : e.name;
      out[child] = Math.floor(fs.lstatSync(path.join(root, child)).mtimeMs / 1000);
      visit(child);
    }
  };
  visit("");
  return out;
}

describe("directory times across layers", () => {
  it("a lower directory changed without an entry keeps its times, as with umoci", async () => {
    const base: LayerEntry[] = [
      dir("etc"),
      file("etc/a", "a"),
      dir("d0", 0o750),
      file("d0/f0", "x"),
      dir("d1"),
      file("d1/gone", "g"),
      dir("d1/sub"),
      file("d1/sub/keep", "k"),
    ];
    const top: LayerEntry[] = [
      file("d0/f0", "replaced\n"),
      file("d1/sub/new", "n"),
      { path: "d1/.wh.gone", type: "file", content: "", mtime: 1_600_000_000 },
      dir("d2"),
      file("d2/z", "z"),
      file("new-top", "t"),
    ];
    const layout = path.join(work, "layout");
    const image = await buildImage(layout, "t", [base, top]);
    const applied = path.join(work, "applied");
    await unpackImage(image, applied);
    expect(fs.existsSync(path.join(applied, "d1/gone"))).toBe(false);
    expect(fs.readFileSync(path.join(applied, "d0/f0"), "utf8")).toBe("replaced\n");
    const times = dirTimes(applied);
    for (const d of ["etc", "d0", "d1", "d1/sub", "d2"]) expect(times[d], d).toBe(1_600_000_000);
    expect(times).toEqual(dirTimes(umociUnpack(layout, "t", path.join(work, "bundle"))));
  });

  it("a directory the layer names takes the layer's times, even when children come first", async () => {
    const target = tempDir("cairn-dir-times-apply-");
    try {
      fs.mkdirSync(path.join(target, "lower"));
      fs.utimesSync(path.join(target, "lower"), 1_500_000_000, 1_500_000_000);
      const layer = await createLayer([file("lower/x", "x"), dir("lower", 0o755)], {
        tmpDir: work,
        sourceDateEpoch: 1_600_000_000,
      });
      await applyLayer(fs.createReadStream(layer.path as string), target);
      expect(Math.floor(fs.statSync(path.join(target, "lower")).mtimeMs / 1000)).toBe(1_600_000_000);

      const only = await createLayer([file("lower/y", "y")], {
        tmpDir: work,
        sourceDateEpoch: 1_600_000_000,
      });
      fs.utimesSync(path.join(target, "lower"), 1_500_000_000, 1_500_000_000);
      await applyLayer(fs.createReadStream(only.path as string), target);
      expect(Math.floor(fs.statSync(path.join(target, "lower")).mtimeMs / 1000)).toBe(1_500_000_000);
      expect(fs.readFileSync(path.join(target, "lower/y"), "utf8")).toBe("y");
    } finally {
      fs.rmSync(target, { recursive: true, force: true });
    }
  });
});
