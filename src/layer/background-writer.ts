/**
 * Creating a layer's small regular files on worker threads. Unpacking is bounded by the
 * kernel creating inodes (hundreds of microseconds each on some file systems: ext4 without a
 * journal skips every recently deleted inode one by one), and a synchronous create blocks the
 * main thread, which also decompresses, hashes and parses the tar. Handing the creates to
 * workers lets all of it run at once.
 *
 * A worker only ever creates new files: `open(O_CREAT|O_EXCL|O_NOFOLLOW)`, write, `fchown`,
 * `fchmod`, `futimes`, `close`. Files of one directory go to the same worker (creates in a
 * directory serialize on its lock anyway). Choosing which files may go, and waiting for them
 * before anything looks at or removes their paths or parents, is the applier's job (apply.ts).
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { CairnError } from "../errors/index.js";
import { fsPath } from "./names.js";

/** Files larger than this are written by the caller itself (they would need big batches). */
export const BACKGROUND_MAX_FILE = 256 * 1024;
/** Content bytes per batch (one message, its buffer transferred, not copied). */
const BATCH_BYTES = 1024 * 1024;
/** Files per batch at most. */
const BATCH_FILES = 128;
/** A batch is sent early, while its worker has little to do, once it holds this many files. */
const MIN_BATCH_FILES = 16;
/** Batches sent but not yet done per worker, at most; `add` waits beyond (bounds memory). */
const MAX_IN_FLIGHT = 4;
/** Worker threads: more buys little, as the main thread and zlib need cores too. */
const THREADS = Math.max(1, Math.min(2, availableParallelism()));
/** Numbers per file in a batch's metadata: size, uid, gid (-1: no chown), mode, atime, mtime. */
const META = 6;

