/**
 * The layer that turns one tree into another: adds and changes as entries, deletions as
 * `.wh.` whiteouts, and an opaque marker where every lower child of a directory is gone.
 * Directories holding changes are written before their children (as Docker does), so
 * their attributes travel with the layer.
 */
import { createReadStream, type Stats } from "node:fs";
import { lstat, readlink } from "node:fs/promises";
import { childrenInTarOrder, type DirChild, type LayerEntry } from "./entry.js";
import { fsPath } from "./names.js";
import {
  type EntryContext,
  entryFromStat,
  HardlinkTracker,
  layerXattrs,
  sortedNames,
  type TreeWarning,
} from "./tree.js";
import { readTreeXattrs, type Xattrs } from "./xattr.js";

/** Options for {@link diffTrees}. */
export interface DiffTreesOptions {
  /**
   * Also compare the bytes of files whose size, times, mode and owner all match (default
   * false: like Docker, metadata decides).
   */
  compareContent?: boolean;
  /** Compare and carry xattrs (reads both trees with `getfattr`; default false). */
  xattrs?: boolean;
  /** Write an opaque marker instead of whiteouts when every lower child is gone (default true). */
  opaque?: boolean;
  onWarning?: (w: TreeWarning) => void;
}

type Kind = "dir" | "file" | "symlink" | "char" | "block" | "fifo" | "other";

function kindOf(st: Stats): Kind {
  if (st.isDirectory()) return "dir";
  if (st.isFile()) return "file";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char";
  if (st.isBlockDevice()) return "block";
  if (st.isFIFO()) return "fifo";
  return "other";
}

// Times from a tar extraction have no sub-second part: equal seconds with one side whole count as equal.
function sameTime(a: Stats, b: Stats): boolean {
  const as = Math.floor(a.mtimeMs / 1000);
  const bs = Math.floor(b.mtimeMs / 1000);
  if (as !== bs) return false;
  const af = a.mtimeMs - as * 1000;
  const bf = b.mtimeMs - bs * 1000;
  return af === bf || af === 0 || bf === 0;
}

function sameXattrs(a: Xattrs | undefined, b: Xattrs | undefined): boolean {
  const x = layerXattrs(a) ?? {};
  const y = layerXattrs(b) ?? {};
  const keys = Object.keys(x);
  if (keys.length !== Object.keys(y).length) return false;
  return keys.every((k) => {
    const v = y[k];
    return v !== undefined && Buffer.compare(Buffer.from(x[k] as Uint8Array), Buffer.from(v)) === 0;
  });
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const ia = createReadStream(fsPath(a))[Symbol.asyncIterator]();
  const ib = createReadStream(fsPath(b))[Symbol.asyncIterator]();
  let ba: Buffer = Buffer.alloc(0);
  let bb: Buffer = Buffer.alloc(0);
  try {
    for (;;) {
      if (ba.length === 0) {
        const n = await ia.next();
        ba = n.done ? Buffer.alloc(0) : (n.value as Buffer);
        if (n.done && bb.length === 0) return (await ib.next()).done === true;
      }
      if (bb.length === 0) {
        const n = await ib.next();
        if (n.done) return false;
        bb = n.value as Buffer;
      }
      if (ba.length === 0) return false;
      const k = Math.min(ba.length, bb.length);
      if (Buffer.compare(ba.subarray(0, k), bb.subarray(0, k)) !== 0) return false;
      ba = ba.subarray(k);
      bb = bb.subarray(k);
    }
  } finally {
    await ia.return?.();
    await ib.return?.();
  }
}

/**
 * The entries of the layer that turns `lower` into `upper`, in archive order. Pass them to
 * `createLayer` to get the blob.
 *
 * @example
 * ```ts
 * const layer = await createLayer(diffTrees("/snapshots/base", "/work/rootfs"), { sourceDateEpoch: 0 });
 * ```
 */
