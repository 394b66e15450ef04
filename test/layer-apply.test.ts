/**
 * applyLayer beyond the CASES: layered replacements, hardlinks, attributes, special files,
 * rootless mode, xattrs, diff ID checks, abort and progress.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { type ApplyProgress, applyLayer, createLayer } from "../src/layer/index.js";
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
  rawTar,
  snapshot,
  tempDir,
  treeMeta,
  wh,
} from "./layer-fixtures.js";

let base: string;
let root: string;
beforeEach(() => {
  base = tempDir("cairn-apply-");
  root = path.join(base, "rootfs");
  fs.mkdirSync(root);
});
afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

/** Runs a TypeScript file with tsx as uid and gid 65534 (setpriv); returns the last line it printed. */
function lastLineAsNobody(script: string, cwd: string): string {
  const tsx = path.join(repoRoot, "node_modules/tsx/dist/esm/index.mjs");
  const args = [
    "--reuid",
    "65534",
    "--regid",
    "65534",
    "--clear-groups",
    process.execPath,
    "--import",
    tsx,
    script,
  ];
  const out = execFileSync("setpriv", args, { env: { ...process.env, HOME: cwd }, cwd }).toString();
  return out.trim().split("\n").at(-1) ?? "";
}

describe("two layers: whiteouts, opaque dirs and replacements together", () => {
  it("produces the merged tree a union mount would show", async () => {
    const l1 = rawTar([
      d("etc/"),
      f("etc/passwd", "root"),
      f("etc/shadow", "secret"),
      d("var/"),
      d("var/cache/"),
      f("var/cache/a", "a"),
      d("var/cache/sub/"),
      f("var/cache/sub/b", "b"),
      d("opt/"),
      l("opt/current", "v1"),
      d("opt/v1/"),
      f("opt/v1/bin", "1"),
      f("link-me", "shared"),
      h("linked", "link-me"),
    ]);
    const l2 = rawTar([
      wh("etc/shadow"),
      f("etc/passwd", "root2"),
      d("var/cache/"),
      opq("var/cache/"),
      f("var/cache/fresh", "new"),
      l("opt/current", "v2"),
      d("opt/v2/"),
      f("opt/v2/bin", "2"),
      wh("opt/v1"),
      d("link-me/"),
    ]);
    await applyAll(root, [l1, l2]);
    expect(snapshot(root)).toEqual({
      etc: "dir",
      "etc/passwd": "file root2",
      var: "dir",
      "var/cache": "dir",
      "var/cache/fresh": "file new",
      opt: "dir",
      "opt/current": "symlink -> v2",
      "opt/v2": "dir",
      "opt/v2/bin": "file 2",
      "link-me": "dir",
      linked: "file shared",
    });
  });

  it("a whiteout and an opaque marker in the root directory", async () => {
    await applyAll(root, [rawTar([f("a"), f("b"), d("c/")]), rawTar([wh("a")])]);
    expect(snapshot(root)).toEqual({ b: "file ", c: "dir" });
    await applyAll(root, [rawTar([f(".wh..wh..opq"), f("z", "z")])]);
    expect(snapshot(root)).toEqual({ z: "file z" });
  });

  it("a whiteout and a re-add of a directory in one layer leave only the new content", async () => {
    await applyAll(root, [rawTar([d("d/"), f("d/old", "o")]), rawTar([d("d/"), f("d/new", "n"), wh("d")])]);
    expect(snapshot(root)).toEqual({ d: "dir", "d/new": "file n" });
  });

  it("entries through an in-root relative symlink land in its target (usrmerge)", async () => {
    await applyAll(root, [
      rawTar([d("usr/"), d("usr/bin/"), l("bin", "usr/bin")]),
      rawTar([f("bin/sh", "sh")]),
    ]);
    expect(snapshot(root)).toEqual({
      bin: "symlink -> usr/bin",
      usr: "dir",
      "usr/bin": "dir",
      "usr/bin/sh": "file sh",
    });
  });
});

