import * as fsp from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import { processAlive, tempFilePath, trackTempFile } from "./atomic.js";
import { abortedError, errnoCode, ioError, throwIfAborted } from "./errors.js";

/** Timing of a {@link acquireFileLock}. */
export interface LockOptions {
  /** Give up with `E_LOCKED` after waiting this long (default 30 s). */
  timeoutMs?: number;
  /**
   * A lock file not touched for this long is stale (default 30 s). The holder touches it every
   * `staleMs / 3`, so only a dead, frozen or unreachable holder's lock goes stale this way.
   */
  staleMs?: number;
  /**
   * Where the lock file is staged before it is linked into place (same file system as the lock;
   * default: next to it). A layout stages in its temporary directory, which gc sweeps.
   */
  stagingDir?: string;
  signal?: AbortSignal;
}

/** What a lock file holds: who took it, and when. */
export interface LockInfo {
  pid: number;
  hostname: string;
  createdAt: string;
  /** Unique per acquisition, so a holder releases only its own lock. */
  token: string;
}

/** A lock this process holds; release it exactly once. */
export interface FileLock {
  readonly path: string;
  readonly info: LockInfo;
  release(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STALE_MS = 30_000;
const MAX_BACKOFF_MS = 250;
const MAX_LOCK_FILE_BYTES = 4096;

// Tokens of the locks this process holds: a lock naming our own pid but an unknown token was left
// by an earlier process that had the same pid (pid 1 in containers).
const heldTokens = new Set<string>();

interface Holder {
  info: LockInfo | undefined;
  raw: string;
  mtimeMs: number;
}

function randomToken(): string {
  const buf = new Uint8Array(12);
  crypto.getRandomValues(buf);
  return Array.from(buf, (b) => b.toString(16).padStart(2, "0")).join("");
}

function parseLockInfo(raw: string): LockInfo | undefined {
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v !== "object" || v === null) return undefined;
    const o = v as Record<string, unknown>;
    if (
      typeof o.pid === "number" &&
      typeof o.hostname === "string" &&
      typeof o.createdAt === "string" &&
      typeof o.token === "string"
    ) {
      return { pid: o.pid, hostname: o.hostname, createdAt: o.createdAt, token: o.token };
    }
  } catch {
    // a lock file being written, or garbage: judged by its age alone
  }
  return undefined;
}

async function readHolder(lockPath: string): Promise<Holder | undefined> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(lockPath, "r");
    const st = await fh.stat();
    const buf = Buffer.alloc(Math.min(st.size, MAX_LOCK_FILE_BYTES));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const raw = buf.subarray(0, bytesRead).toString("utf8");
    return { info: parseLockInfo(raw), raw, mtimeMs: st.mtimeMs };
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw ioError(err, "reading a lock file", lockPath);
  } finally {
    await fh?.close();
  }
}

/**
 * True when a lock's holder is gone: the file was not touched for `staleMs`, or its holder is a
 * dead process on this host, or it names this process but not a lock this process holds.
 *
 * @example
 * ```ts
 * isStaleLock({ pid: 999999, hostname: os.hostname(), createdAt: "…", token: "…" }, Date.now())
 * ```
 */
export function isStaleLock(
  info: LockInfo | undefined,
  mtimeMs: number,
  staleMs = DEFAULT_STALE_MS,
  now = Date.now(),
): boolean {
  if (now - mtimeMs > staleMs) return true;
  if (!info || info.hostname !== hostname()) return false;
  if (info.pid === process.pid) return !heldTokens.has(info.token);
  return !processAlive(info.pid);
}

function sameHolder(a: Holder, b: Holder): boolean {
  return a.info && b.info ? a.info.token === b.info.token : a.raw === b.raw && a.mtimeMs === b.mtimeMs;
}

// Two waiters may both find the same lock stale; only one may remove it, and only if it is still
// the stale one (not a fresh lock a third process took meanwhile). `<lock>.break` serializes that.
async function breakStaleLock(lockPath: string, stale: Holder, staleMs: number): Promise<void> {
  const breakPath = `${lockPath}.break`;
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(breakPath, "wx");
  } catch (err) {
    if (errnoCode(err) !== "EEXIST") throw ioError(err, "breaking a stale lock", breakPath);
    // Someone else is breaking it; a break file left by a crashed breaker is removed once old.
    const st = await fsp.stat(breakPath).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > Math.min(staleMs, 10_000))
      await fsp.unlink(breakPath).catch(() => {});
    return;
  }
  try {
    const now = await readHolder(lockPath);
    if (now && sameHolder(now, stale)) {
      await fsp.unlink(lockPath).catch((err: unknown) => {
        if (errnoCode(err) !== "ENOENT") throw ioError(err, "removing a stale lock", lockPath);
      });
    }
  } finally {
    await fh.close();
    await fsp.unlink(breakPath).catch(() => {});
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError("waiting for a lock", signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

// The lock is written to a staging file and hard-linked into place, so it never exists without
// its holder's pid and token: a holder killed between an O_EXCL create and the write would leave
// an empty lock that only its age could break (30 s). File systems without hard links (or a
// staging directory on another one) get the O_EXCL create.
const NO_HARD_LINKS: ReadonlySet<string> = new Set([
  "EPERM",
  "ENOTSUP",
  "EOPNOTSUPP",
  "ENOSYS",
  "EMLINK",
  "EXDEV",
]);

async function stage(staged: string, info: LockInfo): Promise<void> {
  const text = JSON.stringify(info);
  try {
    await fsp.writeFile(staged, text, { flag: "wx" });
  } catch (err) {
    if (errnoCode(err) !== "ENOENT") throw err;
    await fsp.mkdir(path.dirname(staged), { recursive: true });
    await fsp.writeFile(staged, text, { flag: "wx" });
  }
}

async function tryCreate(lockPath: string, info: LockInfo, stagingDir: string | undefined): Promise<boolean> {
  const staged = stagingDir ? tempFilePath(stagingDir, "lock") : `${lockPath}.${info.token}.tmp`;
  const untrack = trackTempFile(staged);
  try {
    await stage(staged, info);
  } catch (err) {
    untrack();
    await fsp.unlink(staged).catch(() => {});
    throw ioError(err, "writing a lock file", staged);
  }
  try {
    await fsp.link(staged, lockPath);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === "EEXIST") return false;
    if (code !== undefined && NO_HARD_LINKS.has(code)) return createInPlace(lockPath, info);
    throw ioError(err, "creating a lock file", lockPath);
  } finally {
    await fsp.unlink(staged).catch(() => {});
    untrack();
  }
}

async function createInPlace(lockPath: string, info: LockInfo): Promise<boolean> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(lockPath, "wx");
  } catch (err) {
    if (errnoCode(err) === "EEXIST") return false;
    throw ioError(err, "creating a lock file", lockPath);
  }
  try {
    await fh.writeFile(JSON.stringify(info));
  } catch (err) {
    await fh.close().catch(() => {});
    await fsp.unlink(lockPath).catch(() => {});
    throw ioError(err, "writing a lock file", lockPath);
  }
  await fh.close();
  return true;
}

