/**
 * diffTrees and fromOverlayUpper: the layer they produce, applied over the lower tree, must
 * give exactly the upper (or merged overlay) tree.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { applyLayer, createLayer, diffTrees, fromOverlayUpper, type LayerEntry } from "../src/layer/index.js";
import { buildRichTree, hasCommand, isRoot, tempDir, treeMeta } from "./layer-fixtures.js";

let base: string;
beforeEach(() => {
  base = tempDir("cairn-diff-");
});
afterEach(() => {
  fs.rmSync(base, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<LayerEntry>): Promise<LayerEntry[]> {
  const out: LayerEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** Copies a tree with everything (cp -a). */
function copyTree(from: string, to: string): void {
  execFileSync("cp", ["-a", `${from}/.`, to]);
}

/** Applies `entries` (as a real gzip layer) over a copy of `lower` and returns the result's path. */
async function applyOverCopy(
  lower: string,
  entries: AsyncIterable<LayerEntry>,
  name: string,
): Promise<string> {
  const layer = await createLayer(entries);
  const out = path.join(base, name);
  fs.mkdirSync(out);
  copyTree(lower, out);
  await applyLayer(fs.createReadStream(layer.path as string), out);
  fs.rmSync(layer.path as string);
  return out;
}

function write(p: string, data: string, mtime = 1_600_000_000): void {
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, data);
  fs.utimesSync(p, mtime, mtime);
}

describe("diffTrees", () => {
  let lower: string;
  let upper: string;
  beforeEach(() => {
    lower = path.join(base, "lower");
    upper = path.join(base, "upper");
    fs.mkdirSync(lower);
    buildRichTree(lower);
    write(path.join(lower, "app/config"), "v1");
    write(path.join(lower, "app/data/one"), "1");
    write(path.join(lower, "app/data/two"), "2");
    write(path.join(lower, "app/keep"), "k");
    write(path.join(lower, "cache/x"), "x");
    write(path.join(lower, "cache/y"), "y");
    write(path.join(lower, "same-size"), "aaaa");
    fs.mkdirSync(upper);
    copyTree(lower, upper);
  });

  it("no change gives no entries", async () => {
    expect(await collect(diffTrees(lower, upper))).toEqual([]);
  });

  it("adds, changes, deletions, replacements and an opaque dir; lower + layer = upper", async () => {
    write(path.join(upper, "app/config"), "v2-longer");
    fs.rmSync(path.join(upper, "app/data/one"));
    write(path.join(upper, "app/new"), "new");
    fs.chmodSync(path.join(upper, "app/keep"), 0o600);
    fs.rmSync(path.join(upper, "cache"), { recursive: true });
    write(path.join(upper, "cache/z"), "z"); // every old child gone: opaque
    fs.rmSync(path.join(upper, "etc/hostname"));
    fs.mkdirSync(path.join(upper, "etc/hostname")); // file -> dir
    fs.rmSync(path.join(upper, "usr/bin"), { recursive: true });
    write(path.join(upper, "usr/bin"), "now a file"); // dir -> file
    fs.rmSync(path.join(upper, "bin"));
    fs.symlinkSync("usr/sbin", path.join(upper, "bin")); // symlink target changed
    fs.utimesSync(path.join(upper, "app/keep"), 1_700_000_000, 1_700_000_000);
    if (isRoot) fs.chownSync(path.join(upper, "empty"), 77, 88);
    const entries = await collect(diffTrees(lower, upper));
    const names = entries.map((e) => `${e.type} ${e.path}`);
    expect(names).toContain("file app/.wh.one".replace("app/", "app/data/"));
    expect(names).toContain("file cache/.wh..wh..opq");
    expect(names).not.toContain("file cache/.wh.x");
    expect(names).not.toContain("file same-size");
    expect(names).toContain("directory app"); // parent of changes comes first
    expect(names.indexOf("directory app")).toBeLessThan(names.indexOf("file app/config"));
    const out = await applyOverCopy(lower, diffTrees(lower, upper), "result");
    expect(treeMeta(out, { dirMtimes: false })).toEqual(treeMeta(upper, { dirMtimes: false }));
  });

  it("content compared only on request when size and times match", async () => {
    write(path.join(upper, "same-size"), "bbbb");
    expect(await collect(diffTrees(lower, upper))).toEqual([]);
    const entries = await collect(diffTrees(lower, upper, { compareContent: true }));
    expect(entries.map((e) => e.path)).toEqual(["same-size"]);
  });

  it("opaque markers can be turned off", async () => {
    fs.rmSync(path.join(upper, "cache"), { recursive: true });
    fs.mkdirSync(path.join(upper, "cache"));
    const entries = await collect(diffTrees(lower, upper, { opaque: false }));
    expect(entries.map((e) => e.path).filter((p) => p.startsWith("cache/"))).toEqual([
      "cache/.wh.x",
      "cache/.wh.y",
    ]);
    const withOpaque = await collect(diffTrees(lower, upper));
    expect(withOpaque.map((e) => e.path).filter((p) => p.startsWith("cache/"))).toEqual([
      "cache/.wh..wh..opq",
    ]);
  });

  it("hardlinks among new files become hardlink entries", async () => {
    write(path.join(upper, "h/one"), "linked");
    fs.linkSync(path.join(upper, "h/one"), path.join(upper, "h/two"));
    const entries = await collect(diffTrees(lower, upper));
    expect(entries.find((e) => e.path === "h/two")).toMatchObject({ type: "hardlink", linkname: "h/one" });
    const out = await applyOverCopy(lower, diffTrees(lower, upper), "result");
    expect(fs.statSync(path.join(out, "h/two")).ino).toBe(fs.statSync(path.join(out, "h/one")).ino);
  });

  it.runIf(hasCommand("getfattr"))("xattr changes are seen and carried when asked", async () => {
    execFileSync("setfattr", ["-n", "user.tag", "-v", "blue", path.join(upper, "app/keep")]);
    expect(await collect(diffTrees(lower, upper))).toEqual([]);
    const entries = await collect(diffTrees(lower, upper, { xattrs: true }));
    expect(entries.map((e) => e.path)).toEqual(["app", "app/keep"]);
    expect(Buffer.from(entries[1]?.xattrs?.["user.tag"] ?? "").toString()).toBe("blue");
  });
});

