/**
 * The merge rules of a union filesystem, over any kind of layer content (snapshot directories
 * or indexed layer tars). They are overlayfs' rules, which are also what OCI whiteouts mean:
 *
 * - the topmost layer holding a path wins; a directory over directories merges their children;
 * - a non-directory, a whiteout, or an opaque directory hides everything below it at that path;
 * - a whiteout or opaque marker acts on lower layers only, never on its own layer.
 *
 * Lookups are synchronous: merging is a walk over many small metadata reads (see
 * layer/fs-sync.ts for why that is faster than libuv round trips).
 */
import { CairnError } from "../errors/index.js";
import type { LowerEntry, LowerLayers } from "../layer/index.js";
import { compareNames } from "../layer/index.js";
import { MAX_SYMLINKS } from "../layer/safe-path.js";

/** The kinds of file system objects a union view shows. */
export type NodeType = "file" | "directory" | "symlink" | "char-device" | "block-device" | "fifo" | "socket";

/** What a layer holds at one path (like `lstat`). */
export interface NodeInfo {
  type: NodeType;
  /** Permission bits, including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Content size of a file (0 for others). */
  size: number;
  /** Modification time in seconds since the epoch. */
  mtime: number;
  devmajor: number;
  devminor: number;
  /** Number of names of this file inside its layer. */
  nlink: number;
  /** Identifies the file among hardlinked names of one layer (undefined when not hardlinked). */
  linkKey?: string;
  /** A directory the layer holds only because a deeper entry needed it: its attributes come from below. */
  implicit?: boolean;
}

/** One layer as the merge sees it: its own entries plus its whiteouts and opaque directories. */
export interface LayerContent {
  /** A name for messages (a chain ID or a layer digest). */
  readonly name: string;
  /** What this layer alone holds at `rel` ("" is the root), or undefined. */
  stat(rel: string): NodeInfo | undefined;
  /** The names this layer holds in directory `rel` (markers excluded). */
  names(rel: string): string[];
  /** The target of the symlink at `rel`. */
  readlink(rel: string): string;
  /** True when this layer hides `rel` of the layers below. */
  isWhiteout(rel: string): boolean;
  /** True when this layer's directory `rel` hides the children the layers below have there. */
  isOpaque(rel: string): boolean;
  /** The bytes of the file at `rel`. */
  open(rel: string): Promise<AsyncIterable<Uint8Array>>;
  /** A file on disk holding the content of `rel`, when the layer lives on disk. */
  hostPath?(rel: string): string | undefined;
}

/** A merged entry: what is there and which layer (index, lowest first) provides it. */
export interface MergedNode {
  info: NodeInfo;
  /** The layer providing the entry (for a directory: the topmost one holding it). */
  layer: number;
}

function parentAndBase(rel: string): [string, string] {
  const i = rel.lastIndexOf("/");
  return i < 0 ? ["", rel] : [rel.slice(0, i), rel.slice(i + 1)];
}

/**
 * A fresh copy of the info an implied directory gets: root-owned, mode 0755, mtime 0.
 *
 * @example
 * ```ts
 * layer.set("etc", { info: defaultDirInfo() })
 * ```
 */
export function defaultDirInfo(): NodeInfo {
  return {
    type: "directory",
    mode: 0o755,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    devmajor: 0,
    devminor: 0,
    nlink: 1,
  };
}

/**
 * Cleans a path given to a view (`/etc/passwd`, `etc//passwd/`) into root-relative form;
 * `..` stops at the root, as in a chroot.
 *
 * @example
 * ```ts
 * viewPath("/usr/../etc/passwd") // "etc/passwd"
 * ```
 */
export function viewPath(p: string): string {
  const parts: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return parts.join("/");
}

/**
 * A stack of layers merged by overlayfs rules, with memoized directory lookups.
 *
 * @example
 * ```ts
 * const stack = new LayerStack([base, app]);
 * stack.readdir("etc"); stack.lookup("etc/passwd")?.info.size;
 * ```
 */
