/**
 * Materializing snapshots (the copy fallback, unpack from the snapshot store) creates small files
 * on writer threads and sets directory attributes last: the tree, modes, owners and every mtime
 * equal those of applying the layers in order, read-only directories included.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Image } from "../src/image/index.js";
import type { LayerEntry } from "../src/layer/index.js";
import { SnapshotStore, unpackImage } from "../src/unionfs/index.js";
import { buildImage, describeTree, dir, file, hard, link, tempDir, treeDiff } from "./helpers/union.js";

let work: string;
let image: Image;

function withTimes(root: string): Map<string, string> {
  const out = describeTree(root);
  for (const [rel, d] of out)
    out.set(rel, `${d} mtime ${Math.floor(fs.lstatSync(path.join(root, rel)).mtimeMs / 1000)}`);
  return out;
}

beforeAll(async () => {
  work = tempDir("cairn-materialize-");
  const base: LayerEntry[] = [dir("etc"), file("etc/motd", "hello\n", 0o600)];
  for (let d = 0; d < 6; d++) {
    base.push(dir(`d${d}`, 0o750, 1000 + d, 2000));
    for (let f = 0; f < 40; f++)
      base.push(file(`d${d}/f${f}`, `${d}/${f}\n`.repeat(f + 1), 0o640, 1000 + d, 2000));
  }
  const top: LayerEntry[] = [
    dir("ro", 0o555),
    ...Array.from({ length: 30 }, (_, i) => file(`ro/r${i}`, `read-only ${i}\n`, 0o444)),
    dir("ro/deeper", 0o500),
    file("ro/deeper/x", "x\n"),
    file("big", "B".repeat(600_000)),
    file("d0/f0", "replaced\n", 0o600),
    hard("d1/again", "d1/f3"),
    link("d2/to-motd", "../etc/motd"),
  ];
  image = await buildImage(path.join(work, "layout"), "t", [base, top]);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe("materialize", () => {
  it("gives the tree of applying the layers, with every mode, owner and mtime", async () => {
    const applied = path.join(work, "applied");
    await unpackImage(image, applied);
    const store = await SnapshotStore.open(path.join(work, "store"));
    const copied = path.join(work, "copied");
    const r = await unpackImage(image, copied, { store });
    expect(r.method).toBe("snapshots");
    const want = withTimes(applied);
    expect(want.get("ro")).toMatch(/^dir 555 .* mtime 1600000000$/);
    expect(treeDiff(want, withTimes(copied))).toEqual([]);
    expect(fs.statSync(path.join(copied, "d1/again")).ino).toBe(fs.statSync(path.join(copied, "d1/f3")).ino);
  });

  it("without privileges too: files land in directories that end up read-only", async () => {
    const store = await SnapshotStore.open(path.join(work, "store-rootless"));
    const copied = path.join(work, "copied-rootless");
    await unpackImage(image, copied, { store, rootless: true });
    const tree = withTimes(copied);
    expect(tree.get("ro/deeper")).toMatch(/^dir 500 .* mtime 1600000000$/);
    expect(tree.get("ro/r7")).toMatch(/^file 444 /);
    expect(fs.readFileSync(path.join(copied, "ro/r7"), "utf8")).toBe("read-only 7\n");
    expect(fs.readFileSync(path.join(copied, "d0/f0"), "utf8")).toBe("replaced\n");
    for (const [rel, d] of tree) if (!d.startsWith("symlink")) expect(d, rel).toMatch(/mtime 1600000000$/);
  });
});
