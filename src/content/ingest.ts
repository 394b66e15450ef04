import * as fsp from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import {
  createHasher,
  type Digest,
  type DigestAlgorithm,
  digestBytes,
  type Hasher,
  parseDigest,
} from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { fsyncDir, removeQuietly, tempFilePath, trackTempFile } from "./atomic.js";
import { abortedError, errnoCode, ioError, isAbortError, throwIfAborted } from "./errors.js";
import type { BlobInfo, PutSource } from "./types.js";

/** Where {@link ingestBlob} writes: the temporary directory and the blob path of a digest. */
export interface IngestTarget {
  tmpDir: string;
  blobPath(digest: string): string;
}

/** What {@link ingestBlob} checks. */
export interface IngestOptions {
  digest?: string;
  size?: number;
  signal?: AbortSignal;
}

// Small chunks are copied into a staging buffer and written together; big ones are written as
// they come. Copying also protects against producers that reuse their chunk buffers.
const STAGE_BYTES = 1024 * 1024;
const encoder = new TextEncoder();

/** Fills a file sequentially, batching small chunks. */
class ChunkWriter {
  private readonly stage = new Uint8Array(STAGE_BYTES);
  private staged = 0;

  constructor(private readonly fh: fsp.FileHandle) {}

  async write(chunk: Uint8Array): Promise<void> {
    if (chunk.length >= STAGE_BYTES / 4) {
      await this.flush();
      await this.writeAll(chunk);
      return;
    }
    if (this.staged + chunk.length > STAGE_BYTES) await this.flush();
    this.stage.set(chunk, this.staged);
    this.staged += chunk.length;
  }

  async flush(): Promise<void> {
    if (this.staged === 0) return;
    const n = this.staged;
    this.staged = 0;
    await this.writeAll(this.stage.subarray(0, n));
  }

  private async writeAll(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await this.fh.write(bytes, off, bytes.length - off);
      off += bytesWritten;
    }
  }
}

function toChunk(raw: unknown): Uint8Array {
  if (raw instanceof Uint8Array) return raw;
  if (typeof raw === "string") return encoder.encode(raw);
  throw new CairnError("E_USAGE", `put: the source yielded ${typeof raw}, expected Uint8Array chunks`);
}

function checkSizeOption(size: number | undefined): void {
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw new CairnError("E_USAGE", `put: size must be a non-negative integer, found ${String(size)}`);
  }
}

function sizeMismatch(expected: number, found: number | string, where: string): CairnError {
  return new CairnError(
    "E_SIZE_MISMATCH",
    `size mismatch putting ${where}: expected ${expected} bytes, found ${found}`,
    { details: { expected, actual: found } },
  );
}

function digestMismatch(expected: string, actual: string): CairnError {
  return new CairnError(
    "E_DIGEST_MISMATCH",
    `digest mismatch on put: expected ${expected}, found ${actual}`,
    {
      details: { expected, actual },
    },
  );
}

/**
 * Feeds every chunk of `source` to `onChunk`, one at a time. An abort interrupts even a source
 * stuck waiting for its next chunk (stream/promises' pipeline does not stop async generators).
 * On any failure the source is stopped: a stream destroyed, an iterator returned.
 */
async function drain(
  source: AsyncIterable<unknown>,
  signal: AbortSignal | undefined,
  onChunk: (chunk: unknown) => Promise<void>,
): Promise<void> {
  const it = source[Symbol.asyncIterator]();
  try {
    for (;;) {
      throwIfAborted(signal, "put");
      const next = signal ? await nextOrAbort(it, signal) : await it.next();
      if (next.done) return;
      await onChunk(next.value);
    }
  } catch (err) {
    if (source instanceof Readable) source.destroy();
    // Not awaited: a generator parked in a pending next() only returns once that settles.
    Promise.resolve(it.return?.()).catch(() => {});
    throw err;
  }
}

// One listener per read, removed when the read settles: racing every read against a single
// long-lived abort promise would keep each chunk reachable until the put ends.
function nextOrAbort<T>(it: AsyncIterator<T>, signal: AbortSignal): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(abortedError("put", signal));
    signal.addEventListener("abort", onAbort, { once: true });
    it.next().then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Releases a source that will not be read: a stream is destroyed, an iterable left untouched. */
function discard(source: PutSource): void {
  if (source instanceof Readable) source.destroy();
}

async function statBlob(target: IngestTarget, digest: string): Promise<BlobInfo | undefined> {
  const file = target.blobPath(digest);
  try {
    const st = await fsp.stat(file);
    return st.isFile() ? { digest: digest as Digest, size: st.size } : undefined;
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw ioError(err, "stat of blob", file);
  }
}

// A put of a present blob refreshes its mtime (metadata only, never the bytes) so that a gc
// running meanwhile sees it as recent and keeps it until the caller has linked it.
async function touch(file: string): Promise<void> {
  const now = new Date();
  await fsp.utimes(file, now, now).catch(() => {});
}

