/**
 * Hostile layers: every escape attempt must fail (or, in clamp mode, land inside the root)
 * and leave the sentinel directory outside the root exactly as it was.
 */
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { applyLayer, type UnsafePathPolicy, unpackLayerAtomic } from "../src/layer/index.js";
import { zstdCompressStream } from "../src/layer/zstd.js";
import {
  applyAll,
  d,
  f,
  h,
  isRoot,
  l,
  opq,
  type RawEntry,
  rawTar,
  snapshot,
  tempDir,
  wh,
} from "./layer-fixtures.js";

let base: string;
let root: string;
let sentinel: string;

/** Everything about the sentinel tree an escape could change: names, types, contents, modes, owners, times. */
function sentinelState(): string {
  const lines: string[] = [];
  const walk = (p: string) => {
    const st = fs.lstatSync(p);
    lines.push(
      `${path.relative(base, p)} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.mtimeMs} ${st.nlink}`,
    );
    if (st.isDirectory()) for (const n of fs.readdirSync(p).sort()) walk(path.join(p, n));
    else if (st.isFile()) lines.push(fs.readFileSync(p, "utf8"));
  };
  walk(sentinel);
  lines.push(fs.readdirSync(base).sort().join(","));
  return lines.join("\n");
}

beforeEach(() => {
  base = tempDir("cairn-hostile-");
  root = path.join(base, "rootfs");
  sentinel = path.join(base, "sentinel");
  fs.mkdirSync(root);
  fs.mkdirSync(path.join(sentinel, "etc"), { recursive: true });
  fs.writeFileSync(path.join(sentinel, "etc", "passwd"), "root:x:0:0\n");
  fs.writeFileSync(path.join(sentinel, "keep"), "keep");
  fs.chmodSync(path.join(sentinel, "etc"), 0o755);
  fs.utimesSync(path.join(sentinel, "etc"), 1000, 1000);
  fs.utimesSync(sentinel, 1000, 1000);
});

afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

async function attempt(layers: Buffer[], policy: UnsafePathPolicy = "reject"): Promise<unknown> {
  const before = sentinelState();
  let error: unknown;
  try {
    await applyAll(root, layers, { unsafePaths: policy });
  } catch (e) {
    error = e;
  }
  expect(sentinelState()).toBe(before);
  return error;
}

const S = () => sentinel;
const rel = () => path.relative(root, sentinel); // "../sentinel"

type Case = [name: string, layers: () => RawEntry[][]];
const escapes: Case[] = [
  ["../ in the name", () => [[f(`../sentinel/keep`, "pwned")]]],
  ["../../ deep in the name", () => [[f("a/b/../../../sentinel/etc/passwd", "pwned")]]],
  ["absolute name", () => [[f(`${S()}/keep`, "pwned")]]],
  [
    "symlink to an absolute outside dir, then a file through it",
    () => [[l("evil", S()), f("evil/keep", "pwned")]],
  ],
  [
    "symlink with ../ out of the root, then a file through it",
    () => [[l("evil", rel()), f("evil/new", "pwned")]],
  ],
  ["symlink planted by an earlier layer", () => [[l("evil", S())], [f("evil/etc/passwd", "pwned")]]],
  [
    "chain of symlinks ending outside",
    () => [[l("a", "b"), l("b", "c/../.."), d("c/"), f("a/sentinel/keep", "pwned")]],
  ],
  [
    "symlink in a nested dir climbing out",
    () => [[d("x/"), d("x/y/"), l("x/y/up", "../../../sentinel"), f("x/y/up/keep", "pwned")]],
  ],
  [
    "directory entry through an outside symlink",
    () => [[l("evil", S())], [{ ...d("evil/etc/"), mode: 0o777 }]],
  ],
  ["hardlink to ../ outside", () => [[h("x", "../sentinel/keep")]]],
  ["hardlink to an absolute path", () => [[h("x", `${S()}/keep`)]]],
  ["hardlink through an outside symlink", () => [[l("evil", S()), h("x", "evil/keep")]]],
  [
    "symlink and hardlink to it, then write through the hardlink name",
    () => [[l("s", S()), h("t", "s"), f("t/keep", "x")]],
  ],
];