/**
 * Takes an exclusive lock across processes and hosts: creates `lockPath` with `O_EXCL`, holding
 * pid, hostname, time and a token. A stale lock (see {@link isStaleLock}) is taken over; a live one
 * is waited for with jittered backoff until `timeoutMs`, then `E_LOCKED`.
 *
 * @example
 * ```ts
 * const lock = await acquireFileLock("/layout/index.json.lock");
 * try { await updateIndex() } finally { await lock.release() }
 * ```
 * @throws CairnError `E_LOCKED`, `E_ABORTED`, `E_IO`
 */
export async function acquireFileLock(lockPath: string, options: LockOptions = {}): Promise<FileLock> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const staleMs = options.staleMs ?? DEFAULT_STALE_MS;
  const deadline = Date.now() + timeoutMs;
  let backoff = 5;
  for (;;) {
    throwIfAborted(options.signal, "waiting for a lock");
    const info: LockInfo = {
      pid: process.pid,
      hostname: hostname(),
      createdAt: new Date().toISOString(),
      token: randomToken(),
    };
    if (await tryCreate(lockPath, info, options.stagingDir)) return holdLock(lockPath, info, staleMs);
    const holder = await readHolder(lockPath);
    if (!holder) continue;
    if (isStaleLock(holder.info, holder.mtimeMs, staleMs)) {
      await breakStaleLock(lockPath, holder, staleMs);
      continue;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const who = holder.info
        ? `process ${holder.info.pid} on ${holder.info.hostname} since ${holder.info.createdAt}`
        : "an unknown holder";
      throw new CairnError(
        "E_LOCKED",
        `could not lock ${lockPath} within ${timeoutMs} ms: held by ${who}; if no such process is running, remove the file`,
        { path: lockPath, details: { holder: holder.info } },
      );
    }
    await sleep(Math.min(remaining, backoff * (0.5 + Math.random())), options.signal);
    backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
  }
}

function holdLock(lockPath: string, info: LockInfo, staleMs: number): FileLock {
  heldTokens.add(info.token);
  const heartbeat = setInterval(
    () => {
      const now = new Date();
      fsp.utimes(lockPath, now, now).catch(() => {});
    },
    Math.max(10, Math.floor(staleMs / 3)),
  );
  heartbeat.unref();
  let released = false;
  return {
    path: lockPath,
    info,
    async release() {
      if (released) return;
      released = true;
      clearInterval(heartbeat);
      try {
        const holder = await readHolder(lockPath);
        // If someone judged us stale and took over, the lock is theirs now: leave it.
        if (holder?.info?.token === info.token) {
          await fsp.unlink(lockPath).catch((err: unknown) => {
            if (errnoCode(err) !== "ENOENT") throw ioError(err, "releasing a lock", lockPath);
          });
        }
      } finally {
        heldTokens.delete(info.token);
      }
    },
  };
}

const queues = new Map<string, Promise<void>>();

/**
 * Runs `fn` after every earlier `serialize` call with the same key has finished, so writers in
 * one process queue up instead of contending for a file lock.
 *
 * @example
 * ```ts
 * await serialize("/layout/index.json.lock", () => updateIndex())
 * ```
 */
export async function serialize<T>(key: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => {
    done = resolve;
  });
  // The next caller waits for the previous one too, so aborting while queued never lets two run.
  const tail = previous.then(() => mine);
  queues.set(key, tail);
  try {
    if (signal) {
      throwIfAborted(signal, "waiting for a lock");
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(abortedError("waiting for a lock", signal));
        signal.addEventListener("abort", onAbort, { once: true });
      });
      try {
        await Promise.race([previous, aborted]);
      } finally {
        if (onAbort) signal.removeEventListener("abort", onAbort);
      }
    } else {
      await previous;
    }
    return await fn();
  } finally {
    done();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

/**
 * Runs `fn` holding both the in-process queue and the file lock at `lockPath`.
 *
 * @example
 * ```ts
 * await withFileLock("/layout/index.json.lock", async () => { … })
 * ```
 */
export function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: LockOptions = {},
): Promise<T> {
  return serialize(
    lockPath,
    async () => {
      const lock = await acquireFileLock(lockPath, options);
      try {
        return await fn();
      } finally {
        await lock.release();
      }
    },
    options.signal,
  );
}
