/**
 * The read-only file tree interface COPY and ADD read from and resolve destinations in: the
 * build context, a stage's or image's root filesystem, or heredoc files. Paths are relative,
 * `/`-separated, without a leading slash; "" is the root.
 */
import type { ContentSource } from "../layer/index.js";

/** What a tree holds at one path (like `lstat`). */
export interface TreeNode {
  type: "file" | "directory" | "symlink" | "char-device" | "block-device" | "fifo";
  /** Permission bits, including setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Uint8Array>;
  /**
   * The identity of the file's inode, when the tree knows it: regular files of one tree with the
   * same key are hardlinks of one file (a copy keeps them linked, as BuildKit's copy does).
   */
  linkKey?: string;
}

/** A file tree to read from. */
export interface SourceTree {
  /** A name for messages (`build context`, `stage build`, …). */
  readonly name: string;
  /** What is at `rel`, not following a final symlink. */
  lstat(rel: string): TreeNode | undefined;
  /** The names in directory `rel`, sorted by their bytes. */
  list(rel: string): string[];
  /** The bytes of the file at `rel`. */
  content(rel: string): ContentSource;
}

/** Splits a relative path into its elements ("" gives none). *
 * @example
 * ```ts
 * pathParts("/usr//bin/./sh") // ["usr", "bin", "sh"]
 * ```
 */
export function pathParts(rel: string): string[] {
  return rel.split("/").filter((p) => p !== "" && p !== ".");
}

/** Joins path elements into a relative path. *
 * @example
 * ```ts
 * joinRel("/app/", "src") // "app/src"
 * ```
 */
export function joinRel(...parts: string[]): string {
  return parts.flatMap((p) => pathParts(p)).join("/");
}

/** The parent of a relative path ("" for top-level names and the root). *
 * @example
 * ```ts
 * parentRel("usr/bin/sh") // "usr/bin"
 * ```
 */
export function parentRel(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

/** The last element of a relative path. *
 * @example
 * ```ts
 * baseName("usr/bin/sh") // "sh"
 * ```
 */
export function baseName(rel: string): string {
  return rel.slice(rel.lastIndexOf("/") + 1);
}

const MAX_LINKS = 255;

/**
 * Resolves `rel` inside the tree as the kernel would inside a chroot: symlinks in every element
 * (and the last one too when `followFinal`) are followed, `..` never climbs above the root.
 * Returns the resolved relative path (which may not exist).
 *
 * @example
 * ```ts
 * resolveInTree(tree, "usr/local/bin/app", true) // "usr/bin/app" when usr/local/bin -> ../bin
 * ```
 */
export function resolveInTree(tree: SourceTree, rel: string, followFinal: boolean): string {
  const pending = pathParts(rel);
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === "..") {
      done.pop();
      continue;
    }
    const candidate = [...done, part].join("/");
    const node = tree.lstat(candidate);
    const isLast = pending.length === 0;
    if (node?.type === "symlink" && (!isLast || followFinal)) {
      if (++links > MAX_LINKS) return candidate;
      const target = node.linkname ?? "";
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...target.split("/").filter((p) => p !== "" && p !== "."));
      continue;
    }
    done.push(part);
  }
  return done.join("/");
}
