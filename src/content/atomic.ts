import * as fsp from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { digestBytes } from "../digest/index.js";
import { errnoCode, ioError } from "./errors.js";

/** A short tag of this host's name, part of every temporary file name (hostnames may hold any byte). */
export const HOST_TAG = digestBytes(hostname()).slice("sha256:".length, "sha256:".length + 8);

// Temporary files this process is writing right now; gc never removes these.
const activeTempFiles = new Set<string>();

const TEMP_NAME = /^([a-z]+)-(\d+)-([0-9a-f]{8})-[0-9a-f]+\.tmp$/;

function randomHex(bytes: number): string {
  const buf = new Uint8Array(bytes);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A fresh, unique temporary file path in `tmpDir`: `<kind>-<pid>-<hosttag>-<random>.tmp`, so that a
 * later gc can tell whether its writer is still alive.
 *
 * @example
 * ```ts
 * tempFilePath("/layout/.cairn-tmp", "blob") // "/layout/.cairn-tmp/blob-4242-1a2b3c4d-9f…​.tmp"
 * ```
 */
export function tempFilePath(tmpDir: string, kind: string): string {
  return path.join(tmpDir, `${kind}-${process.pid}-${HOST_TAG}-${randomHex(8)}.tmp`);
}

/**
 * Marks a temporary file as being written by this process (so gc leaves it alone); returns the
 * function that unmarks it.
 *
 * @example
 * ```ts
 * const done = trackTempFile(tmp); try { ... } finally { done() }
 * ```
 */
export function trackTempFile(file: string): () => void {
  activeTempFiles.add(file);
  return () => {
    activeTempFiles.delete(file);
  };
}

/**
 * Flushes a directory's entries to disk, so a rename into it survives a power loss. Platforms that
 * cannot fsync a directory are tolerated.
 *
 * @example
 * ```ts
 * await fsp.rename(tmp, target); await fsyncDir(path.dirname(target));
 * ```
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, "r");
    await fh.sync();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== "EISDIR" && code !== "EINVAL" && code !== "EPERM" && code !== "EBADF") {
      throw ioError(err, "fsync of directory", dir);
    }
  } finally {
    await fh?.close();
  }
}

/**
 * Removes a file, ignoring one that is already gone (and any other failure: gc retries later).
 *
 * @example
 * ```ts
 * await removeQuietly(tmp)
 * ```
 */
export async function removeQuietly(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch {
    // already gone, or nothing more we can do; gc retries stale temporaries later
  }
}

/**
 * Writes `bytes` to `target` atomically: a temporary file in `tmpDir` (same file system), fsync,
 * rename over the target, fsync of the target's directory. Readers see the old or the new file,
 * never a mix; a crash leaves at most a temporary file behind.
 *
 * @example
 * ```ts
 * await writeFileAtomic("/layout/index.json", bytes, "/layout/.cairn-tmp")
 * ```
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array, tmpDir: string): Promise<void> {
  await fsp.mkdir(tmpDir, { recursive: true }).catch((err: unknown) => {
    throw ioError(err, "creating the temporary directory", tmpDir);
  });
  const tmp = tempFilePath(tmpDir, path.basename(target).replace(/[^a-z]/g, "") || "file");
  const untrack = trackTempFile(tmp);
  try {
    const previous = await fsp.stat(target).catch(() => undefined);
    const fh = await fsp.open(tmp, "wx");
    try {
      // Keep the permissions of the file being replaced (umoci writes index.json 0600).
      if (previous) await fh.chmod(previous.mode & 0o7777);
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (err) {
    await removeQuietly(tmp);
    throw ioError(err, "atomic write", target);
  } finally {
    untrack();
  }
  await fsyncDir(path.dirname(target));
}

/** Options for {@link removeStaleTempFiles}. */
export interface StaleTempOptions {
  /** Any temporary file not modified for this long is stale, whoever wrote it (default 24 h). */
  maxAgeMs?: number;
  /** The clock, for tests. */
  now?: number;
}

/**
 * True when a process with this id exists on this host (EPERM means it exists but is not ours).
 *
 * @example
 * ```ts
 * processAlive(process.pid) // true
 * ```
 */
export function processAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === "EPERM";
  }
}

/**
 * True when a temporary file can be removed: its writer, named in the file name, is dead on this
 * host; or this process wrote it and is no longer writing it; or it has not changed for
 * `maxAgeMs` (writers on other hosts, names cairn did not make).
 *
 * @example
 * ```ts
 * isStaleTempFile("/layout/.cairn-tmp/blob-999999-1a2b3c4d-00.tmp", Date.now() - 5000)
 * ```
 */
export function isStaleTempFile(file: string, mtimeMs: number, options: StaleTempOptions = {}): boolean {
  if (activeTempFiles.has(file)) return false;
  const now = options.now ?? Date.now();
  if (now - mtimeMs > (options.maxAgeMs ?? 24 * 60 * 60 * 1000)) return true;
  const m = TEMP_NAME.exec(path.basename(file));
  if (!m || m[3] !== HOST_TAG) return false;
  const pid = Number(m[2]);
  if (pid === process.pid) return true;
  return !processAlive(pid);
}

/**
 * Removes the stale temporary files of `tmpDir` (see {@link isStaleTempFile}); returns how many.
 *
 * @example
 * ```ts
 * const removed = await removeStaleTempFiles("/layout/.cairn-tmp")
 * ```
 */
export async function removeStaleTempFiles(tmpDir: string, options: StaleTempOptions = {}): Promise<number> {
  let names: string[];
  try {
    names = await fsp.readdir(tmpDir);
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return 0;
    throw ioError(err, "listing temporary files", tmpDir);
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(tmpDir, name);
    let st: Awaited<ReturnType<typeof fsp.lstat>>;
    try {
      st = await fsp.lstat(file);
    } catch {
      continue;
    }
    if (st.isDirectory() || !isStaleTempFile(file, st.mtimeMs, options)) continue;
    try {
      await fsp.unlink(file);
      removed++;
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw ioError(err, "removing a temporary file", file);
    }
  }
  return removed;
}
