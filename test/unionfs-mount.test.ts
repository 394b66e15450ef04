/**
 * mount/unmount: kernel overlayfs over the snapshots (as root), bind mounts for one read-only
 * layer, the copy fallback, writable mounts sharing their lower snapshots, and the changes of
 * a writable mount turned into a layer.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { appendLayers, type Image, layerFromCreated } from "../src/image/index.js";
import { createLayer, type LayerEntry } from "../src/layer/index.js";
import { mount, mountChanges, SnapshotStore, unmount, unpackImage } from "../src/unionfs/index.js";
import { isRoot } from "./helpers/tools.js";
import { buildImage, describeTree, dir, file, tempDir, treeDiff, umociUnpack } from "./helpers/union.js";
import { baseLayer, secondLayer, thirdLayer } from "./helpers/union-scenes.js";

let work: string;
let layout: string;
let store: SnapshotStore;
let multi: Image;
let reference: Map<string, string>;

beforeAll(async () => {
  work = tempDir("cairn-mount-");
  layout = path.join(work, "layout");
  store = await SnapshotStore.open(path.join(work, "snapshots"));
  multi = await buildImage(layout, "multi", [baseLayer(), secondLayer(), thirdLayer()]);
  reference = describeTree(umociUnpack(layout, "multi", path.join(work, "umoci")));
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function mounted(target: string): string | undefined {
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .find((l) => l.split(" ")[4] === target);
}

/** Changes every writable-mount test makes: add, change, delete a file, delete a directory. */
function change(root: string): void {
  fs.writeFileSync(path.join(root, "etc/added"), "added\n");
  fs.writeFileSync(path.join(root, "etc/conf.d/b.conf"), "b=changed\n");
  fs.rmSync(path.join(root, "etc/passwd"));
  fs.rmSync(path.join(root, "var"), { recursive: true });
}

/** The image plus a writable mount's changes as a layer, unpacked, equals the mount's tree. */
async function roundTrip(
  image: Image,
  m: Awaited<ReturnType<typeof mount>>,
  name: string,
): Promise<string[]> {
  const entries: LayerEntry[] = [];
  for await (const e of mountChanges(m)) entries.push(e);
  const created = await createLayer(entries as Iterable<LayerEntry>, { tmpDir: work });
  const next = await appendLayers(image, layerFromCreated(created));
  const out = path.join(work, `roundtrip-${name}`);
  await unpackImage(next, out);
  return treeDiff(describeTree(m.target), describeTree(out));
}