// CommonJS, evaluated in the worker; paths come as strings or byte arrays (non-UTF-8 names).
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const fs = require("node:fs");
const c = fs.constants;
const FLAGS = c.O_WRONLY | c.O_CREAT | c.O_EXCL | c.O_NOFOLLOW;
parentPort.on("message", (b) => {
  const data = new Uint8Array(b.data);
  const m = new Float64Array(b.meta);
  let i = 0;
  let off = 0;
  try {
    for (; i < b.paths.length; i++) {
      const raw = b.paths[i];
      const p = typeof raw === "string" ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      const k = i * ${META};
      const size = m[k];
      const fd = fs.openSync(p, FLAGS, 0o600);
      try {
        let w = 0;
        while (w < size) w += fs.writeSync(fd, data, off + w, size - w, null);
        if (m[k + 1] >= 0) fs.fchownSync(fd, m[k + 1], m[k + 2]);
        fs.fchmodSync(fd, m[k + 3]);
        fs.futimesSync(fd, m[k + 4], m[k + 5]);
      } finally {
        fs.closeSync(fd);
      }
      off += size;
    }
    parentPort.postMessage({ id: b.id, data: b.data }, [b.data]);
  } catch (e) {
    const error = { index: i, code: e && e.code, message: String(e && e.message) };
    parentPort.postMessage({ id: b.id, data: b.data, ...error }, [b.data]);
  }
});
`;

interface Ack {
  id: number;
  /** The batch's content buffer, handed back for reuse. */
  data: ArrayBuffer;
  index?: number;
  code?: string;
  message?: string;
}

/** One worker thread, shared by every writer; unref'd while it has nothing to do. */
class WriterThread {
  private readonly worker: Worker;
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (a: Ack) => void; reject: (e: Error) => void }>();

  constructor(onGone: () => void) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    // An unref before the thread is online does not hold: repeat it then, unless work is waiting.
    this.worker.unref();
    this.worker.once("online", () => {
      if (this.waiting.size === 0) this.worker.unref();
    });
    this.worker.on("message", (a: Ack) => {
      const w = this.waiting.get(a.id);
      this.waiting.delete(a.id);
      if (this.waiting.size === 0) this.worker.unref();
      w?.resolve(a);
    });
    const fail = (e: Error) => {
      onGone();
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`the file writer thread exited (code ${code})`)));
  }

  send(paths: (string | Buffer)[], meta: Float64Array, data: ArrayBuffer): Promise<Ack> {
    const id = this.nextId++;
    return new Promise<Ack>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      const metaBuffer = meta.buffer as ArrayBuffer;
      this.worker.postMessage({ id, paths, meta: metaBuffer, data }, [metaBuffer, data]);
    });
  }
}

/** The process's worker threads, shared by every writer, started on first use. */
const threads: (WriterThread | undefined)[] = [];
let unavailable = false;

function writerThread(i: number): WriterThread | undefined {
  if (threads[i] || unavailable) return threads[i];
  try {
    const t: WriterThread = new WriterThread(() => {
      if (threads[i] === t) threads[i] = undefined;
    });
    threads[i] = t;
  } catch {
    // No worker threads here (a sandboxed runtime): callers write files themselves.
    unavailable = true;
  }
  return threads[i];
}

/** A file for {@link BackgroundWriter.add}: where, whose and which times; content separately. */
export interface BackgroundFile {
  /** Absolute path (names.ts escaping allowed). */
  path: string;
  /** The tar entry, for errors. */
  entry: string;
  /** Permission bits (with setuid/setgid/sticky), applied after the owner. */
  mode: number;
  /** Owner to set, or undefined to leave the creator's. */
  owner?: { uid: number; gid: number };
  /** Seconds. */
  atime: number;
  mtime: number;
}

/**
 * Queues new files for the worker threads in batches: one writer per layer application
 * (writers share the threads), used by one sequential caller.
 *
 * @example
 * ```ts
 * const w = BackgroundWriter.create();
 * if (w) {
 *   await w.add("etc/motd", { path: "/rootfs/etc/motd", entry: "etc/motd", mode: 0o644, atime: 0, mtime: 0 }, [data]);
 *   await w.flush();
 * }
 * ```
 */
export class BackgroundWriter {
  /** Paths (relative, as the caller names them) queued and not yet known to be written. */
  readonly pending = new Set<string>();
  /** The batch being filled for each worker. */
  private readonly batches: Batch[] = [];
  private readonly inFlight: Promise<void>[] = [];
  /**
   * Content buffers the workers handed back. Reusing them bounds memory: a buffer left to the
   * worker would live until its rare garbage collections (tens of MiB per worker).
   */
  private readonly spare: ArrayBuffer[] = [];
  private failure: CairnError | undefined;

  private constructor(private readonly action: string) {
    for (let i = 0; i < THREADS; i++) this.batches.push(new Batch());
  }

  /**
   * A writer, or undefined when this runtime cannot start a worker thread. `action` names the
   * job in errors: `cannot <action> "<entry>": …` (default: `apply layer entry`).
   *
   * @example
   * ```ts
   * const w = BackgroundWriter.create() // undefined: write synchronously instead
   * ```
   */
  static create(action = "apply layer entry"): BackgroundWriter | undefined {
    return writerThread(0) ? new BackgroundWriter(action) : undefined;
  }

  /** True while something is queued or being written. */
  get busy(): boolean {
    return this.pending.size > 0;
  }

  /**
   * Queues a new file (its path must be free, its directory a real one that stays in place
   * until {@link flush}); waits when too much is in flight. `rel` names it in {@link pending}.
   * The content chunks are copied when the batch is sent. Throws the failure of an earlier
   * file, if any.
   */
  async add(rel: string, file: BackgroundFile, content: readonly Uint8Array[]): Promise<void> {
    this.check();
    // A second write of a queued path could overtake the first: callers flush before reusing one.
    if (this.pending.has(rel)) throw new CairnError("E_USAGE", `${file.entry}: already queued`);
    let size = 0;
    for (const c of content) size += c.length;
    if (size > BACKGROUND_MAX_FILE) {
      throw new CairnError("E_USAGE", `${file.entry}: ${size} bytes is too large for a background write`);
    }
    const w = workerFor(rel);
    if ((this.batches[w] as Batch).bytes + size > BATCH_BYTES) await this.sendFull(w);
    const batch = this.batches[w] as Batch;
    batch.push(rel, file, content, size);
    this.pending.add(rel);
    if (batch.paths.length >= BATCH_FILES) await this.sendFull(w);
    // Keep the workers fed (one batch at work, one waiting) without a message per file.
    else if (batch.paths.length >= MIN_BATCH_FILES && this.inFlight.length < 2 * THREADS) this.send(w);
  }

  /** Waits until every queued file is written; throws the first failure. */
  async flush(): Promise<void> {
    await this.settle();
    this.check();
  }

  /** Waits until the workers are done with everything queued, ignoring failures (cleanup paths). */
  async settle(): Promise<void> {
    for (let w = 0; w < THREADS; w++) this.send(w);
    while (this.inFlight.length > 0) await this.inFlight[0];
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  private async sendFull(w: number): Promise<void> {
    while (this.inFlight.length >= MAX_IN_FLIGHT * THREADS) await this.inFlight[0];
    this.check();
    this.send(w);
  }

  private send(w: number): void {
    const batch = this.batches[w] as Batch;
    if (batch.paths.length === 0) return;
    this.batches[w] = new Batch();
    const finished = () => {
      this.inFlight.splice(this.inFlight.indexOf(done), 1);
      for (const r of batch.rels) this.pending.delete(r);
    };
    const thread = writerThread(w) ?? writerThread(0);
    const sent = thread
      ? thread.send(batch.paths, batch.metadata(), batch.content(this.spare.pop()))
      : Promise.reject(new Error("cannot start a file writer thread"));
    // Settles once the worker is done with the batch, successful or not; never rejects.
    const done: Promise<void> = sent.then(
      (ack) => {
        finished();
        if (ack.data.byteLength === BATCH_BYTES) this.spare.push(ack.data);
        if (ack.index === undefined || this.failure) return;
        const entry = batch.entries[ack.index] ?? "";
        this.failure = new CairnError(
          "E_IO",
          `cannot ${this.action} ${JSON.stringify(entry)}: ${ack.message ?? ack.code ?? "write failed"}`,
          { path: entry, details: { code: ack.code } },
        );
      },
      (e: unknown) => {
        finished();
        this.failure ??= new CairnError("E_IO", `cannot write layer files: ${(e as Error).message}`, {
          cause: e,
        });
      },
    );
    this.inFlight.push(done);
  }
}

/** The worker for a file: the same for every file of a directory. */
function workerFor(rel: string): number {
  if (THREADS === 1) return 0;
  let h = 0;
  for (let i = rel.lastIndexOf("/") - 1; i >= 0; i--) h = (h * 31 + rel.charCodeAt(i)) | 0;
  return (h >>> 0) % THREADS;
}

/** Files gathered for one message to the worker. */
class Batch {
  readonly paths: (string | Buffer)[] = [];
  readonly entries: string[] = [];
  readonly rels: string[] = [];
  private readonly meta: number[] = [];
  private readonly chunks: Uint8Array[] = [];
  bytes = 0;

  push(rel: string, file: BackgroundFile, content: readonly Uint8Array[], size: number): void {
    this.rels.push(rel);
    this.paths.push(fsPath(file.path));
    this.entries.push(file.entry);
    this.meta.push(size, file.owner?.uid ?? -1, file.owner?.gid ?? -1, file.mode, file.atime, file.mtime);
    for (const c of content) if (c.length > 0) this.chunks.push(c);
    this.bytes += size;
  }

  metadata(): Float64Array {
    return Float64Array.from(this.meta);
  }

  /**
   * All content in one buffer of {@link BATCH_BYTES} of its own (transferred to the worker and
   * back, so never one of Node's pooled buffers): `reuse` or a new one.
   */
  content(reuse: ArrayBuffer | undefined): ArrayBuffer {
    const out = new Uint8Array(reuse ?? new ArrayBuffer(BATCH_BYTES));
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out.buffer as ArrayBuffer;
  }
}