describe("attributes", () => {
  it("modes including setuid/setgid/sticky, and directory modes/times set after their children", async () => {
    await applyAll(root, [
      rawTar([
        { ...d("ro/", 0o555), mtime: 1_000_000_000 },
        { ...f("ro/file", "x", 0o2755), mtime: 1_100_000_000 },
        { ...d("ro/sub/", 0o500), mtime: 1_200_000_000 },
        { ...f("ro/sub/inner", "y", 0o400), mtime: 1_300_000_000 },
        d("sticky/", 0o1777),
        { ...l("sym", "ro/file"), mtime: 1_400_000_000 },
      ]),
    ]);
    const st = (p: string) => fs.lstatSync(path.join(root, p));
    expect([st("ro").mode & 0o7777, st("ro").mtimeMs / 1000]).toEqual([0o555, 1_000_000_000]);
    expect([st("ro/file").mode & 0o7777, st("ro/file").mtimeMs / 1000]).toEqual([0o2755, 1_100_000_000]);
    expect([st("ro/sub").mode & 0o7777, st("ro/sub").mtimeMs / 1000]).toEqual([0o500, 1_200_000_000]);
    expect(st("sticky").mode & 0o7777).toBe(0o1777);
    expect(st("sym").mtimeMs / 1000).toBe(1_400_000_000);
  });

  it("the ./ entry sets the root's attributes", async () => {
    await applyAll(root, [rawTar([{ ...d("./", 0o750), mtime: 1_234_567_890 }, f("x")])]);
    const st = fs.statSync(root);
    expect([st.mode & 0o7777, st.mtimeMs / 1000]).toEqual([0o750, 1_234_567_890]);
  });

  it.runIf(isRoot)("owners as root, including ids beyond USTAR's range", async () => {
    await applyAll(root, [
      rawTar([
        { ...d("home/", 0o755), uid: 1000, gid: 1000 },
        { ...f("home/file", "x", 0o4750), uid: 3_000_000, gid: 3_000_001 },
        { ...l("home/link", "file"), uid: 7, gid: 8 },
      ]),
    ]);
    const st = (p: string) => fs.lstatSync(path.join(root, p));
    expect([st("home").uid, st("home").gid]).toEqual([1000, 1000]);
    expect([st("home/file").uid, st("home/file").gid, st("home/file").mode & 0o7777]).toEqual([
      3_000_000, 3_000_001, 0o4750,
    ]);
    expect([st("home/link").uid, st("home/link").gid]).toEqual([7, 8]);
  });

  it.runIf(isRoot && hasCommand("getfattr"))(
    "file capabilities survive (xattrs set after chown)",
    async () => {
      const probe = path.join(base, "probe");
      fs.writeFileSync(probe, "");
      execFileSync("setfattr", [
        "-n",
        "security.capability",
        "-v",
        "0x0100000200200000000000000000000000000000",
        probe,
      ]);
      const cap = execFileSync("getfattr", [
        "-n",
        "security.capability",
        "-e",
        "hex",
        "--only-values",
        probe,
      ]);
      await applyAll(root, [
        rawTar([
          { ...f("ping", "elf"), uid: 0, gid: 0, xattrs: { "security.capability": cap, "user.note": "hi" } },
        ]),
      ]);
      const got = execFileSync("getfattr", [
        "-d",
        "-m",
        "-",
        "-e",
        "hex",
        path.join(root, "ping"),
      ]).toString();
      expect(got).toContain(`security.capability=0x${cap.toString("hex")}`);
      expect(got).toContain("user.note=0x6869");
    },
  );

  it.runIf(hasCommand("getfattr"))(
    "xattrs on names with spaces, newlines, backslashes, '=' and non-UTF-8 bytes",
    async () => {
      const names = ["with space", "back\\slash", "new\nline", "eq=ual", "bad-\udcff-byte", "☺"];
      await applyAll(root, [
        rawTar(names.map((n, i) => ({ ...f(n, "x"), xattrs: { "user.i": String(i) } }))),
      ]);
      const dump = execFileSync("getfattr", ["-R", "-d", "--absolute-names", root]).toString();
      for (let i = 0; i < names.length; i++) expect(dump).toContain(`user.i="${i}"`);
    },
  );

  it("xattrs can be turned off", async () => {
    const warnings = await applyAll(root, [rawTar([{ ...f("x"), xattrs: { "user.k": "v" } }])], {
      xattrs: false,
    });
    expect(warnings).toEqual([]);
    if (hasCommand("getfattr"))
      expect(execFileSync("getfattr", ["-d", path.join(root, "x")]).toString()).toBe("");
  });
});

