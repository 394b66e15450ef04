/**
 * Property: for random layer stacks (files, directories, symlinks, hardlinks, whiteouts and
 * opaque markers over each other), every way cairn builds the merged tree agrees with
 * applying the layers in order: snapshots materialized, a union view over snapshots, a union
 * view over the tars, and (as root) an overlayfs mount of the snapshots.
 */
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { appendLayers, emptyImage, type Image, layerFromCreated } from "../src/image/index.js";
import { createLayer, type LayerEntry, opaqueEntry, whiteoutEntry } from "../src/layer/index.js";
import { mount, SnapshotStore, UnionView, unmount, unpackImage } from "../src/unionfs/index.js";
import { isRoot } from "./helpers/tools.js";
import { describeTree, describeView, tempDir, treeDiff } from "./helpers/union.js";

const NAMES = ["a", "b", "c"];
const DEPTH = 3;

const pathArb = fc
  .array(fc.constantFrom(...NAMES), { minLength: 1, maxLength: DEPTH })
  .map((parts) => parts.join("/"));

type Op =
  | { op: "file"; path: string; content: string; mode: number }
  | { op: "dir"; path: string; mode: number }
  | { op: "symlink"; path: string; target: string }
  | { op: "hardlink"; path: string; target: string }
  | { op: "whiteout"; path: string }
  | { op: "opaque"; path: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant("file" as const),
      path: pathArb,
      content: fc.constantFrom("x", "yy", ""),
      mode: fc.constantFrom(0o644, 0o600, 0o4755),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("dir" as const),
      path: pathArb,
      mode: fc.constantFrom(0o755, 0o700),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("symlink" as const),
      path: pathArb,
      target: fc.constantFrom("a", "b", "../c", "a/b", "/a", "../../.."),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("hardlink" as const), path: pathArb, target: pathArb }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("whiteout" as const), path: pathArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("opaque" as const), path: fc.oneof(pathArb, fc.constant("")) }),
  },
);

function toEntries(ops: Op[]): LayerEntry[] {
  const byPath = new Map<string, LayerEntry>();
  for (const o of ops) {
    let e: LayerEntry;
    switch (o.op) {
      case "file":
        e = { path: o.path, type: "file", content: o.content, mode: o.mode, mtime: 1 };
        break;
      case "dir":
        e = { path: o.path, type: "directory", mode: o.mode, mtime: 1 };
        break;
      case "symlink":
        e = { path: o.path, type: "symlink", linkname: o.target, mtime: 1 };
        break;
      case "hardlink":
        e = { path: o.path, type: "hardlink", linkname: o.target, mtime: 1 };
        break;
      case "whiteout":
        e = whiteoutEntry(o.path);
        break;
      case "opaque":
        e = opaqueEntry(o.path);
        break;
    }
    byPath.set(e.path, e);
  }
  return [...byPath.values()];
}

let work: string;
let store: SnapshotStore;
beforeAll(async () => {
  work = tempDir("cairn-union-prop-");
  store = await SnapshotStore.open(path.join(work, "snapshots"));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

async function makeImage(layers: Op[][]): Promise<Image | undefined> {
  const created = [];
  for (const ops of layers) {
    try {
      created.push(await createLayer(toEntries(ops), { tmpDir: work }));
    } catch (e) {
      if (isCairnError(e)) return undefined; // e.g. a hardlink entry whose target has another type
      throw e;
    }
  }
  return appendLayers(emptyImage(), ...created.map((c) => layerFromCreated(c)));
}

let run = 0;

describe("every merge agrees with applying the layers in order", () => {
  it("for random layer stacks", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(opArb, { minLength: 1, maxLength: Number(process.env.CAIRN_PROP_OPS ?? 8) }), {
          minLength: 1,
          maxLength: 4,
        }),
        async (layers) => {
          const image = await makeImage(layers);
          if (!image) return;
          const n = run++;
          const applied = path.join(work, `apply-${n}`);
          const direct = await unpackImage(image, applied).catch((e: unknown) => e);
          if (isCairnError(direct)) {
            // the same layers must fail the same way from snapshots
            const viaStore = await store.prepare(image).catch((e: unknown) => e);
            expect(isCairnError(viaStore) && viaStore.code, `${direct.message}`).toBe(direct.code);
            return;
          }
          if (direct instanceof Error) throw direct;
          const expected = describeTree(applied);
          const chain = await store.prepare(image);
          try {
            const view = UnionView.fromSnapshots(store, chain.snapshots);
            expect(treeDiff(expected, await describeView(view)), "snapshot view").toEqual([]);
            const tars = await UnionView.fromLayerTars(image);
            expect(treeDiff(expected, await describeView(tars)), "tar view").toEqual([]);
            const materialized = path.join(work, `snap-${n}`);
            await unpackImage(image, materialized, { store });
            expect(treeDiff(expected, describeTree(materialized)), "materialized").toEqual([]);
            if (isRoot()) {
              const m = await mount(image, path.join(work, `mnt-${n}`), { store });
              try {
                expect(treeDiff(expected, describeTree(m.target)), `mount (${m.method})`).toEqual([]);
              } finally {
                await unmount(m);
              }
            }
          } finally {
            await chain.release();
            fs.rmSync(applied, { recursive: true, force: true });
            fs.rmSync(path.join(work, `snap-${n}`), { recursive: true, force: true });
          }
        },
      ),
      { numRuns: Number(process.env.CAIRN_PROP_RUNS ?? 60) },
    );
  });
});
