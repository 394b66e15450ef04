/**
 * applyLayer's fast paths: no lstat before a create (EEXIST tells), directories this run made
 * trusted without looking again, and small files created on writer threads while the main
 * thread goes on. Later entries of the same layer must still see, replace and refuse exactly
 * as if every file had been written in order.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { type ApplyWarning, applyLayer, type LowerLayers, unpackLayerAtomic } from "../src/layer/index.js";
import { repoRoot } from "./helpers/conformance.js";
import {
  applyAll,
  d,
  f,
  h,
  hasCommand,
  isRoot,
  l,
  opq,
  type RawEntry,
  rawTar,
  snapshot,
  tempDir,
  treeMeta,
  wh,
} from "./layer-fixtures.js";

let base: string;
let root: string;
let sentinel: string;

beforeEach(() => {
  base = tempDir("cairn-bg-");
  root = path.join(base, "rootfs");
  sentinel = path.join(base, "sentinel");
  fs.mkdirSync(root);
  fs.mkdirSync(sentinel);
  fs.writeFileSync(path.join(sentinel, "keep"), "keep");
});

afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

/** Enough small files in `dir` to fill several batches of the writer threads. */
function many(dir: string, n = 300, data = "x"): RawEntry[] {
  return Array.from({ length: n }, (_, i) => f(`${dir}/f${i}`, `${data}${i}`));
}

function sentinelState(): string {
  return fs
    .readdirSync(sentinel)
    .sort()
    .map((n) => `${n}=${fs.readFileSync(path.join(sentinel, n), "utf8")}`)
    .join(",");
}

describe("later entries of a layer after files queued on the writer threads", () => {
  it("a directory full of queued files, replaced by a symlink to outside, is never written through", async () => {
    for (const target of [sentinel, path.relative(root, sentinel)]) {
      fs.rmSync(root, { recursive: true });
      fs.mkdirSync(root);
      const layer = rawTar([d("a/"), ...many("a"), l("a", target), f("a/pwned", "pwned")]);
      const err = await applyAll(root, [layer]).catch((e: unknown) => e);
      expect(isCairnError(err, "E_LAYER_UNSAFE_PATH"), String(err)).toBe(true);
      expect(sentinelState()).toBe("keep=keep");
      expect(fs.lstatSync(path.join(root, "a")).isSymbolicLink()).toBe(true);
    }
  });

  it("a parent made implicitly, with queued files, replaced by a symlink, is never written through", async () => {
    const layer = rawTar([...many("p/q", 50), l("p", path.relative(root, sentinel)), f("p/q/new", "pwned")]);
    const err = await applyAll(root, [layer]).catch((e: unknown) => e);
    expect(isCairnError(err, "E_LAYER_UNSAFE_PATH"), String(err)).toBe(true);
    expect(sentinelState()).toBe("keep=keep");
  });

  it("in clamp mode the same symlink leads into the root, and the queued files are gone with their directory", async () => {
    const layer = rawTar([d("a/"), ...many("a"), l("a", sentinel), f("a/inside", "in")]);
    await applyAll(root, [layer], { unsafePaths: "clamp" });
    expect(sentinelState()).toBe("keep=keep");
    expect(fs.readFileSync(path.join(root, sentinel, "inside"), "utf8")).toBe("in");
    expect(fs.readlinkSync(path.join(root, "a"))).toBe(sentinel);
  });

  it("a directory full of queued files replaced by a file, then used as a parent again", async () => {
    const warnings: ApplyWarning[] = [];
    const layer = rawTar([d("a/"), ...many("a"), f("a", "now a file"), f("a/late", "late")]);
    await applyLayer(Readable.from([layer]), root, { onWarning: (w) => warnings.push(w) });
    expect(snapshot(root)).toEqual({ a: "dir", "a/late": "file late" });
    expect(warnings.map((w) => w.code)).toContain("parent-replaced");
  });

  it("a hardlink to a queued file links the written file", async () => {
    await applyAll(root, [rawTar([...many("d", 40), f("d/target", "content"), h("d/link", "d/target")])]);
    const a = fs.statSync(path.join(root, "d/target"));
    const b = fs.statSync(path.join(root, "d/link"));
    expect(b.ino).toBe(a.ino);
    expect(a.nlink).toBe(2);
    expect(fs.readFileSync(path.join(root, "d/link"), "utf8")).toBe("content");
  });

  it("whiteouts and opaque markers hide lower layers only, never queued files of their own layer", async () => {
    await applyAll(root, [
      rawTar([d("o/"), f("o/lower", "l"), f("old", "o")]),
      rawTar([d("o/"), ...many("o", 40), f("new", "n"), wh("new"), wh("old"), opq("o/")]),
    ]);
    const s = snapshot(root);
    expect(s.new).toBe("file n");
    expect(s.old).toBeUndefined();
    expect(s["o/lower"]).toBeUndefined();
    expect(Object.keys(s).filter((k) => k.startsWith("o/"))).toHaveLength(40);
  });

  it("a name used twice in one layer ends as its last entry, whatever kinds", async () => {
    await applyAll(root, [
      rawTar([
        ...many("d", 40),
        f("d/dup", "one"),
        f("d/dup", "two"),
        f("d/f3", "replaced"),
        f("d/dir", "file first"),
        d("d/dir/"),
        f("d/dir/x", "x"),
        f("d/sym", "file first"),
        l("d/sym", "f1"),
      ]),
    ]);
    const s = snapshot(root);
    expect(s["d/dup"]).toBe("file two");
    expect(s["d/f3"]).toBe("file replaced");
    expect(s["d/dir"]).toBe("dir");
    expect(s["d/dir/x"]).toBe("file x");
    expect(s["d/sym"]).toBe("symlink -> f1");
  });

  it("a write that fails on a writer thread fails the layer with E_IO naming the entry, and leaves no target", async () => {
    const long = `dir/${"n".repeat(300)}`;
    const layer = rawTar([d("dir/"), ...many("dir", 40), f(long, "too long a name"), ...many("dir2", 40)]);
    const err = await applyLayer(Readable.from([layer]), root).catch((e: unknown) => e);
    expect(isCairnError(err, "E_IO"), String(err)).toBe(true);
    expect((err as Error).message).toContain(JSON.stringify(long));

    const target = path.join(base, "atomic");
    const again = await unpackLayerAtomic(Readable.from([layer]), target).catch((e: unknown) => e);
    expect(isCairnError(again, "E_IO"), String(again)).toBe(true);
    expect(fs.readdirSync(base).sort()).toEqual(["rootfs", "sentinel"]);
  });
});

