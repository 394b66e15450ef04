/**
 * Helpers for the unionfs tests: images built from entry arrays, umoci's unpack as the
 * reference, and comparable descriptions of a directory tree or a union view.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  appendLayers,
  emptyImage,
  type Image,
  isImageIndex,
  layerFromCreated,
  openLocal,
  writeLocal,
} from "../../src/image/index.js";
import { compareNames, createLayer, type LayerEntry } from "../../src/layer/index.js";
import type { UnionView } from "../../src/unionfs/index.js";
import { repoRoot } from "./conformance.js";
import { type Child, spawnTsChild } from "./content-spawn.js";
import { requireTool } from "./tools.js";

/** A fresh temporary directory. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Shorthands for layer entries. */
export const dir = (p: string, mode = 0o755, uid = 0, gid = 0): LayerEntry => ({
  path: p,
  type: "directory",
  mode,
  uid,
  gid,
  mtime: 1_600_000_000,
});
export const file = (p: string, content: string, mode = 0o644, uid = 0, gid = 0): LayerEntry => ({
  path: p,
  type: "file",
  content,
  mode,
  uid,
  gid,
  mtime: 1_600_000_000,
});
export const link = (p: string, target: string): LayerEntry => ({
  path: p,
  type: "symlink",
  linkname: target,
  mtime: 1_600_000_000,
});
export const hard = (p: string, target: string): LayerEntry => ({
  path: p,
  type: "hardlink",
  linkname: target,
  mtime: 1_600_000_000,
});

/**
 * Writes an image made of `layers` (each an entry array, or entries in the given order when
 * `ordered`) to the OCI layout `layout` under `tag`, and opens it back.
 */
export async function buildImage(
  layout: string,
  tag: string,
  layers: (LayerEntry[] | { ordered: LayerEntry[] })[],
  base?: Image,
): Promise<Image> {
  const created = [];
  for (const entries of layers) {
    const source = Array.isArray(entries) ? entries : (entries.ordered as Iterable<LayerEntry>);
    const c = await createLayer(source, { tmpDir: os.tmpdir(), sourceDateEpoch: 1_600_000_000 });
    created.push(c);
  }
  const image = await appendLayers(base ?? emptyImage(), ...created.map((c) => layerFromCreated(c)));
  await writeLocal(image, `oci:${layout}:${tag}`);
  for (const c of created) if (c.path) fs.rmSync(c.path, { force: true });
  return openImage(`oci:${layout}:${tag}`);
}

/** Opens a local image location that must be a single image. */
export async function openImage(spec: string): Promise<Image> {
  const x = await openLocal(spec);
  if (isImageIndex(x)) throw new Error(`${spec} is an index`);
  return x;
}

/** `umoci unpack` of `layout:tag` into `bundle`; returns the rootfs path. */
export function umociUnpack(layout: string, tag: string, bundle: string): string {
  requireTool("umoci");
  execFileSync("umoci", ["unpack", "--image", `${layout}:${tag}`, bundle], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return path.join(bundle, "rootfs");
}

function sha(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex").slice(0, 16);
}

/**
 * Every path under `root` (not the root) described by type, mode, owner, link target, device
 * numbers and content hash; later names of a hardlinked file say which name they share.
 */
export function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const inodes = new Map<number, string>();
  const visit = (rel: string) => {
    const abs = rel ? path.join(root, rel) : root;
    const names = fs.readdirSync(abs).sort(compareNames);
    for (const name of names) {
      const child = rel ? `${rel}/${name}` : name;
      const p = path.join(root, child);
      const st = fs.lstatSync(p);
      const perm = (st.mode & 0o7777).toString(8);
      const owner = `${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        out.set(child, `dir ${perm} ${owner}`);
        visit(child);
      } else if (st.isSymbolicLink()) {
        out.set(child, `symlink ${owner} -> ${fs.readlinkSync(p)}`);
      } else if (st.isFile()) {
        const first = st.nlink > 1 ? inodes.get(st.ino) : undefined;
        if (st.nlink > 1 && first === undefined) inodes.set(st.ino, child);
        out.set(
          child,
          `file ${perm} ${owner} ${st.size} ${sha(fs.readFileSync(p))}${first ? ` =${first}` : ""}`,
        );
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        out.set(child, `${st.isCharacterDevice() ? "char" : "block"} ${perm} ${owner} ${st.rdev}`);
      } else if (st.isFIFO()) {
        out.set(child, `fifo ${perm} ${owner}`);
      }
    }
  };
  visit("");
  return out;
}

/** The same description as {@link describeTree}, read through a union view. */
export async function describeView(view: UnionView): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const firsts = new Map<string, string>();
  for await (const st of view.walk("/")) {
    const rel = st.path.slice(1);
    const perm = st.mode.toString(8);
    const owner = `${st.uid}:${st.gid}`;
    switch (st.type) {
      case "directory":
        out.set(rel, `dir ${perm} ${owner}`);
        break;
      case "symlink":
        out.set(rel, `symlink ${owner} -> ${await view.readlink(st.path)}`);
        break;
      case "file": {
        const key = st.linkKey !== undefined ? `${st.layer}:${st.linkKey}` : undefined;
        const first = key ? firsts.get(key) : undefined;
        if (key && first === undefined) firsts.set(key, rel);
        out.set(
          rel,
          `file ${perm} ${owner} ${st.size} ${sha(await view.readFile(st.path))}${first ? ` =${first}` : ""}`,
        );
        break;
      }
      case "char-device":
      case "block-device": {
        const rdev = (st.devmajor << 8) | (st.devminor & 0xff) | ((st.devminor & ~0xff) << 12);
        out.set(rel, `${st.type === "char-device" ? "char" : "block"} ${perm} ${owner} ${rdev}`);
        break;
      }
      case "fifo":
        out.set(rel, `fifo ${perm} ${owner}`);
        break;
      default:
        break;
    }
  }
  return out;
}

/** The differences between two descriptions, for readable assertion failures. */
export function treeDiff(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(`${k}: ${v} | ${b.get(k) ?? "(missing)"}`);
  for (const [k, v] of b) if (!a.has(k)) out.push(`${k}: (missing) | ${v}`);
  return out;
}

/** A running union-child process, with its output lines as they arrive. */
export type UnionChild = Child;

/** Starts `node --import tsx test/helpers/union-child.ts …args`; `onLine` sees each stdout line. */
export function spawnUnionChild(
  args: string[],
  onLine?: (line: string, child: UnionChild) => void,
): UnionChild {
  return spawnTsChild(path.join(repoRoot, "test/helpers/union-child.ts"), args, onLine);
}
