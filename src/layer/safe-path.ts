/**
 * Confining untrusted tar entry names to a root directory.
 *
 * Names are cleaned lexically first (`..` that would leave the root and absolute names are
 * refused, or clamped in `"clamp"` mode). Then every parent component is walked inside the
 * root with `lstat`, never letting the OS follow a symlink: a symlinked parent is resolved by
 * hand, relative to the root, and (in the default `"reject"` mode) refused when its target is
 * absolute or climbs above the root. The last component is never followed.
 *
 * The walk is path based (Node has no `openat`), so it assumes nothing else changes the tree
 * while a layer is applied: unpack into a private directory (a snapshot's temporary dir),
 * never into a tree a running container can write.
 */
import { realpath } from "node:fs/promises";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import { lstatOrUndefined, mkdirSync, readlinkName, removePath } from "./fs-sync.js";

/** How names that point outside the root are treated. */
export type UnsafePathPolicy = "reject" | "clamp";

/** How many symlinks one path may pass through before it counts as a loop (Linux's limit). */
export const MAX_SYMLINKS = 40;

/**
 * Builds the error for an entry whose path passes through more than {@link MAX_SYMLINKS} symlinks.
 *
 * @example
 * ```ts
 * if (++links > MAX_SYMLINKS) throw tooManySymlinks("a/b/c")
 * ```
 */
export function tooManySymlinks(entry: string): CairnError {
  return new CairnError(
    "E_LAYER_INVALID",
    `layer entry ${JSON.stringify(entry)}: too many levels of symbolic links`,
    { path: entry },
  );
}

/**
 * Builds the error for a hardlink entry whose target cannot be linked.
 *
 * @example
 * ```ts
 * throw invalidHardlink("bin/sh", "bin", "the target is a directory")
 * ```
 */
export function invalidHardlink(name: string, linkname: string, why: string): CairnError {
  return new CairnError(
    "E_LAYER_INVALID",
    `hardlink ${JSON.stringify(name)} -> ${JSON.stringify(linkname)}: ${why}`,
    { path: name },
  );
}

/**
 * Builds the error for an entry that would reach outside the root.
 *
 * @example
 * ```ts
 * throw unsafePath("../../etc/passwd", "it climbs above the root")
 * ```
 */
export function unsafePath(entry: string, why: string): CairnError {
  return new CairnError("E_LAYER_UNSAFE_PATH", `unsafe layer entry ${JSON.stringify(entry)}: ${why}`, {
    path: entry,
    details: { entry },
  });
}

/**
 * Cleans an untrusted entry name into path components inside the root ([] = the root).
 *
 * @example
 * ```ts
 * cleanName("./usr/bin/../lib/", "reject") // ["usr", "lib"]
 * cleanName("../../etc/passwd", "clamp")   // ["etc", "passwd"]
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH` in `"reject"` mode for absolute names and escaping `..`
 */
export function cleanName(name: string, policy: UnsafePathPolicy): string[] {
  // "/" alone names the root (umoci writes it for the root directory's attributes).
  if (name.startsWith("/") && policy === "reject" && !name.split("/").every((c) => c === "" || c === "."))
    throw unsafePath(name, "absolute names are not allowed in a layer");
  const parts: string[] = [];
  for (const c of name.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      if (parts.length === 0) {
        if (policy === "reject") throw unsafePath(name, '".." climbs above the root');
        continue;
      }
      parts.pop();
      continue;
    }
    parts.push(c);
  }
  return parts;
}

/** How {@link SafeRoot.resolveParent} treats what it meets on the way. */
export type ResolveMode =
  /** Create missing parents; replace a non-directory parent by a directory (umoci's choice). */
  | "create"
  /** Only look: a missing or non-directory parent gives undefined. */
  | "lookup"
  /** Only look, and give undefined at a symlinked parent too (whiteouts never act through links). */
  | "nofollow";

/** What happened on the way, for warnings. */
export interface ResolveEvents {
  onReplacedParent?(rel: string, entry: string): void;
  /** A directory of the lower layers was created here to hold a child (overlayfs' copy-up). */
  onCopyUpDir?(rel: string, lower: LowerEntry): void;
}

