/**
 * The snapshot store: layers shared between images (proved by counting unpacks), leases as
 * reference counts, remove/prune, concurrent prepares in one and several processes, and
 * failures or crashes that leave no snapshot behind.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { appendLayers, emptyImage, type Image, layerFromCreated } from "../src/image/index.js";
import { createLayer, type LayerEntry } from "../src/layer/index.js";
import { chainIds, type SnapshotProgress, SnapshotStore, UnionView } from "../src/unionfs/index.js";
import { buildImage, dir, file, link, spawnUnionChild, tempDir } from "./helpers/union.js";

let work: string;
let layout: string;
let base: LayerEntry[];
let appA: Image;
let appB: Image;

function manyFiles(prefix: string, n: number): LayerEntry[] {
  const out: LayerEntry[] = [dir(prefix)];
  for (let i = 0; i < n; i++) out.push(file(`${prefix}/f${i}`, `${prefix} ${i}\n`));
  return out;
}

beforeAll(async () => {
  work = tempDir("cairn-snapshots-");
  layout = path.join(work, "layout");
  base = [dir("etc"), file("etc/os-release", "ID=cairn\n"), ...manyFiles("usr", 50)];
  appA = await buildImage(layout, "a", [base, [file("app-a", "a\n")]]);
  appB = await buildImage(layout, "b", [base, [file("app-b", "b\n"), link("etc/alias", "os-release")]]);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

async function freshStore(name: string): Promise<SnapshotStore> {
  return SnapshotStore.open(path.join(work, name));
}

describe("sharing", () => {
  it("a second image that shares the base unpacks only its own layer", async () => {
    const store = await freshStore("share");
    const events: SnapshotProgress[] = [];
    const a = await store.prepare(appA, { onProgress: (e) => events.push(e) });
    expect([a.unpacked, a.reused]).toEqual([2, 0]);
    const b = await store.prepare(appB, { onProgress: (e) => events.push(e) });
    expect([b.unpacked, b.reused]).toEqual([1, 1]);
    expect(store.counters).toEqual({ unpacked: 3, reused: 1 });
    expect(events.filter((e) => e.kind === "unpacked").map((e) => e.layer)).toEqual([0, 1, 1]);
    expect(events.filter((e) => e.kind === "reused").map((e) => e.chainId)).toEqual([
      a.snapshots[0]?.chainId,
    ]);
    // the very same directory serves both
    expect(b.snapshots[0]?.fsDir).toBe(a.snapshots[0]?.fsDir);
    const again = await store.prepare(appA);
    expect([again.unpacked, again.reused]).toEqual([0, 2]);
    for (const c of [a, b, again]) await c.release();
  });

  it("keys snapshots by chain ID: one diff over another base is a different snapshot", async () => {
    const store = await freshStore("keys");
    const other = await buildImage(layout, "other", [[file("other-base", "x\n")], [file("app-a", "a\n")]]);
    const a = await store.prepare(appA);
    const o = await store.prepare(other);
    const diffA = (await appA.config()).rootfs.diff_ids;
    const diffO = (await other.config()).rootfs.diff_ids;
    expect(diffA[1]).toBe(diffO[1]);
    expect(o.unpacked).toBe(2);
    expect(a.snapshots.map((s) => s.chainId)).toEqual(chainIds(diffA));
    expect(o.snapshots[1]?.chainId).not.toBe(a.snapshots[1]?.chainId);
    expect(o.snapshots[1]?.parent).toBe(o.snapshots[0]?.chainId);
    expect(fs.existsSync(path.join(store.root, o.snapshots[1]?.shortPath ?? "", "app-a"))).toBe(true);
    await a.release();
    await o.release();
  });

  it("opens at <store>/snapshots by default", async () => {
    const saved = process.env.CAIRN_HOME;
    process.env.CAIRN_HOME = path.join(work, "home");
    try {
      expect((await SnapshotStore.open()).root).toBe(path.join(work, "home", "snapshots"));
    } finally {
      if (saved === undefined) delete process.env.CAIRN_HOME;
      else process.env.CAIRN_HOME = saved;
    }
  });
});

describe("references, remove and prune", () => {
  it("counts leases, refuses to remove a referenced snapshot, prunes only unreferenced ones", async () => {
    const store = await freshStore("refs");
    const a = await store.prepare(appA);
    const b = await store.prepare(appB, { lease: "keep-b", label: "test" });
    const [baseId, aTop] = a.snapshots.map((s) => s.chainId) as [string, string];
    const bTop = b.snapshots[1]?.chainId as string;
    expect(await store.refs(baseId)).toBe(2);
    expect(await store.refs(aTop)).toBe(1);
    const listed = await store.list();
    expect(listed.find((s) => s.chainId === baseId)?.refs).toBe(2);
    const inUse = await store.remove(aTop).catch((e: unknown) => e);
    expect(isCairnError(inUse, "E_IN_USE")).toBe(true);
    await a.release();
    expect(await store.refs(baseId)).toBe(1);
    const pruned = await store.prune();
    expect(pruned.snapshots).toEqual([aTop]);
    expect((await store.list()).map((s) => s.chainId).sort()).toEqual([baseId, bTop].sort());
    expect(fs.readdirSync(path.join(store.root, "l"))).toHaveLength(2);
    await expect(store.remove(bTop)).rejects.toThrow(/lease/);
    await store.remove(bTop, { force: true });
    expect(await store.get(bTop)).toBeUndefined();
    await store.release("keep-b");
    expect((await store.prune()).snapshots).toEqual([baseId]);
    expect(await store.list()).toEqual([]);
    await expect(store.remove(baseId)).rejects.toThrow(/no snapshot/);
  });

  it("drops process leases of processes that are gone", async () => {
    const store = await freshStore("stale");
    const ids = chainIds((await appA.config()).rootfs.diff_ids);
    await store.lease("ghost", ids, { process: true });
    const file = path.join(store.root, "leases", "ghost.json");
    const lease = JSON.parse(fs.readFileSync(file, "utf8")) as { pid: number };
    lease.pid = 2 ** 22 + 12345; // no such process
    fs.writeFileSync(file, JSON.stringify(lease));
    expect((await store.prune()).leases).toEqual(["ghost"]);
  });
});

describe("concurrency", () => {
  it("concurrent prepares of one image in one process unpack each layer once", async () => {
    const store = await freshStore("conc1");
    const chains = await Promise.all([1, 2, 3, 4].map(() => store.prepare(appB)));
    expect(chains.reduce((n, c) => n + c.unpacked, 0)).toBe(2);
    expect(new Set(chains.map((c) => c.snapshots[1]?.fsDir)).size).toBe(1);
    for (const c of chains) await c.release();
  });

  it("prepares in several processes meet at the lock: each layer is unpacked once in all", async () => {
    const storeDir = path.join(work, "conc-procs");
    const big = await buildImage(layout, "big", [manyFiles("x", 600), manyFiles("y", 600)]);
    expect(big).toBeDefined();
    const start = String(Date.now() + 1500);
    const children = [1, 2, 3].map(() => spawnUnionChild([storeDir, `oci:${layout}:big`, start]));
    const results = await Promise.all(children.map((c) => c.exited));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const done = children.map((c) =>
      c.lines
        .find((l) => l.startsWith("done"))
        ?.split(" ")
        .slice(1)
        .map(Number),
    );
    expect(done.reduce((n, d) => n + (d?.[0] ?? 0), 0)).toBe(2);
    expect(done.reduce((n, d) => n + (d?.[1] ?? 0), 0)).toBe(4);
    const store = await SnapshotStore.open(storeDir);
    expect(await store.list()).toHaveLength(2);
    expect(fs.readdirSync(path.join(storeDir, "tmp"))).toEqual([]);
  });
});

describe("failures leave no snapshot", () => {
  it("a layer whose diff ID does not match: no snapshot, no temp dir, lease dropped", async () => {
    const store = await freshStore("bad-diff");
    const good = await createLayer(base, { tmpDir: os.tmpdir() });
    const bad = await createLayer([file("x", "x\n")], { tmpDir: os.tmpdir() });
    const wrong = `sha256:${"0".repeat(64)}` as const;
    const image = await appendLayers(
      emptyImage(),
      layerFromCreated(good),
      layerFromCreated({ ...bad, diffId: wrong }),
    );
    const e = await store.prepare(image).catch((x: unknown) => x);
    expect(isCairnError(e, "E_DIGEST_MISMATCH")).toBe(true);
    const list = await store.list();
    expect(list.map((s) => s.diffId)).toEqual([good.diffId]);
    expect(fs.readdirSync(path.join(store.root, "tmp"))).toEqual([]);
    expect(await store.leases()).toEqual([]);
    for (const c of [good, bad]) fs.rmSync(c.path as string);
  });

  it("a hostile layer fails with E_LAYER_UNSAFE_PATH and leaves nothing", async () => {
    const store = await freshStore("bad-path");
    const hostile = await buildImage(layout, "hostile", [[link("etc", "/etc")], [file("etc/evil", "x\n")]]);
    const e = await store.prepare(hostile).catch((x: unknown) => x);
    expect(isCairnError(e, "E_LAYER_UNSAFE_PATH")).toBe(true);
    expect((await store.list()).length).toBe(1);
    expect(fs.readdirSync(path.join(store.root, "tmp"))).toEqual([]);
    expect(fs.existsSync("/etc/evil")).toBe(false);
  });

  it("a process killed mid-unpack leaves a temp dir that prune removes; the next prepare finishes", async () => {
    const storeDir = path.join(work, "crash");
    const big = await buildImage(layout, "crash", [manyFiles("a", 20), manyFiles("b", 3000)]);
    const child = spawnUnionChild([storeDir, `oci:${layout}:crash`], (line, c) => {
      if (line.startsWith("apply 1 ")) c.proc.kill("SIGKILL");
    });
    const r = await child.exited;
    expect(r.signal).toBe("SIGKILL");
    const store = await SnapshotStore.open(storeDir);
    expect((await store.list()).length).toBe(1);
    expect(fs.readdirSync(path.join(storeDir, "tmp")).length).toBe(1);
    const chain = await store.prepare(big);
    expect([chain.unpacked, chain.reused]).toEqual([1, 1]);
    const view = UnionView.fromSnapshots(store, chain.snapshots);
    expect((await view.readdir("/b")).length).toBe(3000);
    await chain.release();
    expect((await store.prune()).tempDirs).toBe(1);
    expect(fs.readdirSync(path.join(storeDir, "tmp"))).toEqual([]);
  });
});