describe("special files and rootless mode", () => {
  it.runIf(isRoot)("devices and fifos as root", async () => {
    await applyAll(root, [
      rawTar([
        d("dev/"),
        { name: "dev/null", typeflag: "3", devmajor: 1, devminor: 3, mode: 0o666 },
        { name: "dev/loop0", typeflag: "4", devmajor: 7, devminor: 0, mode: 0o660, uid: 0, gid: 6 },
        { name: "run.fifo", typeflag: "6", mode: 0o600 },
      ]),
    ]);
    const st = (p: string) => fs.lstatSync(path.join(root, p));
    expect(st("dev/null").isCharacterDevice()).toBe(true);
    expect([st("dev/null").rdev, st("dev/null").mode & 0o7777]).toEqual([
      fs.statSync("/dev/null").rdev,
      0o666,
    ]);
    expect([st("dev/loop0").isBlockDevice(), st("dev/loop0").gid]).toEqual([true, 6]);
    expect([st("run.fifo").isFIFO(), st("run.fifo").mode & 0o7777]).toEqual([true, 0o600]);
  });

  it("rootless: no device nodes and no chown, a warning per skipped entry", async () => {
    const layer = rawTar([
      d("dev/"),
      f("dev/null", "placeholder-from-lower"),
      { ...f("owned", "x"), uid: 4242, gid: 4242 },
      { name: "dev/null", typeflag: "3", devmajor: 1, devminor: 3 },
      { name: "dev/sda", typeflag: "4", devmajor: 8, devminor: 0 },
      { name: "fifo", typeflag: "6" },
      { ...d("locked/", 0o500), uid: 4242 },
      f("locked/inside", "written after the dir's 0500 mode"),
    ]);
    const warnings = await applyAll(root, [layer], { rootless: true });
    expect(warnings.filter((w) => w.code === "device-skipped").map((w) => w.path)).toEqual([
      "dev/null",
      "dev/sda",
    ]);
    expect(warnings.filter((w) => w.code === "ownership-skipped")).toHaveLength(1);
    expect(snapshot(root)).toEqual({
      dev: "dir",
      fifo: "fifo",
      locked: "dir",
      "locked/inside": "file written after the dir's 0500 mode",
      owned: "file x",
    });
    expect(fs.statSync(path.join(root, "owned")).uid).toBe(process.getuid?.());
    expect(fs.statSync(path.join(root, "locked")).mode & 0o7777).toBe(0o500);
  });

  it.runIf(isRoot && hasCommand("setpriv", ["--version"]))(
    "as an unprivileged user: rootless by default, and read-only lower directories are written into",
    () => {
      fs.chmodSync(base, 0o755);
      const dir = path.join(base, "unpriv");
      fs.mkdirSync(dir);
      fs.writeFileSync(
        path.join(base, "l1.tar"),
        rawTar([d("ro/", 0o555), f("ro/old", "o"), { ...f("ro/owned", "x"), uid: 0 }]),
      );
      fs.writeFileSync(
        path.join(base, "l2.tar"),
        rawTar([wh("ro/old"), f("ro/new", "n"), { name: "null", typeflag: "3", devmajor: 1, devminor: 3 }]),
      );
      const script = path.join(base, "child.mts");
      fs.writeFileSync(
        script,
        `import fs from "node:fs";
import { applyLayer } from ${JSON.stringify(path.join(repoRoot, "src/layer/index.ts"))};
const warnings = [];
for (const l of ["l1.tar", "l2.tar"]) {
  await applyLayer(fs.createReadStream(${JSON.stringify(base)} + "/" + l), ${JSON.stringify(dir)}, { onWarning: (w) => warnings.push(w.code) });
}
const ro = ${JSON.stringify(dir)} + "/ro";
console.log(JSON.stringify({ warnings, names: fs.readdirSync(ro).sort(), mode: fs.statSync(ro).mode & 0o7777, uid: process.getuid() }));
`,
      );
      fs.chownSync(dir, 65534, 65534);
      const result = JSON.parse(lastLineAsNobody(script, base) || "{}");
      expect(result).toEqual({
        warnings: ["ownership-skipped", "device-skipped", "ownership-skipped"],
        names: ["new", "owned"],
        mode: 0o555,
        uid: 65534,
      });
    },
  );

  it.runIf(isRoot && hasCommand("setpriv", ["--version"]))(
    "as an unprivileged user: a file lands in a sticky lower directory owned by root (whose times it cannot put back)",
    () => {
      fs.chmodSync(base, 0o755);
      const dir = path.join(base, "sticky");
      fs.mkdirSync(path.join(dir, "tmp"), { recursive: true });
      fs.chmodSync(path.join(dir, "tmp"), 0o1777);
      fs.chownSync(dir, 65534, 65534);
      fs.writeFileSync(path.join(base, "l.tar"), rawTar([f("tmp/mine", "m")]));
      const script = path.join(base, "sticky.mts");
      fs.writeFileSync(
        script,
        `import fs from "node:fs";
import { applyLayer } from ${JSON.stringify(path.join(repoRoot, "src/layer/index.ts"))};
await applyLayer(fs.createReadStream(${JSON.stringify(base)} + "/l.tar"), ${JSON.stringify(dir)});
console.log(JSON.stringify(fs.readdirSync(${JSON.stringify(dir)} + "/tmp")));
`,
      );
      expect(JSON.parse(lastLineAsNobody(script, base) || "[]")).toEqual(["mine"]);
      expect(fs.statSync(path.join(dir, "tmp")).uid).toBe(0);
    },
  );

  it("sockets in a source tree are skipped with a warning by createLayer", async () => {
    const src = path.join(base, "src");
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, "a"), "a");
    const net = await import("node:net");
    const server = net.createServer().listen(path.join(src, "sock"));
    await new Promise((r) => server.once("listening", r));
    const warnings: string[] = [];
    const layer = await createLayer(src, { onWarning: (w) => warnings.push(w.code) });
    server.close();
    expect(warnings).toEqual(["socket-skipped"]);
    await applyLayer(fs.createReadStream(layer.path as string), root);
    expect(snapshot(root)).toEqual({ a: "file a" });
    fs.rmSync(layer.path as string);
  });
});