/** What the merged lower layers hold at a path (see {@link LowerLayers}). */
export interface LowerEntry {
  type: "directory" | "symlink" | "file" | "other";
  /** Permission bits including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
}

/**
 * A read-only view of the layers below the one being applied, when a layer is applied as a
 * diff (an overlayfs upper directory) rather than onto the merged tree: missing parents are
 * looked up there, so symlinked parents of lower layers are followed and copied-up
 * directories keep their attributes.
 *
 * @example
 * ```ts
 * const lower: LowerLayers = { lstat: (rel) => view.lowerEntry(rel), readlink: (rel) => view.readlinkSync(rel), hostPath: (rel) => view.hostPath(rel) };
 * ```
 */
export interface LowerLayers {
  /** The entry at `rel` in the merged lower layers (no symlink inside `rel` is followed). */
  lstat(rel: string): LowerEntry | undefined;
  /** The target of the symlink at `rel` in the merged lower layers. */
  readlink(rel: string): string;
  /** A file on disk holding the content of the non-directory at `rel`, for copying it up. */
  hostPath(rel: string): string | undefined;
  /** The other names under which the merged lower layers show the file at `rel` (hardlinks). */
  linkedNames?(rel: string): string[];
}

/**
 * A root directory plus the cache of parent directories already proven to be real
 * directories inside it.
 *
 * @example
 * ```ts
 * const root = new SafeRoot("/tmp/rootfs", "reject");
 * const parent = root.resolveParent(["usr", "bin", "sh"], "usr/bin/sh", "create");
 * ```
 */
export class SafeRoot {
  /** Relative paths ("" = root) known to be real directories reached without symlinks. */
  private readonly dirs = new Set<string>([""]);

  constructor(
    readonly root: string,
    readonly policy: UnsafePathPolicy,
    private readonly events: ResolveEvents = {},
    readonly lower?: LowerLayers,
  ) {}

  /** The absolute path of a relative one. */
  abs(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  /** True when `rel` is known to be a real directory inside the root. */
  isKnownDir(rel: string): boolean {
    return this.dirs.has(rel);
  }

  /** Records that `rel` is now a real directory. */
  markDir(rel: string): void {
    this.dirs.add(rel);
  }

  /** Forgets `rel` and, when it was a directory, everything under it. */
  forget(rel: string, wasDir: boolean): void {
    this.dirs.delete(rel);
    if (!wasDir) return;
    const prefix = `${rel}/`;
    for (const d of this.dirs) if (d.startsWith(prefix)) this.dirs.delete(d);
  }

  /**
   * Resolves the parent of `parts` to real directory components inside the root, following
   * symlinked parents by hand within the root. Returns undefined when `mode` forbids going on.
   */
  resolveParent(parts: readonly string[], entry: string, mode: ResolveMode): string[] | undefined {
    const queue = parts.slice(0, -1);
    const real: string[] = [];
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (real.length === 0) {
          if (this.policy === "reject")
            throw unsafePath(entry, "a symlink in its path climbs above the root");
          continue;
        }
        real.pop();
        continue;
      }
      real.push(c);
      const rel = real.join("/");
      if (this.dirs.has(rel)) continue;
      const abs = this.abs(rel);
      const st = lstatOrUndefined(abs);
      if (st === undefined) {
        const below = this.lower?.lstat(rel);
        if (below?.type !== "symlink") {
          if (mode === "create") {
            mkdirSync(abs, 0o755);
            this.dirs.add(rel);
            if (below?.type === "directory") this.events.onCopyUpDir?.(rel, below);
            else if (below) this.events.onReplacedParent?.(rel, entry);
            continue;
          }
          // Only in the lower layers: go on by name, without caching (nothing is here yet).
          if (below?.type === "directory") continue;
          return undefined;
        }
      }
      if (st?.isDirectory()) {
        this.dirs.add(rel);
        continue;
      }
      if (st === undefined || st.isSymbolicLink()) {
        if (mode === "nofollow") return undefined;
        if (++links > MAX_SYMLINKS) throw tooManySymlinks(entry);
        const target = st === undefined ? (this.lower as LowerLayers).readlink(rel) : readlinkName(abs);
        real.pop();
        if (target.startsWith("/")) {
          if (this.policy === "reject") {
            throw unsafePath(
              entry,
              `its parent ${JSON.stringify(rel)} is a symlink to the absolute path ${JSON.stringify(target)}`,
            );
          }
          real.length = 0;
        }
        queue.unshift(...target.split("/"));
        continue;
      }
      if (mode !== "create") return undefined;
      removePath(abs, false);
      mkdirSync(abs, 0o755);
      this.dirs.add(rel);
      this.events.onReplacedParent?.(rel, entry);
    }
    return real;
  }
}

/**
 * The absolute, resolved form of a directory that will be a root (symlinks in the root's own
 * path are the caller's choice and are followed once, here).
 *
 * @example
 * ```ts
 * const root = await realRoot("./rootfs")
 * ```
 */
export async function realRoot(dir: string): Promise<string> {
  try {
    return await realpath(path.resolve(dir));
  } catch (e) {
    throw new CairnError("E_IO", `cannot open layer target directory ${dir}: ${(e as Error).message}`, {
      path: dir,
      cause: e,
    });
  }
}