describe.runIf(isRoot())("overlayfs (as root)", () => {
  it("a read-only mount shows umoci's rootfs; unmount removes everything but the snapshots", async () => {
    const target = path.join(work, "ro");
    const m = await mount(multi, target, { store });
    expect(m.method).toBe("overlay");
    expect(m.upperDir).toBeUndefined();
    expect(mounted(target)).toContain(" - overlay ");
    expect(mounted(target)).toContain("lowerdir=l/");
    expect(treeDiff(reference, describeTree(target))).toEqual([]);
    expect(() => fs.writeFileSync(path.join(target, "x"), "x")).toThrow(/EROFS/);
    expect(await store.refs(m.chainIds[0] as string)).toBe(1);
    await unmount(m);
    expect(mounted(target)).toBeUndefined();
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.readdirSync(store.mountsDir)).toEqual([]);
    expect(await store.refs(m.chainIds[0] as string)).toBe(0);
    expect((await store.list()).length).toBe(3);
  });

  it("one read-only layer is a read-only bind mount", async () => {
    const single = await buildImage(layout, "single", [[dir("etc"), file("etc/hostname", "one\n")]]);
    const m = await mount(single, path.join(work, "bind"), { store });
    expect(m.method).toBe("bind");
    expect(fs.readFileSync(path.join(m.target, "etc/hostname"), "utf8")).toBe("one\n");
    expect(() => fs.writeFileSync(path.join(m.target, "x"), "x")).toThrow(/EROFS/);
    await unmount(m);
    expect(mounted(m.target)).toBeUndefined();
  });

  it("writable mounts of one image share the lower snapshots and keep their changes apart", async () => {
    const before = (await store.list()).map((s) => describeTree(s.fsDir));
    const m1 = await mount(multi, path.join(work, "w1"), { store, writable: true });
    const m2 = await mount(multi, path.join(work, "w2"), { store, writable: true });
    expect([m1.method, m2.method]).toEqual(["overlay", "overlay"]);
    expect(m1.lowerDirs).toEqual(m2.lowerDirs);
    expect(m1.upperDir).not.toBe(m2.upperDir);
    expect(await store.refs(m1.chainIds[2] as string)).toBe(2);
    change(m1.target);
    fs.writeFileSync(path.join(m2.target, "only-in-2"), "2\n");
    expect(fs.existsSync(path.join(m2.target, "etc/added"))).toBe(false);
    expect(fs.existsSync(path.join(m2.target, "etc/passwd"))).toBe(true);
    expect(fs.existsSync(path.join(m1.target, "only-in-2"))).toBe(false);
    expect(fs.readdirSync(m1.upperDir as string).sort()).toEqual(["etc", "var"]);
    // the snapshots did not change
    expect((await store.list()).map((s) => describeTree(s.fsDir))).toEqual(before);
    expect(await roundTrip(multi, m1, "overlay")).toEqual([]);
    await unmount(m1);
    await unmount(m2);
    expect(await store.refs(m1.chainIds[2] as string)).toBe(0);
    expect(fs.readdirSync(store.mountsDir)).toEqual([]);
  });

  it("many layers fit in the mount options through short names", async () => {
    const layers = Array.from({ length: 80 }, (_, i) => [file(`f${i}`, `${i}\n`)]);
    const tall = await buildImage(layout, "tall", layers);
    const m = await mount(tall, path.join(work, "tall"), { store });
    expect(m.method).toBe("overlay");
    expect(fs.readdirSync(m.target)).toHaveLength(80);
    await unmount(m);
  });

  it("snapshots unpacked without privileges have no overlay markers: auto falls back to a copy", async () => {
    const rootless = await SnapshotStore.open(path.join(work, "rootless-snapshots"));
    const forced = await mount(multi, path.join(work, "forced"), {
      store: rootless,
      rootless: true,
      method: "overlay",
    }).catch((e: unknown) => e);
    expect(isCairnError(forced, "E_IO")).toBe(true);
    expect(fs.existsSync(path.join(work, "forced"))).toBe(false);
    const m = await mount(multi, path.join(work, "auto-copy"), { store: rootless, rootless: true });
    expect(m.method).toBe("copy");
    // without chown, everything is owned by the unpacking user
    const strip = (t: Map<string, string>) =>
      new Map(
        [...t].filter(([, v]) => !v.startsWith("char")).map(([k, v]) => [k, v.replace(/ \d+:\d+/, "")]),
      );
    expect(treeDiff(strip(reference), strip(describeTree(m.target)))).toEqual([]);
    await unmount(m);
  });
});

describe("the copy fallback", () => {
  it("materializes umoci's rootfs; a writable copy's changes become a layer", async () => {
    const ro = await mount(multi, path.join(work, "copy-ro"), { store, method: "copy" });
    expect(ro.method).toBe("copy");
    expect(treeDiff(reference, describeTree(ro.target))).toEqual([]);
    await unmount(ro);
    expect(fs.existsSync(ro.target)).toBe(false);

    const rw = await mount(multi, path.join(work, "copy-rw"), { store, method: "copy", writable: true });
    expect(rw.baseDir).toBeDefined();
    change(rw.target);
    expect(treeDiff(reference, describeTree(rw.baseDir as string))).toEqual([]);
    expect(await roundTrip(multi, rw, "copy")).toEqual([]);
    await unmount(rw);
    expect(fs.readdirSync(store.mountsDir)).toEqual([]);
  });

  it("refuses a target that is not empty and leaves it as it was", async () => {
    const target = path.join(work, "full");
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "keep"), "keep");
    const e = await mount(multi, target, { store }).catch((x: unknown) => x);
    expect(isCairnError(e, "E_USAGE")).toBe(true);
    expect(fs.readdirSync(target)).toEqual(["keep"]);
  });
});