describe("escapes are refused with E_LAYER_UNSAFE_PATH (default reject mode)", () => {
  for (const [name, layers] of escapes) {
    it(name, async () => {
      const err = await attempt(layers().map((es) => rawTar(es)));
      expect(isCairnError(err, "E_LAYER_UNSAFE_PATH"), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/unsafe layer entry "/);
    });
  }
});

describe("escapes are kept inside the root in clamp mode", () => {
  for (const [name, layers] of escapes) {
    it(name, async () => {
      const err = await attempt(
        layers().map((es) => rawTar(es)),
        "clamp",
      );
      // Either applied inside the root, or refused for a target that does not exist inside it.
      if (err !== undefined) expect(isCairnError(err, "E_LAYER_INVALID"), String(err)).toBe(true);
    });
  }
});

describe("actions that never reach through symlinks, in any mode", () => {
  it("a file entry replaces a symlink to outside instead of writing through it", async () => {
    await attempt([rawTar([l("passwd", `${S()}/etc/passwd`)]), rawTar([f("passwd", "pwned")])]);
    expect(snapshot(root)).toEqual({ passwd: "file pwned" });
  });

  it("a directory entry replaces a symlink to outside instead of chmod-ing the target", async () => {
    await attempt([rawTar([l("etc", `${S()}/etc`)]), rawTar([{ ...d("etc/"), mode: 0o777 }])]);
    expect(snapshot(root)).toEqual({ etc: "dir" });
  });

  it("whiteout through a symlink to outside deletes nothing", async () => {
    await attempt([rawTar([l("evil", S())]), rawTar([wh("evil/keep"), wh("evil/etc")])]);
    expect(snapshot(root)).toEqual({ evil: `symlink -> ${S()}` });
  });

  it("opaque marker through a symlink to outside empties nothing", async () => {
    await attempt([rawTar([l("evil", S())]), rawTar([opq("evil/")])]);
    expect(snapshot(root)).toEqual({ evil: `symlink -> ${S()}` });
  });

  it("whiteout of a symlink removes the link only", async () => {
    await attempt([rawTar([l("evil", S())]), rawTar([wh("evil")])]);
    expect(snapshot(root)).toEqual({});
  });

  it("a hardlink to a symlink links the symlink itself", async () => {
    await attempt([rawTar([l("s", `${S()}/keep`), h("t", "s")])]);
    expect(snapshot(root)).toEqual({ s: `symlink -> ${S()}/keep`, t: `symlink -> ${S()}/keep` });
  });

  it("a symlink loop is an invalid layer, not a hang", async () => {
    const err = await attempt([rawTar([l("a", "b"), l("b", "a"), f("a/x", "x")])], "clamp");
    expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
  });

  it("later entries of the same layer cannot redirect deferred directory times or xattrs", async () => {
    // a/ gets a deferred mtime, then a is replaced by a symlink to outside before the layer ends.
    await attempt([rawTar([{ ...d("a/"), mtime: 5 }, f("a/x", "x"), l("a", S())])], "clamp");
    expect(snapshot(root)).toEqual({ a: `symlink -> ${S()}` });
  });

  it("non-file entries named like the root are invalid", async () => {
    for (const name of [".", "./", "/"]) {
      const err = await attempt([rawTar([f(name, "x")])], "clamp");
      expect(isCairnError(err, "E_LAYER_INVALID"), name).toBe(true);
    }
  });

  it.runIf(isRoot)("overlayfs xattrs in a layer are dropped with a warning", async () => {
    const warnings = await applyAll(root, [
      rawTar([
        { ...d("dir/"), xattrs: { "trusted.overlay.redirect": "/etc", "trusted.overlay.opaque": "y" } },
      ]),
    ]);
    expect(warnings.filter((w) => w.code === "overlay-xattr-skipped")).toHaveLength(2);
  });
});

describe("bombs and bounds", () => {
  it("a gzip bomb stops at maxUncompressedBytes with E_SIZE_LIMIT", async () => {
    const bomb = gzipSync(rawTar([f("zeros", "\0".repeat(32 * 1024 * 1024))]), { level: 9 });
    expect(bomb.length).toBeLessThan(100 * 1024);
    const err = await applyLayer(Readable.from([bomb]), root, { maxUncompressedBytes: 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(isCairnError(err, "E_SIZE_LIMIT")).toBe(true);
  });

  it("a zstd bomb stops at maxUncompressedBytes with E_SIZE_LIMIT", async () => {
    const tar = rawTar([f("zeros", "\0".repeat(64 * 1024 * 1024))]);
    const chunks: Buffer[] = [];
    const z = zstdCompressStream(19);
    z.on("data", (c: Buffer) => chunks.push(c));
    await new Promise<void>((resolve, reject) => {
      z.on("end", resolve);
      z.on("error", reject);
      z.end(tar);
    });
    const bomb = Buffer.concat(chunks);
    expect(bomb.length).toBeLessThan(64 * 1024);
    const err = await applyLayer(Readable.from([bomb]), root, { maxUncompressedBytes: 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(isCairnError(err, "E_SIZE_LIMIT")).toBe(true);
  });

  it("an absurd PAX header is refused before it is buffered", async () => {
    const header = rawTar([{ name: "PaxHeaders.0/x", typeflag: "x", data: "" }], false);
    // Claim 1 GiB of PAX records.
    const block = Buffer.from(header.subarray(0, 512));
    block.write("10000000000\0", 124, "latin1");
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of block) sum += b;
    block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
    const err = await applyLayer(Readable.from([block, Buffer.alloc(4096)]), root).catch((e: unknown) => e);
    expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
    expect((err as { details?: { kind?: string } }).details?.kind).toBe("too-long");
  });
});

describe("a failing layer leaves no target (unpackLayerAtomic)", () => {
  it("removes its temporary directory and never creates the target", async () => {
    const target = path.join(base, "snapshot");
    const layer = rawTar([f("ok", "fine"), d("dir/"), f("../sentinel/keep", "pwned")]);
    const before = sentinelState();
    const err = await unpackLayerAtomic(Readable.from([layer]), target).catch((e: unknown) => e);
    expect(isCairnError(err, "E_LAYER_UNSAFE_PATH")).toBe(true);
    expect(fs.readdirSync(base).sort()).toEqual(["rootfs", "sentinel"]);
    expect(sentinelState()).toBe(before);
  });

  it("commits by rename on success", async () => {
    const target = path.join(base, "snapshot");
    const r = await unpackLayerAtomic(Readable.from([rawTar([f("ok", "fine")])]), target);
    expect(r.entries).toBe(1);
    expect(snapshot(target)).toEqual({ ok: "file fine" });
    expect(fs.readdirSync(base).sort()).toEqual(["rootfs", "sentinel", "snapshot"]);
  });

  it("refuses an existing target", async () => {
    const err = await unpackLayerAtomic(Readable.from([rawTar([f("ok")])]), root).catch((e: unknown) => e);
    expect(isCairnError(err, "E_IO")).toBe(true);
  });
});
