/**
 * Synchronous file system calls used while applying a layer, taking names that may hold
 * escaped non-UTF-8 bytes (see `fsPath`). Applying is a strictly sequential walk over the
 * archive, and one synchronous call costs a few microseconds where the libuv round trip of
 * an async call costs tens: for layers of tens of thousands of small files this decides speed.
 */
import fs, { type Stats } from "node:fs";
import { decodeName, fsPath } from "./names.js";

/** `lstat`, or undefined when nothing is there (ENOENT/ENOTDIR). */
export function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return fs.lstatSync(fsPath(p));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/** The target of a symlink, decoded byte-exact. */
export function readlinkName(p: string): string {
  return decodeName(fs.readlinkSync(fsPath(p), { encoding: "buffer" }));
}

/** Names in a directory, decoded byte-exact (unsorted). */
export function readdirNames(p: string): string[] {
  return fs.readdirSync(fsPath(p), { encoding: "buffer" }).map((b) => decodeName(b));
}

/** Removes a path: recursively for a directory (never following symlinks), else unlink. */
export function removePath(p: string, isDir: boolean): void {
  if (isDir) fs.rmSync(fsPath(p), { recursive: true, force: true });
  else fs.unlinkSync(fsPath(p));
}

export function mkdirSync(p: string, mode: number): void {
  fs.mkdirSync(fsPath(p), { mode });
}

export function symlinkSync(target: string, p: string): void {
  fs.symlinkSync(fsPath(target), fsPath(p));
}

export function linkSync(existing: string, p: string): void {
  fs.linkSync(fsPath(existing), fsPath(p));
}

export function lchownSync(p: string, uid: number, gid: number): void {
  fs.lchownSync(fsPath(p), uid, gid);
}

export function chmodSync(p: string, mode: number): void {
  fs.chmodSync(fsPath(p), mode);
}

export function lutimesSync(p: string, atime: number, mtime: number): void {
  fs.lutimesSync(fsPath(p), atime, mtime);
}

const CREATE_FLAGS =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

/** Creates a new file (fails if anything, even a dangling symlink, is at `p`). */
export function createExclusive(p: string): number {
  return fs.openSync(fsPath(p), CREATE_FLAGS, 0o600);
}

/** Writes all of `data` at the current position, or at `position` when given. */
export function writeAll(fd: number, data: Uint8Array, position?: number): void {
  let off = 0;
  while (off < data.length) {
    const n = fs.writeSync(fd, data, off, data.length - off, position === undefined ? null : position + off);
    off += n;
  }
}
