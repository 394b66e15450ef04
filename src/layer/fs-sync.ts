/**
 * Synchronous file system calls used while applying a layer, taking names that may hold
 * escaped non-UTF-8 bytes (see `fsPath`). Applying is a strictly sequential walk over the
 * archive, and one synchronous call costs a few microseconds where the libuv round trip of
 * an async call costs tens: for layers of tens of thousands of small files this decides speed.
 */
import fs, { type Stats } from "node:fs";
import { decodeName, fsPath } from "./names.js";

/**
 * `lstat`, or undefined when nothing is there (ENOENT/ENOTDIR).
 *
 * @example
 * ```ts
 * if (!lstatOrUndefined("/rootfs/etc")) mkdirSync("/rootfs/etc", 0o755)
 * ```
 */
export function lstatOrUndefined(p: string): Stats | undefined {
  // ENOENT comes back as undefined without an exception: building one costs more than the lstat.
  try {
    return fs.lstatSync(fsPath(p), { throwIfNoEntry: false });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw e;
  }
}

/**
 * The target of a symlink, decoded byte-exact.
 *
 * @example
 * ```ts
 * readlinkName("/rootfs/bin") // "usr/bin"
 * ```
 */
export function readlinkName(p: string): string {
  return decodeName(fs.readlinkSync(fsPath(p), { encoding: "buffer" }));
}

/**
 * Names in a directory, decoded byte-exact (unsorted).
 *
 * @example
 * ```ts
 * readdirNames("/rootfs/etc") // ["passwd", "group", …]
 * ```
 */
export function readdirNames(p: string): string[] {
  return fs.readdirSync(fsPath(p), { encoding: "buffer" }).map((b) => decodeName(b));
}

/**
 * Removes a path: recursively for a directory (never following symlinks), else unlink.
 *
 * @example
 * ```ts
 * removePath("/rootfs/var/cache", true)
 * ```
 */
export function removePath(p: string, isDir: boolean): void {
  if (isDir) fs.rmSync(fsPath(p), { recursive: true, force: true });
  else fs.unlinkSync(fsPath(p));
}

/**
 * Creates one directory.
 *
 * @example
 * ```ts
 * mkdirSync("/rootfs/etc", 0o755)
 * ```
 */
export function mkdirSync(p: string, mode: number): void {
  fs.mkdirSync(fsPath(p), { mode });
}

/**
 * Creates a symlink at `p` holding `target` verbatim.
 *
 * @example
 * ```ts
 * symlinkSync("usr/bin", "/rootfs/bin")
 * ```
 */
export function symlinkSync(target: string, p: string): void {
  fs.symlinkSync(fsPath(target), fsPath(p));
}

/**
 * Creates a hardlink `p` to `existing` (a symlink is linked itself, not followed).
 *
 * @example
 * ```ts
 * linkSync("/rootfs/usr/bin/perl", "/rootfs/usr/bin/perl5.36")
 * ```
 */
export function linkSync(existing: string, p: string): void {
  fs.linkSync(fsPath(existing), fsPath(p));
}

/**
 * Changes the owner of `p` itself (not a symlink's target).
 *
 * @example
 * ```ts
 * lchownSync("/rootfs/home/user", 1000, 1000)
 * ```
 */
export function lchownSync(p: string, uid: number, gid: number): void {
  fs.lchownSync(fsPath(p), uid, gid);
}

/**
 * Sets the mode of `p` (callers pass paths known not to be symlinks).
 *
 * @example
 * ```ts
 * chmodSync("/rootfs/tmp", 0o1777)
 * ```
 */
export function chmodSync(p: string, mode: number): void {
  fs.chmodSync(fsPath(p), mode);
}

/**
 * Sets the times of `p` itself (not a symlink's target), in seconds.
 *
 * @example
 * ```ts
 * lutimesSync("/rootfs/bin", 1700000000, 1700000000)
 * ```
 */
export function lutimesSync(p: string, atime: number, mtime: number): void {
  fs.lutimesSync(fsPath(p), atime, mtime);
}

const CREATE_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/**
 * Creates a new file, mode 0600, and opens it for writing; fails if anything, even a dangling
 * symlink, is already at `p`.
 *
 * @example
 * ```ts
 * const fd = createExclusive("/rootfs/etc/passwd")
 * ```
 */
export function createExclusive(p: string): number {
  return fs.openSync(fsPath(p), CREATE_FLAGS, 0o600);
}

/**
 * Writes all of `data` at the current position, or at `position` when given.
 *
 * @example
 * ```ts
 * writeAll(fd, chunk); writeAll(fd, sparseData, 1 << 30)
 * ```
 */
export function writeAll(fd: number, data: Uint8Array, position?: number): void {
  let off = 0;
  while (off < data.length) {
    const n = fs.writeSync(fd, data, off, data.length - off, position === undefined ? null : position + off);
    off += n;
  }
}