export class LayerStack {
  private readonly dirCache = new Map<string, number[] | null>();
  /** Per layer: hardlinked files' paths by link key, built when first needed. */
  private readonly linkIndex = new Map<number, Map<string, string[]>>();

  /** `layers` lowest first. */
  constructor(readonly layers: readonly LayerContent[]) {}

  private layer(i: number): LayerContent {
    return this.layers[i] as LayerContent;
  }

  /** The layers (top first) whose directory `rel` shows through, or undefined when `rel` is not a merged directory. */
  dirLayers(rel: string): number[] | undefined {
    const cached = this.dirCache.get(rel);
    if (cached !== undefined) return cached ?? undefined;
    const result = this.computeDirLayers(rel);
    this.dirCache.set(rel, result ?? null);
    return result;
  }

  private computeDirLayers(rel: string): number[] | undefined {
    const out: number[] = [];
    if (rel === "") {
      for (let i = this.layers.length - 1; i >= 0; i--) {
        out.push(i);
        if (this.layer(i).isOpaque("")) break;
      }
      return out;
    }
    const [parent] = parentAndBase(rel);
    const above = this.dirLayers(parent);
    if (!above) return undefined;
    for (const i of above) {
      const l = this.layer(i);
      const st = l.stat(rel);
      if (st) {
        if (st.type !== "directory") return out.length > 0 ? out : undefined;
        out.push(i);
        if (l.isOpaque(rel)) break;
      } else if (l.isWhiteout(rel)) {
        break;
      }
    }
    return out.length > 0 ? out : undefined;
  }

  /** The merged entry at `rel` without following symlinks (like `lstat`), or undefined. */
  lookup(rel: string): MergedNode | undefined {
    if (rel === "") return this.dirNode("", this.dirLayers("") ?? []);
    const [parent] = parentAndBase(rel);
    const above = this.dirLayers(parent);
    if (!above) return undefined;
    for (const i of above) {
      const l = this.layer(i);
      const st = l.stat(rel);
      if (st) {
        if (st.type !== "directory") return { info: st, layer: i };
        return this.dirNode(rel, this.dirLayers(rel) ?? [i]);
      }
      if (l.isWhiteout(rel)) return undefined;
    }
    return undefined;
  }

  /** A directory's attributes come from its topmost layer that states them. */
  private dirNode(rel: string, layers: number[]): MergedNode {
    const top = layers[0] ?? 0;
    let implicit: NodeInfo | undefined;
    for (const i of layers) {
      const st = this.layer(i).stat(rel);
      if (st && !st.implicit) return { info: st, layer: top };
      implicit ??= st;
    }
    return { info: implicit ?? defaultDirInfo(), layer: top };
  }

  /** The names in merged directory `rel`, sorted by bytes; undefined when it is not a directory. */
  readdir(rel: string): string[] | undefined {
    return this.children(rel)?.map(([name]) => name);
  }

  /** The entries of merged directory `rel`, sorted by name bytes; undefined when it is not a directory. */
  children(rel: string): [string, MergedNode][] | undefined {
    const layers = this.dirLayers(rel);
    if (!layers) return undefined;
    const names = new Set<string>();
    for (const i of layers) for (const name of this.layer(i).names(rel)) names.add(name);
    const out: [string, MergedNode][] = [];
    for (const name of [...names].sort(compareNames)) {
      const node = this.lookup(rel ? `${rel}/${name}` : name);
      if (node) out.push([name, node]);
    }
    return out;
  }

  /** The target of the merged symlink at `rel`. */
  readlink(rel: string): string {
    const node = this.lookup(rel);
    if (node?.info.type !== "symlink") {
      throw new CairnError(
        "E_NOT_FOUND",
        `${show(rel)} is ${node ? `a ${node.info.type}` : "not there"}, not a symlink`,
        {
          path: show(rel),
        },
      );
    }
    return this.layer(node.layer).readlink(rel);
  }

