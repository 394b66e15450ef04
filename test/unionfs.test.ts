/**
 * The merged tree, four ways (applying layers, from snapshots, a union view over snapshots, a
 * union view over the layer tars), against umoci's unpack of the same images: busybox, and
 * multi-layer images with deletions, opaque directories and replacements. Plus chain IDs,
 * the union view's API, export and flatten.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import type { Image } from "../src/image/index.js";
import { readTar } from "../src/layer/index.js";
import {
  chainId,
  chainIds,
  exportImage,
  flatten,
  SnapshotStore,
  UnionView,
  unpackImage,
} from "../src/unionfs/index.js";
import { makeBusyboxRootfs, makeUmociImage } from "./helpers/images.js";
import {
  buildImage,
  describeTree,
  describeView,
  dir,
  file,
  link,
  openImage,
  tempDir,
  treeDiff,
  umociUnpack,
} from "./helpers/union.js";
import { baseLayer, opaqueRootLayers, secondLayer, thirdLayer } from "./helpers/union-scenes.js";

let work: string;
let store: SnapshotStore;
const images: Record<string, { image: Image; reference: Map<string, string> }> = {};

beforeAll(async () => {
  work = tempDir("cairn-unionfs-");
  store = await SnapshotStore.open(path.join(work, "snapshots"));
  const layout = path.join(work, "layout");
  makeUmociImage(layout, "busybox", makeBusyboxRootfs(path.join(work, "busybox-src")));
  const cases: [string, Image][] = [
    ["busybox", await openImage(`oci:${layout}:busybox`)],
    ["multi", await buildImage(layout, "multi", [baseLayer(), secondLayer(), thirdLayer()])],
    ["opaque-root", await buildImage(layout, "opaque-root", opaqueRootLayers())],
  ];
  for (const [tag, image] of cases) {
    const rootfs = umociUnpack(layout, tag, path.join(work, `umoci-${tag}`));
    images[tag] = { image, reference: describeTree(rootfs) };
  }
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

function entry(tag: string) {
  const e = images[tag];
  if (!e) throw new Error(`no image ${tag}`);
  return e;
}

describe("chain IDs", () => {
  it('follow config.md: ChainID(L0) = DiffID(L0), then sha256 of `parent + " " + diffId`', () => {
    const a = `sha256:${"a".repeat(64)}`;
    const b = `sha256:${"b".repeat(64)}`;
    const c = `sha256:${"c".repeat(64)}`;
    const sha256sum = (text: string) =>
      `sha256:${execFileSync("sha256sum", { input: text, encoding: "utf8" }).split(" ")[0]}`;
    const ab = sha256sum(`${a} ${b}`);
    expect(chainIds([a, b, c])).toEqual([a, ab, sha256sum(`${ab} ${c}`)]);
    expect(chainId([a])).toBe(a);
    expect(() => chainId([])).toThrow(/at least one/);
    expect(() => chainIds(["nope"])).toThrow();
  });
});

describe.each(["busybox", "multi", "opaque-root"])(
  "the merged tree of %s equals umoci unpack's rootfs",
  (tag) => {
    it("unpackImage (layers applied in order)", async () => {
      const { image, reference } = entry(tag);
      const out = path.join(work, `apply-${tag}`);
      const r = await unpackImage(image, out);
      expect(r.method).toBe("apply");
      expect(treeDiff(reference, describeTree(out))).toEqual([]);
    });

    it("unpackImage from snapshots", async () => {
      const { image, reference } = entry(tag);
      const out = path.join(work, `snap-${tag}`);
      const r = await unpackImage(image, out, { store });
      expect(r.method).toBe("snapshots");
      expect(treeDiff(reference, describeTree(out))).toEqual([]);
    });

    it("a UnionView over the snapshots", async () => {
      const { image, reference } = entry(tag);
      const view = await UnionView.open(image, { store });
      try {
        expect(treeDiff(reference, await describeView(view))).toEqual([]);
      } finally {
        await view.close();
      }
    });

    it("a UnionView straight from the layer tars", async () => {
      const { image, reference } = entry(tag);
      const view = await UnionView.fromLayerTars(image);
      expect(treeDiff(reference, await describeView(view))).toEqual([]);
    });
  },
);

describe("snapshots of the multi-layer image", () => {
  it("hold each layer's diff: whiteouts and opaque dirs recorded, overlay markers when root", async () => {
    const chain = await store.prepare(entry("multi").image);
    try {
      const [, second, third] = chain.snapshots;
      expect(second?.meta.whiteouts.sort()).toEqual(["etc/conf.d/a.conf", "etc/shadow", "srv/old"]);
      expect(second?.meta.opaques.sort()).toEqual(["empty-later", "var/cache"]);
      // ".wh.home" and "home/" in one layer: the new home hides the old one's children
      expect(third?.meta.opaques).toEqual(["home"]);
      expect(third?.meta.whiteouts.sort()).toEqual(["opt/v1", "usr/lib/libc.so"]);
      // the layer's own files only
      expect(fs.existsSync(path.join(second?.fsDir ?? "", "etc/conf.d/c.conf"))).toBe(true);
      expect(fs.existsSync(path.join(second?.fsDir ?? "", "etc/conf.d/b.conf"))).toBe(false);
      // written through the lower symlink lib -> usr/lib
      expect(fs.existsSync(path.join(second?.fsDir ?? "", "usr/lib/extra.so"))).toBe(true);
      // the copied-up parent keeps the lower directory's mode
      expect(fs.statSync(path.join(second?.fsDir ?? "", "etc/conf.d")).mode & 0o7777).toBe(0o750);
      if (process.getuid?.() === 0) {
        const wh = fs.lstatSync(path.join(second?.fsDir ?? "", "etc/shadow"));
        expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
        const opq = execFileSync(
          "getfattr",
          ["-n", "trusted.overlay.opaque", "--only-values", path.join(second?.fsDir ?? "", "var/cache")],
          {
            encoding: "utf8",
          },
        );
        expect(opq).toBe("y");
      }
    } finally {
      await chain.release();
    }
  });
});

describe("UnionView", () => {
  let view: UnionView;
  beforeAll(async () => {
    view = await UnionView.open(entry("multi").image, { store });
  });
  afterAll(async () => {
    await view.close();
  });

  it("hides whiteouts and the lower children of opaque dirs", async () => {
    expect(await view.exists("/etc/shadow")).toBe(false);
    expect(await view.readdir("/etc/conf.d")).toEqual(["b.conf", "c.conf"]);
    expect(await view.readdir("/var/cache")).toEqual(["new"]);
    expect(await view.readdir("/empty-later")).toEqual([]);
    expect(await view.readdir("/home")).toEqual(["fresh"]);
    expect(await view.exists("/srv/old/index.html")).toBe(false);
    expect(await view.readdir("/srv/old")).toEqual(["new.html"]);
    expect(await view.exists("/opt/v1")).toBe(false);
  });

  it("shows replacements from the top layer", async () => {
    expect((await view.lstat("/data/replaced-by-dir")).type).toBe("directory");
    expect((await view.lstat("/data/dir-to-file")).type).toBe("file");
    expect((await view.readFile("/data/dir-to-file")).toString()).toBe("now a file\n");
    expect((await view.lstat("/etc/passwd")).mode).toBe(0o644);
    expect((await view.readFile("/etc/passwd")).toString()).toContain("/bin/zsh");
    const cache = await view.stat("/var/cache");
    expect([cache.mode, cache.uid, cache.layer]).toEqual([0o755, 1000, 1]);
  });

  it("follows symlinks inside the root only", async () => {
    expect(await view.readlink("/opt/current")).toBe("v2");
    expect((await view.readFile("/opt/current/bin")).toString()).toContain("v2");
    expect((await view.lstat("/lib")).type).toBe("symlink");
    expect((await view.stat("/lib")).type).toBe("directory");
    expect(await view.readdir("/lib")).toEqual(["extra.so"]);
    // ../etc/passwd from /data climbs to the image root, never above it
    expect((await view.readFile("/data/file-to-link")).toString()).toContain("/bin/zsh");
    expect((await view.readFile("/../../data/../etc/passwd")).toString()).toContain("/bin/zsh");
  });

  it("walks in sorted order and reports errors as CairnErrors", async () => {
    const paths: string[] = [];
    for await (const e of view.walk("/etc")) paths.push(e.path);
    expect(paths).toEqual(["/etc/conf.d", "/etc/conf.d/b.conf", "/etc/conf.d/c.conf", "/etc/passwd"]);
    const shallow: string[] = [];
    for await (const e of view.walk("/", { maxDepth: 1 })) shallow.push(e.path);
    expect(shallow).toContain("/usr");
    expect(shallow).not.toContain("/usr/bin");
    for (const [p, op] of [
      ["/etc/shadow", () => view.readFile("/etc/shadow")],
      ["/etc/passwd", () => view.readdir("/etc/passwd")],
      ["/etc", () => view.readFile("/etc")],
      ["/etc/passwd", () => view.readlink("/etc/passwd")],
    ] as const) {
      const e = await op().catch((x: unknown) => x);
      expect(isCairnError(e, "E_NOT_FOUND"), `${p}: ${String(e)}`).toBe(true);
    }
  });

  it("refuses symlink loops with ELOOP", async () => {
    const loop = await buildImage(path.join(work, "layout"), "loop", [
      [link("a", "b"), link("b", "a"), dir("d")],
    ]);
    const v = await UnionView.fromLayerTars(loop);
    const e = await v.stat("/a").catch((x: unknown) => x);
    expect(isCairnError(e, "E_IO") && e.details?.errno).toBe("ELOOP");
    expect((await v.lstat("/a")).type).toBe("symlink");
  });
});

describe("export and flatten", () => {
  it("exportImage writes the merged tree as one tar that extracts to umoci's rootfs", async () => {
    const { image, reference } = entry("multi");
    const tar = path.join(work, "multi.tar");
    const r = await exportImage(image, tar, { store });
    expect(r.entries).toBe(reference.size);
    expect(r.bytes).toBe(fs.statSync(tar).size);
    const names: string[] = [];
    for await (const e of readTar(fs.createReadStream(tar))) names.push(e.header.name.replace(/\/$/, ""));
    expect(names).toEqual([...reference.keys()]);
    const out = path.join(work, "multi-tar-x");
    fs.mkdirSync(out);
    execFileSync("tar", ["-xpf", tar, "-C", out, "--numeric-owner"]);
    expect(treeDiff(reference, describeTree(out))).toEqual([]);
  });

  it("flatten gives one layer with the same config that unpacks to the same tree", async () => {
    const { image, reference } = entry("multi");
    const flat = await flatten(image, { store, sourceDateEpoch: 0 });
    try {
      expect((await flat.layers()).length).toBe(1);
      const config = await flat.config();
      expect(config.rootfs.diff_ids.length).toBe(1);
      expect(config.history?.length).toBe(1);
      expect(config.history?.[0]?.created_by).toBe("cairn flatten");
      expect(config.architecture).toBe((await image.config()).architecture);
      const out = path.join(work, "flat-rootfs");
      await unpackImage(flat, out);
      expect(treeDiff(reference, describeTree(out))).toEqual([]);
      // deterministic: the same input gives the same layer
      const again = await flatten(image, { store, sourceDateEpoch: 0 });
      expect((await again.layers())[0]?.descriptor.digest).toBe((await flat.layers())[0]?.descriptor.digest);
      await again.dispose();
    } finally {
      await flat.dispose();
    }
  });
});

describe("unpackImage", () => {
  it("refuses a non-empty target and leaves nothing when a layer is bad", async () => {
    const target = path.join(work, "busy");
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, "x"), "x");
    const e = await unpackImage(entry("multi").image, target).catch((x: unknown) => x);
    expect(isCairnError(e, "E_USAGE")).toBe(true);
    const hostile = await buildImage(path.join(work, "layout"), "hostile", [
      [file("ok", "ok\n"), link("escape", "/etc")],
      [file("escape/passwd", "pwned\n")],
    ]);
    const out = path.join(work, "hostile-out");
    const h = await unpackImage(hostile, out).catch((x: unknown) => x);
    expect(isCairnError(h, "E_LAYER_UNSAFE_PATH")).toBe(true);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(work).filter((n) => n.startsWith("hostile-out"))).toEqual([]);
  });
});