/** Moves a finished temporary file to its blob path, unless the blob appeared meanwhile. */
async function publish(target: IngestTarget, tmp: string, digest: string): Promise<void> {
  const final = target.blobPath(digest);
  const dir = path.dirname(final);
  try {
    await fsp.mkdir(dir, { recursive: true });
    if (await statBlob(target, digest)) {
      await removeQuietly(tmp);
      await touch(final);
      return;
    }
    // Concurrent writers of one digest each rename their own complete file: the last rename wins,
    // and every candidate has the same bytes.
    await fsp.rename(tmp, final);
  } catch (err) {
    await removeQuietly(tmp);
    throw ioError(err, "storing blob", final);
  }
  await fsyncDir(dir);
}

// The caller tracks `tmp` (see trackTempFile) until it is published or removed.
async function writeTemp(
  target: IngestTarget,
  tmp: string,
  fill: (writer: ChunkWriter) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  try {
    await fsp.mkdir(target.tmpDir, { recursive: true });
  } catch (err) {
    throw ioError(err, "creating the temporary directory", target.tmpDir);
  }
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, "wx");
    const writer = new ChunkWriter(fh);
    await fill(writer);
    await writer.flush();
    throwIfAborted(signal, "put");
    await fh.sync();
    await fh.close();
    fh = undefined;
  } catch (err) {
    await fh?.close().catch(() => {});
    await removeQuietly(tmp);
    if (isAbortError(err) || signal?.aborted) throw abortedError("put", signal);
    if (err instanceof CairnError) throw err;
    if (errnoCode(err) !== undefined) throw ioError(err, "writing a temporary blob", tmp);
    throw new CairnError(
      "E_IO",
      `put: reading the source failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}

/** Runs `fn` with a fresh temporary blob path that gc leaves alone until `fn` settles. */
async function withTempBlob<T>(target: IngestTarget, fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = tempFilePath(target.tmpDir, "blob");
  const untrack = trackTempFile(tmp);
  try {
    return await fn(tmp);
  } finally {
    untrack();
  }
}

/**
 * Stores a blob by digest: hashes while writing a temporary file in the layout, checks digest and
 * size, fsyncs, and renames into place. A blob already present is not written again; when its
 * digest is given up front the source is not even read.
 *
 * @example
 * ```ts
 * const { digest, size } = await ingestBlob(layoutTarget, fs.createReadStream("layer.tar.gz"), {});
 * ```
 * @throws CairnError `E_DIGEST_MISMATCH`, `E_SIZE_MISMATCH`, `E_DIGEST_INVALID`, `E_ABORTED`, `E_IO`
 */
export async function ingestBlob(
  target: IngestTarget,
  source: PutSource,
  options: IngestOptions,
): Promise<BlobInfo> {
  const { size, signal } = options;
  let algorithm: DigestAlgorithm = "sha256";
  try {
    checkSizeOption(size);
    if (options.digest !== undefined) algorithm = parseDigest(options.digest).algorithm;
    throwIfAborted(signal, "put");
  } catch (err) {
    discard(source);
    throw err;
  }
  const where = options.digest ?? "a blob";

  if (options.digest !== undefined) {
    const existing = await statBlob(target, options.digest);
    if (existing) {
      discard(source);
      if (size !== undefined && existing.size !== size) throw sizeMismatch(size, existing.size, where);
      await touch(target.blobPath(options.digest));
      return existing;
    }
  }

  if (typeof source === "string" || source instanceof Uint8Array) {
    const bytes = typeof source === "string" ? encoder.encode(source) : source;
    if (size !== undefined && bytes.length !== size) throw sizeMismatch(size, bytes.length, where);
    const digest = digestBytes(bytes, algorithm);
    if (options.digest !== undefined && digest !== options.digest)
      throw digestMismatch(options.digest, digest);
    const existing = await statBlob(target, digest);
    if (existing) {
      await touch(target.blobPath(digest));
      return existing;
    }
    await withTempBlob(target, async (tmp) => {
      await writeTemp(target, tmp, (w) => w.write(bytes), signal);
      await publish(target, tmp, digest);
    });
    return { digest, size: bytes.length };
  }

  return withTempBlob(target, async (tmp) => {
    const hasher: Hasher = createHasher(algorithm);
    let seen = 0;
    await writeTemp(
      target,
      tmp,
      (writer) =>
        drain(source, signal, async (raw) => {
          const chunk = toChunk(raw);
          seen += chunk.length;
          if (size !== undefined && seen > size) throw sizeMismatch(size, `more than ${size}`, where);
          hasher.update(chunk);
          await writer.write(chunk);
        }),
      signal,
    );
    const digest: Digest = `${algorithm}:${hasher.hex()}`;
    try {
      if (size !== undefined && seen !== size) throw sizeMismatch(size, seen, where);
      if (options.digest !== undefined && digest !== options.digest)
        throw digestMismatch(options.digest, digest);
    } catch (err) {
      await removeQuietly(tmp);
      throw err;
    }
    await publish(target, tmp, digest);
    return { digest, size: seen };
  });
}