  /**
   * Resolves `path` inside the root, following symlinks (absolute ones from the root, `..`
   * stopping at the root, as in a chroot); the last component is followed when `followLast`.
   * Returns the real relative path and its entry, or undefined when something is missing.
   *
   * @throws CairnError `E_IO` (details.errno `ELOOP`) after 40 symlinks
   */
  resolve(path: string, followLast: boolean): { rel: string; node: MergedNode } | undefined {
    const queue = path.split("/");
    const real: string[] = [];
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        real.pop();
        continue;
      }
      real.push(c);
      const rel = real.join("/");
      const node = this.lookup(rel);
      if (!node) return undefined;
      const last = queue.every((q) => q === "" || q === ".");
      if (node.info.type === "symlink" && (!last || followLast)) {
        if (++links > MAX_SYMLINKS) {
          throw new CairnError("E_IO", `too many levels of symbolic links resolving ${show(path)}`, {
            path: show(path),
            details: { errno: "ELOOP" },
          });
        }
        const target = this.layer(node.layer).readlink(rel);
        real.pop();
        if (target.startsWith("/")) real.length = 0;
        queue.unshift(...target.split("/"));
        continue;
      }
      if (!last && node.info.type !== "directory") return undefined;
    }
    const rel = real.join("/");
    const node = this.lookup(rel);
    return node ? { rel, node } : undefined;
  }

  /**
   * The other merged paths of the file at `rel` (names of the same hardlinked file, from the
   * same layer, still visible).
   *
   * @example
   * ```ts
   * stack.linkedNames("usr/bin/perl") // ["usr/bin/perl5.36.0"]
   * ```
   */
  linkedNames(rel: string): string[] {
    const node = this.lookup(rel);
    const key = node?.info.linkKey;
    if (!node || key === undefined) return [];
    let index = this.linkIndex.get(node.layer);
    if (!index) {
      index = new Map();
      const layer = this.layer(node.layer);
      const walk = (dir: string, into: Map<string, string[]>) => {
        for (const name of layer.names(dir)) {
          const child = dir ? `${dir}/${name}` : name;
          const st = layer.stat(child);
          if (!st) continue;
          if (st.type === "directory") walk(child, into);
          else if (st.linkKey !== undefined) into.set(st.linkKey, [...(into.get(st.linkKey) ?? []), child]);
        }
      };
      walk("", index);
      this.linkIndex.set(node.layer, index);
    }
    return (index.get(key) ?? []).filter((p) => {
      if (p === rel) return false;
      const other = this.lookup(p);
      return other?.layer === node.layer && other.info.linkKey === key;
    });
  }

  /**
   * The stack as the lower layers of a layer being applied as a diff (see `applyLayer`'s
   * `diff` option).
   *
   * @example
   * ```ts
   * await applyLayer(blob, upper, { diff: { lower: stack.asLower() } })
   * ```
   */
  asLower(): LowerLayers {
    return {
      lstat: (rel) => {
        const node = this.lookup(rel);
        return node ? lowerEntry(node.info) : undefined;
      },
      readlink: (rel) => this.readlink(rel),
      hostPath: (rel) => {
        const node = this.lookup(rel);
        return node ? this.layer(node.layer).hostPath?.(rel) : undefined;
      },
      linkedNames: (rel) => this.linkedNames(rel),
    };
  }
}

function lowerEntry(info: NodeInfo): LowerEntry {
  const type =
    info.type === "directory" || info.type === "symlink" || info.type === "file" ? info.type : "other";
  return { type, mode: info.mode, uid: info.uid, gid: info.gid, mtime: info.mtime };
}

/**
 * A root-relative path as people read it.
 *
 * @example
 * ```ts
 * show("etc/passwd") // "/etc/passwd"
 * ```
 */
export function show(rel: string): string {
  return `/${rel}`;
}
