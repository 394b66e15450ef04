/**
 * The file system commands: cairn unpack, export, flatten, ls-files and cat, on oci:,
 * docker-archive: and default-store images.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/main.js";
import { type Image, writeLocal } from "../src/image/index.js";
import { repoRoot } from "./helpers/conformance.js";
import { isRoot } from "./helpers/tools.js";
import { buildImage, describeTree, openImage, tempDir, treeDiff, umociUnpack } from "./helpers/union.js";
import { baseLayer, secondLayer, thirdLayer } from "./helpers/union-scenes.js";

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const bytes: Buffer[] = [];
  const code = await runCli(argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    outBytes: (b) => bytes.push(Buffer.from(b)),
  });
  return { code, out: out.join("\n"), err: err.join("\n"), bytes: Buffer.concat(bytes) };
}

let work: string;
let layout: string;
let image: Image;
let reference: Map<string, string>;
const savedHome = process.env.CAIRN_HOME;

beforeAll(async () => {
  work = tempDir("cairn-cli-fs-");
  process.env.CAIRN_HOME = path.join(work, "home");
  layout = path.join(work, "layout");
  image = await buildImage(layout, "multi", [baseLayer(), secondLayer(), thirdLayer()]);
  reference = describeTree(umociUnpack(layout, "multi", path.join(work, "umoci")));
});

afterAll(() => {
  if (savedHome === undefined) delete process.env.CAIRN_HOME;
  else process.env.CAIRN_HOME = savedHome;
  fs.rmSync(work, { recursive: true, force: true });
});

describe("cairn unpack", () => {
  it("gives umoci's rootfs, by applying layers or from the snapshot store", async () => {
    const out = path.join(work, "rootfs");
    const r = await cli("unpack", "-q", `oci:${layout}:multi`, out);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("3 layer(s)");
    expect(treeDiff(reference, describeTree(out))).toEqual([]);
    const viaSnapshots = path.join(work, "rootfs-snap");
    const s = await cli("unpack", "--snapshots", `oci:${layout}:multi`, viaSnapshots);
    expect(s.code, s.err).toBe(0);
    expect(s.err).toContain("unpacked layer 3/3");
    expect(treeDiff(reference, describeTree(viaSnapshots))).toEqual([]);
    expect(fs.readdirSync(path.join(work, "home", "snapshots", "snapshots"))).toHaveLength(3);
  });

  it("refuses a non-empty target with exit 2", async () => {
    const busy = path.join(work, "busy");
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, "x"), "x");
    const r = await cli("unpack", `oci:${layout}:multi`, busy);
    expect(r.code).toBe(2);
    expect(r.err).toContain("E_USAGE");
  });
});

describe("cairn export", () => {
  it("writes the merged tree as one tar, to a file or to stdout", async () => {
    const tar = path.join(work, "multi.tar");
    const r = await cli("export", "-q", `oci:${layout}:multi`, tar);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`${reference.size} entries`);
    const x = path.join(work, "multi-x");
    fs.mkdirSync(x);
    execFileSync("tar", ["-xpf", tar, "-C", x, "--numeric-owner"]);
    expect(treeDiff(reference, describeTree(x))).toEqual([]);
    const s = await cli("export", "-q", `oci:${layout}:multi`, "-");
    expect(s.code, s.err).toBe(0);
    expect(s.bytes.equals(fs.readFileSync(tar))).toBe(true);
  });
});

describe("cairn flatten", () => {
  it("writes a one-layer image with the same config that unpacks to the same tree", async () => {
    const r = await cli("flatten", "-q", `oci:${layout}:multi`, `oci:${layout}:flat`);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain("1 layer");
    const flat = await openImage(`oci:${layout}:flat`);
    expect((await flat.layers()).length).toBe(1);
    expect((await flat.config()).rootfs.diff_ids.length).toBe(1);
    const out = path.join(work, "flat-rootfs");
    expect((await cli("unpack", "-q", `oci:${layout}:flat`, out)).code).toBe(0);
    expect(treeDiff(reference, describeTree(out))).toEqual([]);
    const bad = await cli("flatten", "--compression", "lz4", `oci:${layout}:multi`, `oci:${layout}:x`);
    expect(bad.code).toBe(2);
  });
});

describe("cairn ls-files and cat (nothing unpacked)", () => {
  it("ls-files lists the merged tree like ls -l", async () => {
    const snapshotsBefore = fs.existsSync(path.join(work, "home", "snapshots", "snapshots"))
      ? fs.readdirSync(path.join(work, "home", "snapshots", "snapshots")).length
      : 0;
    const r = await cli("ls-files", `oci:${layout}:multi`);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.split("\n");
    expect(lines).toHaveLength(reference.size);
    const line = (p: string) => lines.find((l) => l.endsWith(` ${p}`) || l.includes(` ${p} -> `));
    expect(line("/etc/passwd")).toMatch(/^-rw-r--r-- 0\/0 +27 2020-09-13 12:26 \/etc\/passwd$/);
    expect(line("/usr/bin/tool")).toMatch(/^-rwsr-xr-x /);
    expect(line("/tmp")).toMatch(/^drwxrwxrwt /);
    expect(line("/opt/current")).toMatch(/^lrwxrwxrwx .* \/opt\/current -> v2$/);
    expect(line("/var/cache")).toMatch(/^drwxr-xr-x 1000\/1000 /);
    expect(line("/run/initctl")).toMatch(/^prw------- /);
    if (isRoot()) expect(line("/dev/null")).toMatch(/^crw-rw-rw- 0\/0 +1,3 /);
    expect(lines.some((l) => l.includes("/etc/shadow"))).toBe(false);
    const etc = await cli("ls-files", `oci:${layout}:multi`, "/etc", "--max-depth", "1");
    expect(etc.out.split("\n").map((l) => l.split(" ").pop())).toEqual(["/etc/conf.d", "/etc/passwd"]);
    const one = await cli("ls-files", "--json", `oci:${layout}:multi`, "/opt/current");
    expect(JSON.parse(one.out)).toMatchObject({ path: "/opt/current", type: "symlink", linkname: "v2" });
    const after = fs.existsSync(path.join(work, "home", "snapshots", "snapshots"))
      ? fs.readdirSync(path.join(work, "home", "snapshots", "snapshots")).length
      : 0;
    expect(after).toBe(snapshotsBefore);
  });

  it("cat prints files (symlinks followed) from oci:, docker-archive: and the default store", async () => {
    const r = await cli("cat", `oci:${layout}:multi`, "/etc/passwd", "/opt/current/bin");
    expect(r.code, r.err).toBe(0);
    expect(r.bytes.toString()).toBe("root:x:0:0::/root:/bin/zsh\n#!/bin/sh\necho v2\n");
    const archive = path.join(work, "multi.docker.tar");
    await writeLocal(image, `docker-archive:${archive}:cairn-test/multi:1`);
    const d = await cli("cat", `docker-archive:${archive}`, "/data/file-to-link");
    expect(d.bytes.toString()).toContain("/bin/zsh");
    await writeLocal(image, "store:cairn-test/multi:1");
    const s = await cli("cat", "cairn-test/multi:1", "/lib/extra.so");
    expect(s.code, s.err).toBe(0);
    expect(s.bytes.toString()).toBe("extra\n");
    const missing = await cli("cat", `oci:${layout}:multi`, "/etc/shadow");
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("E_NOT_FOUND");
  });

  it("cat writes raw bytes to stdout as a real process", () => {
    const out = execFileSync(
      process.execPath,
      ["--import", "tsx", "src/cli/main.ts", "cat", `oci:${layout}:multi`, "/usr/bin/tool"],
      { cwd: repoRoot, env: { ...process.env, CAIRN_HOME: path.join(work, "home") } },
    );
    expect(out.toString()).toBe("tool binary\n");
  });

  it("every command has help", async () => {
    for (const c of ["unpack", "export", "flatten", "ls-files", "cat"]) {
      const r = await cli(c, "--help");
      expect(r.out).toContain(`Usage: cairn ${c}`);
    }
    expect((await cli("--help")).out).toContain("ls-files");
  });
});