export async function* diffTrees(
  lower: string,
  upper: string,
  options: DiffTreesOptions = {},
): AsyncGenerator<LayerEntry> {
  const lowerRoot = lower.replace(/\/+$/, "") || "/";
  const upperRoot = upper.replace(/\/+$/, "") || "/";
  const ctx: EntryContext = { links: new HardlinkTracker() };
  if (options.onWarning) ctx.onWarning = options.onWarning;
  let lowerXattrs: Map<string, Xattrs> | undefined;
  if (options.xattrs) {
    ctx.xattrs = await readTreeXattrs(upperRoot);
    lowerXattrs = await readTreeXattrs(lowerRoot);
  }
  const join = (root: string, rel: string) => (rel ? `${root}/${rel}` : root);

  const changed = async (rel: string, l: Stats, u: Stats): Promise<boolean> => {
    const k = kindOf(u);
    if (k !== kindOf(l)) return true;
    if ((l.mode & 0o7777) !== (u.mode & 0o7777) || l.uid !== u.uid || l.gid !== u.gid) return true;
    if (options.xattrs && !sameXattrs(lowerXattrs?.get(rel), ctx.xattrs?.get(rel))) return true;
    if (k === "dir") return false;
    if (!sameTime(l, u)) return true;
    if (k === "symlink") {
      const [a, b] = await Promise.all([
        readlink(fsPath(join(lowerRoot, rel)), { encoding: "buffer" }),
        readlink(fsPath(join(upperRoot, rel)), { encoding: "buffer" }),
      ]);
      return Buffer.compare(a, b) !== 0;
    }
    if (k === "char" || k === "block") return l.rdev !== u.rdev;
    if (k === "file") {
      if (l.size !== u.size) return true;
      if (options.compareContent) return !(await sameContent(join(lowerRoot, rel), join(upperRoot, rel)));
    }
    return false;
  };

  async function* addTree(rel: string, st: Stats): AsyncGenerator<LayerEntry> {
    const entry = await entryFromStat(join(upperRoot, rel), rel, st, ctx);
    if (!entry) return;
    yield entry;
    if (!st.isDirectory()) return;
    for (const name of await sortedNames(join(upperRoot, rel))) {
      const child = `${rel}/${name}`;
      yield* addTree(child, await lstat(fsPath(join(upperRoot, child))));
    }
  }

  async function* diffDir(rel: string): AsyncGenerator<LayerEntry> {
    const lowerNames = await sortedNames(join(lowerRoot, rel));
    const upperNames = await sortedNames(join(upperRoot, rel));
    const inUpper = new Set(upperNames);
    const inLower = new Set(lowerNames);
    const gone = lowerNames.filter((n) => !inUpper.has(n));
    const opaque = options.opaque !== false && lowerNames.length > 1 && gone.length === lowerNames.length;
    const children: DirChild[] = upperNames.map((name) => ({ name, kind: "entry" }));
    if (opaque) children.push({ name: "", kind: "opaque" });
    else for (const name of gone) children.push({ name, kind: "whiteout" });
    yield* childrenInTarOrder(rel, children, async function* (child, childRel) {
      const u = await lstat(fsPath(join(upperRoot, childRel)));
      const l =
        inLower.has(child.name) && !opaque ? await lstat(fsPath(join(lowerRoot, childRel))) : undefined;
      if (!l || (u.isDirectory() && !l.isDirectory())) {
        yield* addTree(childRel, u);
      } else if (u.isDirectory()) {
        const sub = diffDir(childRel);
        const first = await sub.next();
        if (first.done && !(await changed(childRel, l, u))) return;
        const entry = await entryFromStat(join(upperRoot, childRel), childRel, u, ctx);
        if (entry) yield entry;
        if (!first.done) {
          yield first.value;
          yield* sub;
        }
      } else if (await changed(childRel, l, u)) {
        const entry = await entryFromStat(join(upperRoot, childRel), childRel, u, ctx);
        if (entry) yield entry;
      }
    });
  }

  yield* diffDir("");
}