/** Mounts overlayfs when the kernel and privileges allow it. */
function canMountOverlay(): boolean {
  if (!isRoot || !hasCommand("getfattr")) return false;
  const dir = tempDir("cairn-ovl-probe-");
  try {
    for (const d of ["l", "u", "w", "m"]) fs.mkdirSync(path.join(dir, d));
    execFileSync(
      "mount",
      ["-t", "overlay", "overlay", "-o", `lowerdir=${dir}/l,upperdir=${dir}/u,workdir=${dir}/w`, `${dir}/m`],
      {
        stdio: "ignore",
      },
    );
    execFileSync("umount", [`${dir}/m`]);
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe.runIf(canMountOverlay())("fromOverlayUpper (real overlayfs)", () => {
  it("converts deletions (0:0 char devices) and opaque dirs into an OCI layer equal to the merged view", async () => {
    const lower = path.join(base, "lower");
    const upper = path.join(base, "upper");
    const work = path.join(base, "work");
    const merged = path.join(base, "merged");
    for (const d of [lower, upper, work, merged]) fs.mkdirSync(d);
    buildRichTree(lower);
    write(path.join(lower, "var/lib/db/a"), "a");
    write(path.join(lower, "var/lib/db/b"), "b");
    write(path.join(lower, "var/log/old.log"), "log");
    write(path.join(lower, "etc/motd"), "hello");
    execFileSync("mount", [
      "-t",
      "overlay",
      "overlay",
      "-o",
      `lowerdir=${lower},upperdir=${upper},workdir=${work}`,
      merged,
    ]);
    let expected: Record<string, string>;
    try {
      fs.rmSync(path.join(merged, "var/log/old.log")); // whiteout
      fs.rmSync(path.join(merged, "var/lib/db"), { recursive: true }); // dir replaced: opaque
      fs.mkdirSync(path.join(merged, "var/lib/db"));
      write(path.join(merged, "var/lib/db/c"), "c");
      write(path.join(merged, "etc/motd"), "changed"); // copy-up
      fs.chmodSync(path.join(merged, "usr/bin/tool"), 0o755); // metadata-only change
      write(path.join(merged, "new/file"), "new");
      fs.rmSync(path.join(merged, "usr/dangling"));
      expected = treeMeta(merged, { dirMtimes: false });
    } finally {
      execFileSync("umount", [merged]);
    }
    expect(fs.lstatSync(path.join(upper, "var/log/old.log")).isCharacterDevice()).toBe(true);
    const entries = await collect(fromOverlayUpper(upper));
    const names = entries.map((e) => e.path);
    expect(names).toContain("var/log/.wh.old.log");
    expect(names).toContain("var/lib/db/.wh..wh..opq");
    expect(names).toContain("usr/.wh.dangling");
    for (const e of entries)
      for (const k of Object.keys(e.xattrs ?? {})) expect(k.startsWith("trusted.overlay.")).toBe(false);
    const out = await applyOverCopy(lower, fromOverlayUpper(upper), "result");
    // A copy-up breaks a lower hardlink, but the merged view still reports the lower inode's
    // link count for the other name: compare without link counts.
    const noLinks = (t: Record<string, string>) =>
      Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v.replace(/ links=\d+$/, "")]));
    expect(noLinks(treeMeta(out, { dirMtimes: false }))).toEqual(noLinks(expected));
  });

  it("refuses redirected directories", async () => {
    const upper = path.join(base, "upper");
    fs.mkdirSync(path.join(upper, "moved"), { recursive: true });
    execFileSync("setfattr", ["-n", "trusted.overlay.redirect", "-v", "/orig", path.join(upper, "moved")]);
    const err = await collect(fromOverlayUpper(upper)).catch((e: unknown) => e);
    expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
  });
});