describe("hardlinks", () => {
  it("createLayer keeps hardlinks, applyLayer restores them as one inode", async () => {
    const src = path.join(base, "src");
    fs.mkdirSync(path.join(src, "a"), { recursive: true });
    fs.writeFileSync(path.join(src, "a/one"), "same inode");
    fs.linkSync(path.join(src, "a/one"), path.join(src, "two"));
    fs.linkSync(path.join(src, "a/one"), path.join(src, "a/three"));
    const layer = await createLayer(src);
    await applyLayer(fs.createReadStream(layer.path as string), root);
    const ino = (p: string) => fs.statSync(path.join(root, p)).ino;
    expect(new Set([ino("a/one"), ino("two"), ino("a/three")]).size).toBe(1);
    expect(fs.statSync(path.join(root, "two")).nlink).toBe(3);
    expect(treeMeta(root)).toEqual(treeMeta(src));
    fs.rmSync(layer.path as string);
  });

  it("a hardlink to a missing target or to a directory is an invalid layer", async () => {
    for (const layer of [rawTar([h("x", "missing")]), rawTar([d("dir/"), h("x", "dir")])]) {
      const err = await applyAll(root, [layer]).catch((e: unknown) => e);
      expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
    }
  });

  it("a hardlink over an existing name replaces it; a link to itself is a no-op", async () => {
    await applyAll(root, [rawTar([f("a", "A"), f("b", "B")]), rawTar([h("b", "a"), h("a", "a")])]);
    expect(snapshot(root)).toEqual({ a: "file A", b: "file A" });
  });
});

describe("checks, abort and progress", () => {
  it("expectedDiffId is verified against the uncompressed tar", async () => {
    const tar = rawTar([f("a", "1")]);
    const good = await applyLayer(Readable.from([gzipSync(tar)]), root);
    const err = await applyLayer(Readable.from([gzipSync(tar)]), root, {
      expectedDiffId: `sha256:${"0".repeat(64)}`,
    }).catch((e: unknown) => e);
    expect(isCairnError(err, "E_DIGEST_MISMATCH")).toBe(true);
    await applyLayer(Readable.from([tar]), root, { expectedDiffId: good.diffId });
  });

  it("a truncated gzip layer fails", async () => {
    const gz = gzipSync(rawTar([f("a", "x".repeat(100_000))]));
    const err = await applyLayer(Readable.from([gz.subarray(0, gz.length - 20)]), root).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
  });

  it("an unknown entry type is refused", async () => {
    const err = await applyAll(root, [rawTar([{ name: "x", typeflag: "Z" }])]).catch((e: unknown) => e);
    expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
  });

  it("abort stops between entries with E_ABORTED", async () => {
    const ac = new AbortController();
    ac.abort();
    const err = await applyLayer(Readable.from([rawTar([f("a"), f("b")])]), root, {
      signal: ac.signal,
    }).catch((e: unknown) => e);
    expect(isCairnError(err, "E_ABORTED")).toBe(true);
  });

  it("reports progress", async () => {
    const entries = Array.from({ length: 600 }, (_, i) => f(`f${i}`, "x"));
    const seen: ApplyProgress[] = [];
    const r = await applyLayer(Readable.from([rawTar(entries)]), root, { onProgress: (p) => seen.push(p) });
    expect(seen.map((p) => p.entries)).toEqual([256, 512, 600]);
    expect(seen.at(-1)?.bytes).toBe(r.uncompressedBytes);
  });
});
