/**
 * Turning what is on disk into {@link LayerEntry} values: sorted directory listings,
 * stat-to-entry conversion, hardlink detection, device numbers.
 */
import { createReadStream, type Stats } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import type { LayerEntry } from "./entry.js";
import { compareNames, decodeName, fsPath } from "./names.js";
import { isOverlayXattr, readTreeXattrs, type Xattrs } from "./xattr.js";

/** A non-fatal event while reading a tree. */
export interface TreeWarning {
  code: "socket-skipped" | "unsupported-file-type";
  path: string;
  message: string;
}

/**
 * The names in a directory, sorted by their bytes.
 *
 * @example
 * ```ts
 * await sortedNames("/etc") // ["adduser.conf", "alternatives", …]
 * ```
 */
export async function sortedNames(abs: string): Promise<string[]> {
  const names = await readdir(fsPath(abs), { encoding: "buffer" });
  return names.map((b) => decodeName(b)).sort(compareNames);
}

/**
 * The Linux major and minor numbers of a device's `rdev`.
 *
 * @example
 * ```ts
 * deviceNumbers((await lstat("/dev/null")).rdev) // { major: 1, minor: 3 }
 * ```
 */
export function deviceNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  const major = ((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn);
  const minor = (r & 0xffn) | ((r >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/**
 * Remembers the first path written for each multiply-linked inode, so that later names of
 * the same file become hardlink entries.
 *
 * @example
 * ```ts
 * const links = new HardlinkTracker(); links.claim(st, "usr/bin/perl") // undefined (first)
 * ```
 */
export class HardlinkTracker {
  private readonly first = new Map<string, string>();

  /** The earlier path of the same inode, or undefined (and `rel` becomes its first path). */
  claim(st: Stats, rel: string): string | undefined {
    if (st.isDirectory() || st.nlink < 2) return undefined;
    const key = `${st.dev}:${st.ino}`;
    const prior = this.first.get(key);
    if (prior !== undefined) return prior;
    this.first.set(key, rel);
    return undefined;
  }
}

/**
 * The xattrs worth carrying into a layer (overlayfs bookkeeping removed).
 *
 * @example
 * ```ts
 * layerXattrs({ "trusted.overlay.opaque": y, "user.a": v }) // { "user.a": v }
 * ```
 */
export function layerXattrs(all: Xattrs | undefined): Record<string, Uint8Array> | undefined {
  if (!all) return undefined;
  const out: Record<string, Uint8Array> = {};
  let any = false;
  for (const [k, v] of Object.entries(all)) {
    if (isOverlayXattr(k)) continue;
    out[k] = v;
    any = true;
  }
  return any ? out : undefined;
}

/** Context for {@link entryFromStat}. */
export interface EntryContext {
  links?: HardlinkTracker;
  xattrs?: Map<string, Xattrs>;
  onWarning?: (w: TreeWarning) => void;
}

/**
 * Describes the object at `abs` (already `lstat`ed) as a layer entry at `rel`, or undefined
 * for what tar cannot hold (sockets).
 *
 * @example
 * ```ts
 * const e = await entryFromStat("/src/a.txt", "a.txt", await lstat("/src/a.txt"), {})
 * ```
 */
export async function entryFromStat(
  abs: string,
  rel: string,
  st: Stats,
  ctx: EntryContext,
): Promise<LayerEntry | undefined> {
  const base: LayerEntry = {
    path: rel,
    type: "file",
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    mtime: st.mtimeMs / 1000,
  };
  const xattrs = layerXattrs(ctx.xattrs?.get(rel));
  if (xattrs) base.xattrs = xattrs;
  if (st.isDirectory()) return { ...base, type: "directory" };
  if (st.isSymbolicLink()) {
    return {
      ...base,
      type: "symlink",
      linkname: decodeName(await readlink(fsPath(abs), { encoding: "buffer" })),
    };
  }
  if (st.isFile()) {
    const prior = ctx.links?.claim(st, rel);
    if (prior !== undefined) return { ...base, type: "hardlink", linkname: prior };
    return { ...base, type: "file", size: st.size, content: () => createReadStream(fsPath(abs)) };
  }
  if (st.isCharacterDevice() || st.isBlockDevice()) {
    const { major, minor } = deviceNumbers(st.rdev);
    return {
      ...base,
      type: st.isCharacterDevice() ? "char-device" : "block-device",
      devmajor: major,
      devminor: minor,
    };
  }
  if (st.isFIFO()) return { ...base, type: "fifo" };
  ctx.onWarning?.({
    code: st.isSocket() ? "socket-skipped" : "unsupported-file-type",
    path: rel,
    message: `${rel}: ${st.isSocket() ? "sockets" : "this file type"} cannot be stored in a tar layer; skipped`,
  });
  return undefined;
}

/** Options for {@link walkTree}. */
export interface WalkOptions {
  /** Read xattrs with `getfattr` (default false). */
  xattrs?: boolean;
  onWarning?: (w: TreeWarning) => void;
}

/**
 * Every object under `root` (not `root` itself) as layer entries, depth first with siblings
 * sorted by name bytes; later names of a multiply-linked file become hardlinks.
 *
 * @example
 * ```ts
 * for await (const e of walkTree("./rootfs")) console.log(e.type, e.path)
 * ```
 */
export async function* walkTree(root: string, options: WalkOptions = {}): AsyncGenerator<LayerEntry> {
  const ctx: EntryContext = { links: new HardlinkTracker() };
  if (options.onWarning) ctx.onWarning = options.onWarning;
  if (options.xattrs) {
    ctx.xattrs = await readTreeXattrs(root);
  }
  yield* walkDir(root.replace(/\/+$/, "") || "/", "", ctx);
}

async function* walkDir(root: string, rel: string, ctx: EntryContext): AsyncGenerator<LayerEntry> {
  const abs = rel ? `${root}/${rel}` : root;
  for (const name of await sortedNames(abs)) {
    const childRel = rel ? `${rel}/${name}` : name;
    const childAbs = `${root}/${childRel}`;
    const st = await lstat(fsPath(childAbs));
    const entry = await entryFromStat(childAbs, childRel, st, ctx);
    if (!entry) continue;
    yield entry;
    if (st.isDirectory()) yield* walkDir(root, childRel, ctx);
  }
}
