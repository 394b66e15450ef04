/**
 * File system calls on the hot path of applying a layer, shaped so that the common case costs
 * one system call and no JS exception: a create that finds something in the way is told apart
 * by its error code, and a file's content goes out in as few `writev` calls as its chunks allow.
 * (A missing path is `lstatOrUndefined` in fs-sync.ts.)
 */
import fs from "node:fs";

/** Linux's limit on buffers per `writev` call. */
const IOV_MAX = 1024;

/**
 * True for the error a create call (`open` with `O_EXCL`, `mkdir`, `symlink`, `link`) gives
 * when something is already at the path.
 *
 * @example
 * ```ts
 * try { fs.symlinkSync("t", p) } catch (e) { if (!isExistsError(e)) throw e }
 * ```
 */
export function isExistsError(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === "EEXIST";
}

/**
 * Writes every chunk, in order, at the file position of `fd`; partial writes are resumed.
 *
 * @example
 * ```ts
 * writeChunks(fd, [header, body, trailer])
 * ```
 */
export function writeChunks(fd: number, chunks: readonly Uint8Array[]): void {
  let list = chunks.filter((c) => c.length > 0);
  while (list.length > 0) {
    let n = fs.writevSync(fd, list.length > IOV_MAX ? list.slice(0, IOV_MAX) : list);
    let i = 0;
    for (; i < list.length; i++) {
      const len = (list[i] as Uint8Array).length;
      if (n < len) break;
      n -= len;
    }
    list = list.slice(i);
    const first = list[0];
    if (first !== undefined && n > 0) list[0] = first.subarray(n);
  }
}