describe("files written on the writer threads", () => {
  it.runIf(isRoot && hasCommand("tar"))(
    "give the same tree as GNU tar: names, content, modes, owners, times, across many batches",
    async () => {
      const entries: RawEntry[] = [];
      const modes = [0o644, 0o755, 0o600, 0o444, 0o4755, 0o2755, 0o1755, 0o640];
      const dirModes = [0o755, 0o1777, 0o2775, 0o555, 0o700];
      const sizes = [0, 1, 511, 512, 5000, 70_000, 300_000];
      let n = 0;
      for (let i = 0; i < 24; i++) {
        const dir = `dir${i}/sub-\udcff${i % 3}`;
        entries.push({ ...d(`dir${i}/`), mtime: 1_500_000_000 + i });
        entries.push({
          ...d(`${dir}/`),
          mode: dirModes[i % dirModes.length] as number,
          uid: i % 2 ? 1000 : 0,
        });
        for (let j = 0; j < 30; j++, n++) {
          const size = sizes[n % sizes.length] as number;
          entries.push({
            name: `${dir}/file-${j}${j % 7 === 0 ? "-\udcfe" : ""}`,
            typeflag: "0",
            data: Buffer.alloc(size, n % 251),
            mode: modes[n % modes.length] as number,
            uid: n % 5 === 0 ? 1234 : 0,
            gid: n % 3 === 0 ? 5678 : 0,
            mtime: 1_600_000_000 + n,
          });
        }
        entries.push(l(`${dir}/link`, "file-1"), h(`${dir}/hard`, `${dir}/file-2`));
      }
      // Top-level files: their directory (the root) was not made by this run.
      for (let i = 0; i < 20; i++) entries.push(f(`top-${i}`, `top ${i}`, modes[i % modes.length]));
      const layer = rawTar(entries);
      const tarFile = path.join(base, "layer.tar");
      fs.writeFileSync(tarFile, layer);
      const byTar = path.join(base, "by-tar");
      fs.mkdirSync(byTar);
      execFileSync("tar", ["-xf", tarFile, "-C", byTar, "--same-owner", "-p"]);
      await applyAll(root, [layer]);
      expect(treeMeta(root)).toEqual(treeMeta(byTar));
    },
  );

  it("without privileges: exact modes, the applier's own owner, read-only directories written into", async () => {
    const warnings: ApplyWarning[] = [];
    const layer = rawTar([
      d("ro/", 0o555),
      ...many("ro", 60).map((e, i) => ({ ...e, mode: i % 2 ? 0o600 : 0o755, uid: 4242 })),
      ...many("implicit", 60),
      f("top", "t", 0o640),
    ]);
    await applyLayer(Readable.from([layer]), root, { rootless: true, onWarning: (w) => warnings.push(w) });
    expect(fs.statSync(path.join(root, "ro")).mode & 0o7777).toBe(0o555);
    expect(fs.statSync(path.join(root, "ro/f1")).mode & 0o7777).toBe(0o600);
    expect(fs.statSync(path.join(root, "ro/f2")).mode & 0o7777).toBe(0o755);
    expect(fs.statSync(path.join(root, "ro/f2")).uid).toBe(process.getuid?.());
    expect(fs.readFileSync(path.join(root, "implicit/f59"), "utf8")).toBe("x59");
    expect(fs.statSync(path.join(root, "top")).mode & 0o7777).toBe(0o640);
    expect(warnings.find((w) => w.code === "ownership-skipped")?.message).toMatch(
      isRoot ? / 60 entries/ : /entries/,
    );
  });

  it("two layers applied at once to two roots share the threads and each is whole", async () => {
    const other = path.join(base, "other");
    fs.mkdirSync(other);
    const one = rawTar([d("x/"), ...many("x", 400, "one"), ...many("y", 100, "one")]);
    const two = rawTar([d("x/"), ...many("x", 400, "two"), ...many("z", 100, "two")]);
    await Promise.all([applyAll(root, [one]), applyAll(other, [two])]);
    const a = snapshot(root);
    const b = snapshot(other);
    expect(Object.keys(a)).toHaveLength(502);
    expect(Object.keys(b)).toHaveLength(502);
    expect(a["x/f7"]).toBe("file one7");
    expect(b["x/f7"]).toBe("file two7");
    expect(b["z/f99"]).toBe("file two99");
  });

  it("a diff-mode copy-up puts files the writer threads must not assume free", async () => {
    // Lower: d/a with a second name d/b. The layer links d/c to d/a (copying d/a and d/b up
    // into the fresh upper d/), then writes d/b anew.
    const lowerDir = path.join(base, "lower");
    fs.mkdirSync(path.join(lowerDir, "d"), { recursive: true });
    fs.writeFileSync(path.join(lowerDir, "d/a"), "A");
    fs.linkSync(path.join(lowerDir, "d/a"), path.join(lowerDir, "d/b"));
    const lower: LowerLayers = {
      lstat: (rel) => {
        const st = fs.lstatSync(path.join(lowerDir, rel), { throwIfNoEntry: false });
        if (!st) return undefined;
        const type = st.isDirectory()
          ? "directory"
          : st.isSymbolicLink()
            ? "symlink"
            : st.isFile()
              ? "file"
              : "other";
        return {
          type,
          mode: st.mode & 0o7777,
          uid: st.uid,
          gid: st.gid,
          mtime: Math.floor(st.mtimeMs / 1000),
        };
      },
      readlink: (rel) => fs.readlinkSync(path.join(lowerDir, rel)),
      hostPath: (rel) => path.join(lowerDir, rel),
      linkedNames: (rel) => (rel === "d/a" ? ["d/b"] : rel === "d/b" ? ["d/a"] : []),
    };
    const layer = rawTar([d("d/"), ...many("d", 40), h("d/c", "d/a"), f("d/b", "new b")]);
    await applyLayer(Readable.from([layer]), root, { diff: { lower, overlayMarkers: false } });
    const s = snapshot(root);
    expect(s["d/a"]).toBe("file A");
    expect(s["d/c"]).toBe("file A");
    expect(s["d/b"]).toBe("file new b");
    expect(fs.statSync(path.join(root, "d/c")).ino).toBe(fs.statSync(path.join(root, "d/a")).ino);
    expect(fs.readFileSync(path.join(lowerDir, "d/a"), "utf8")).toBe("A");
  });

  it("a process exits on its own once its layers are applied (idle writer threads hold nothing)", () => {
    // The second layer has no file for the writer threads: one is started, and never used.
    fs.writeFileSync(path.join(base, "l1.tar"), rawTar([d("a/"), ...many("a", 100), ...many("b", 5)]));
    fs.writeFileSync(
      path.join(base, "l2.tar"),
      rawTar([d("c/"), d("c/d/"), f("c/big", "b".repeat(300_000))]),
    );
    for (const layers of [["l1.tar"], ["l2.tar"]]) {
      const script = path.join(base, "exit.mts");
      fs.writeFileSync(
        script,
        `import fs from "node:fs";
import { applyLayer } from ${JSON.stringify(path.join(repoRoot, "src/layer/index.ts"))};
const dir = fs.mkdtempSync(${JSON.stringify(`${base}/out-`)});
for (const l of ${JSON.stringify(layers)}) await applyLayer(fs.createReadStream(${JSON.stringify(base)} + "/" + l), dir);
console.log(fs.readdirSync(dir).sort().join(","));
`,
      );
      const out = execFileSync(
        process.execPath,
        ["--import", path.join(repoRoot, "node_modules/tsx/dist/esm/index.mjs"), script],
        { timeout: 30_000, cwd: base },
      );
      expect(out.toString().trim()).toBe(layers[0] === "l1.tar" ? "a,b" : "c");
    }
  });
});
