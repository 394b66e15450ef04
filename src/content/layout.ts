import type { Dirent } from "node:fs";
import * as fsp from "node:fs/promises";
import path from "node:path";
import { pipeline, type Readable } from "node:stream";
import {
  type Digest,
  isDigest,
  isDigestAlgorithm,
  parseDigest,
  VerifyingStream,
  verifyBytes,
} from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { MAX_MANIFEST_BYTES } from "../manifest/media-types.js";
import type { Descriptor, OciIndex } from "../manifest/types.js";
import { writeFileAtomic } from "./atomic.js";
import { abortedError, errnoCode, ioError, throwIfAborted } from "./errors.js";
import {
  type FsckOptions,
  type FsckResult,
  fsckLayout,
  type GcOptions,
  type GcResult,
  gcLayout,
} from "./gc.js";
import {
  checkIndex,
  checkIndexDescriptor,
  emptyIndex,
  isRefName,
  LAYOUT_VERSION,
  parseIndexFile,
  parseLayoutFile,
  REF_NAME_ANNOTATION,
  refNameOf,
} from "./index-file.js";
import { ingestBlob } from "./ingest.js";
import { type LockOptions, withFileLock } from "./lock.js";
import type {
  BlobInfo,
  ContentStore,
  OpenBlobOptions,
  PutOptions,
  PutSource,
  ReadAllOptions,
} from "./types.js";
import { parseManifestLike, sniffManifestMediaType } from "./walk.js";

/** The file naming a directory as an OCI image layout. */
export const OCI_LAYOUT_FILE = "oci-layout";
/** The layout's root index. */
export const INDEX_FILE = "index.json";
/** The lock file serializing `index.json` updates. */
export const INDEX_LOCK_FILE = "index.json.lock";
/** Where cairn writes temporary files inside a layout (same file system as `blobs/`, so renames are atomic). */
export const TEMP_DIR = ".cairn-tmp";

const MAX_LAYOUT_FILE_BYTES = 64 * 1024;
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const DEFAULT_READ_ALL_MAX = 4 * 1024 * 1024;
const OCTET_STREAM = "application/octet-stream";
// Blob reads in 1 MiB chunks: the default 64 KiB meant 16x the read calls and stream turns.
const READ_CHUNK = 1024 * 1024;

/** Options for {@link OciLayout.open}. */
export interface OpenLayoutOptions {
  /** Create the directory, `oci-layout` and `index.json` when missing (default false). */
  create?: boolean;
  /** Timing of the `index.json` lock (wait deadline, stale threshold). */
  lock?: Omit<LockOptions, "signal">;
}

/** Options of the `index.json` updates. */
export interface IndexUpdateOptions {
  signal?: AbortSignal;
}

async function readBounded(file: string, maxBytes: number, what: string): Promise<Uint8Array | undefined> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(file, "r");
    const st = await fh.stat();
    if (!st.isFile()) {
      throw new CairnError("E_LAYOUT_INVALID", `invalid ${file}: ${what} must be a regular file`, {
        path: file,
      });
    }
    if (st.size > maxBytes) {
      throw new CairnError(
        "E_LAYOUT_INVALID",
        `invalid ${file}: ${what} is ${st.size} bytes, more than the ${maxBytes} cairn accepts`,
        { path: file },
      );
    }
    return await fh.readFile();
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT") return undefined;
    if (code === "EISDIR") {
      throw new CairnError("E_LAYOUT_INVALID", `invalid ${file}: ${what} must be a regular file`, {
        path: file,
      });
    }
    throw ioError(err, `reading ${what}`, file);
  } finally {
    await fh?.close();
  }
}

function serializeIndex(index: OciIndex): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(index));
}

/**
 * An OCI image layout on disk as a {@link ContentStore}: blobs under `blobs/<alg>/<hex>`, names in
 * `index.json`. Safe for many writers at once, in one process or several: blobs arrive by atomic
 * rename of fsynced temporary files, `index.json` changes under a lock file and by atomic
 * replacement, and a writer killed at any point leaves only temporary files, which {@link gc}
 * removes.
 *
 * @example
 * ```ts
 * const layout = await OciLayout.open("./oci", { create: true });
 * const config = await layout.put(JSON.stringify(cfg), { mediaType: MediaType.ociConfig });
 * await layout.tag("v1", manifestDescriptor);
 * const desc = await layout.resolve("v1");
 * ```
 */
export class OciLayout implements ContentStore {
  /** The layout's directory (absolute). */
  readonly dir: string;
  private readonly tmpDir: string;
  private readonly lockPath: string;
  private readonly lockOptions: Omit<LockOptions, "signal">;

  private constructor(dir: string, lockOptions: Omit<LockOptions, "signal">) {
    this.dir = dir;
    this.tmpDir = path.join(dir, TEMP_DIR);
    this.lockPath = path.join(dir, INDEX_LOCK_FILE);
    this.lockOptions = lockOptions;
  }

  /**
   * Opens the layout at `dir`; with `create`, makes the directory, `oci-layout` and an empty
   * `index.json` where missing (safe when several processes create it at once).
   *
   * @example
   * ```ts
   * const layout = await OciLayout.open("/var/cache/images", { create: true });
   * ```
   * @throws CairnError `E_LAYOUT_INVALID` when `dir` is not a layout (no or bad `oci-layout`, bad `index.json`)
   */
  static async open(dir: string, options: OpenLayoutOptions = {}): Promise<OciLayout> {
    const abs = path.resolve(dir);
    const st = await fsp.stat(abs).catch(() => undefined);
    if (st ? !st.isDirectory() : !options.create) {
      throw new CairnError("E_LAYOUT_INVALID", `not an OCI image layout: ${abs} is not a directory`, {
        path: abs,
      });
    }
    if (options.create) {
      await fsp.mkdir(path.join(abs, "blobs"), { recursive: true }).catch((err: unknown) => {
        throw ioError(err, "creating the layout directory", abs);
      });
    }
    const layout = new OciLayout(await fsp.realpath(abs), options.lock ?? {});
    await layout.checkOrCreate(options.create === true);
    return layout;
  }

  private async checkOrCreate(create: boolean): Promise<void> {
    const layoutFile = path.join(this.dir, OCI_LAYOUT_FILE);
    const indexFile = path.join(this.dir, INDEX_FILE);
    const check = async (): Promise<{ hasLayout: boolean; hasIndex: boolean }> => {
      const layoutBytes = await readBounded(layoutFile, MAX_LAYOUT_FILE_BYTES, "oci-layout");
      if (layoutBytes) parseLayoutFile(layoutBytes, layoutFile);
      const indexBytes = await readBounded(indexFile, MAX_INDEX_BYTES, "index.json");
      if (indexBytes) parseIndexFile(indexBytes, indexFile);
      return { hasLayout: layoutBytes !== undefined, hasIndex: indexBytes !== undefined };
    };
    const found = await check();
    if (found.hasLayout && found.hasIndex) return;
    if (!create) {
      const missing = found.hasLayout ? INDEX_FILE : OCI_LAYOUT_FILE;
      throw new CairnError(
        "E_LAYOUT_INVALID",
        `not an OCI image layout: ${path.join(this.dir, missing)} is missing`,
        { path: this.dir },
      );
    }
    // Created under the index lock so a concurrent creator's first tag is never overwritten.
    await this.withIndexLock(async () => {
      const again = await check();
      if (!again.hasLayout) {
        const header = JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION });
        await writeFileAtomic(layoutFile, new TextEncoder().encode(header), this.tmpDir);
      }
      if (!again.hasIndex) await writeFileAtomic(indexFile, serializeIndex(emptyIndex()), this.tmpDir);
    });
  }

  private withIndexLock<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return withFileLock(this.lockPath, fn, {
      stagingDir: this.tmpDir,
      ...this.lockOptions,
      ...(signal ? { signal } : {}),
    });
  }

  /**
   * The file holding a blob: `<dir>/blobs/<alg>/<hex>` (the digest is validated, so no path escapes).
   *
   * @example
   * ```ts
   * layout.blobPath("sha256:e3b0…") // "/oci/blobs/sha256/e3b0…"
   * ```
   * @throws CairnError `E_DIGEST_INVALID`
   */
  blobPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return path.join(this.dir, "blobs", algorithm, hex);
  }

  /**
   * True when the blob is present.
   *
   * @example
   * ```ts
   * if (!(await layout.has(desc.digest))) await layout.put(stream, desc)
   * ```
   */
  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /**
   * Digest and size of a present blob, else `undefined`. Does not read the bytes.
   *
   * @example
   * ```ts
   * (await layout.stat(digest))?.size
   * ```
   */
  async stat(digest: string): Promise<BlobInfo | undefined> {
    const file = this.blobPath(digest);
    try {
      const st = await fsp.stat(file);
      return st.isFile() ? { digest: digest as Digest, size: st.size } : undefined;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return undefined;
      throw ioError(err, "stat of blob", file);
    }
  }

  /** Opens a blob's file for reading; a missing blob is `E_BLOB_NOT_FOUND`. */
  private async openBlobFile(digest: string, file: string): Promise<fsp.FileHandle> {
    try {
      return await fsp.open(file, "r");
    } catch (err) {
      if (errnoCode(err) === "ENOENT") throw this.notFound(digest);
      throw ioError(err, "opening blob", file);
    }
  }

  /**
   * A stream of a blob's bytes, re-hashed as they flow unless `verify: false`; a corrupt blob
   * makes the stream fail at its end with `E_DIGEST_MISMATCH`.
   *
   * @example
   * ```ts
   * await pipeline(await layout.open(layer.digest), fs.createWriteStream("layer.tar.gz"))
   * ```
   * @throws CairnError `E_BLOB_NOT_FOUND`
   */
  async open(digest: string, options: OpenBlobOptions = {}): Promise<Readable> {
    const file = this.blobPath(digest);
    throwIfAborted(options.signal, `reading ${digest}`);
    const fh = await this.openBlobFile(digest, file);
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (err) {
      await fh.close();
      throw ioError(err, "stat of blob", file);
    }
    const raw = fh.createReadStream({ autoClose: true, highWaterMark: READ_CHUNK });
    let out: Readable = raw;
    if (options.verify !== false) {
      const verifier = new VerifyingStream({ digest, size, source: file });
      out = pipeline(raw, verifier, () => {});
    }
    const { signal } = options;
    if (signal) {
      const onAbort = () => out.destroy(abortedError(`reading ${digest}`, signal));
      signal.addEventListener("abort", onAbort, { once: true });
      out.once("close", () => signal.removeEventListener("abort", onAbort));
    }
    return out;
  }

  /**
   * A whole blob in memory, verified against its digest; refuses blobs over `maxBytes`
   * (default 4 MiB) with `E_SIZE_LIMIT` before reading them.
   *
   * @example
   * ```ts
   * const manifest = JSON.parse(new TextDecoder().decode(await layout.readAll(desc.digest)))
   * ```
   * @throws CairnError `E_BLOB_NOT_FOUND`, `E_SIZE_LIMIT`, `E_DIGEST_MISMATCH`
   */
  async readAll(digest: string, options: ReadAllOptions = {}): Promise<Uint8Array> {
    const maxBytes = options.maxBytes ?? DEFAULT_READ_ALL_MAX;
    const file = this.blobPath(digest);
    throwIfAborted(options.signal, `reading ${digest}`);
    const fh = await this.openBlobFile(digest, file);
    try {
      const { size } = await fh.stat();
      if (size > maxBytes) {
        throw new CairnError(
          "E_SIZE_LIMIT",
          `blob ${digest} is ${size} bytes, more than the ${maxBytes} allowed for reading into memory`,
          { path: file, details: { size, maxBytes } },
        );
      }
      const bytes = await fh.readFile(options.signal ? { signal: options.signal } : {});
      verifyBytes(bytes, { digest, size, source: file });
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
    } catch (err) {
      throwIfAborted(options.signal, `reading ${digest}`);
      throw ioError(err, "reading blob", file);
    } finally {
      await fh.close();
    }
  }

  /**
   * Stores a blob, streaming and hashing it into a temporary file in the layout, then renaming it
   * to `blobs/<alg>/<hex>`. Without `digest`, the sha256 is computed. A present blob is not
   * written again, and when `digest` is given for a present blob the source is not read at all
   * (a `Readable` is destroyed). Wrong bytes leave nothing behind.
   *
   * @example
   * ```ts
   * const desc = await layout.put(fs.createReadStream("layer.tar.gz"), { mediaType: MediaType.ociLayerGzip });
   * await layout.put(body, { digest: layer.digest, size: layer.size }); // verified
   * ```
   * @throws CairnError `E_DIGEST_MISMATCH`, `E_SIZE_MISMATCH`, `E_DIGEST_INVALID`, `E_ABORTED`, `E_IO`
   */
  async put(source: PutSource, options: PutOptions = {}): Promise<Descriptor> {
    const info = await ingestBlob(
      { tmpDir: this.tmpDir, blobPath: (d) => this.blobPath(d) },
      source,
      options,
    );
    return { mediaType: options.mediaType ?? OCTET_STREAM, digest: info.digest, size: info.size };
  }

  /**
   * Removes a blob (whether or not something references it); false when it was not there.
   *
   * @example
   * ```ts
   * await layout.delete("sha256:…")
   * ```
   */
  async delete(digest: string): Promise<boolean> {
    const file = this.blobPath(digest);
    try {
      await fsp.unlink(file);
      return true;
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return false;
      throw ioError(err, "deleting blob", file);
    }
  }

  /**
   * Every blob's digest (sha256 and sha512 directories; other files are ignored).
   *
   * @example
   * ```ts
   * for await (const digest of layout.list()) console.log(digest)
   * ```
   */
  async *list(): AsyncGenerator<Digest, void, undefined> {
    const blobs = path.join(this.dir, "blobs");
    let algorithms: string[];
    try {
      algorithms = await fsp.readdir(blobs);
    } catch (err) {
      if (errnoCode(err) === "ENOENT") return;
      throw ioError(err, "listing blobs", blobs);
    }
    for (const algorithm of algorithms.sort()) {
      if (!isDigestAlgorithm(algorithm)) continue;
      const dir = path.join(blobs, algorithm);
      let entries: Dirent[];
      try {
        entries = await fsp.readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (errnoCode(err) === "ENOENT" || errnoCode(err) === "ENOTDIR") continue;
        throw ioError(err, "listing blobs", dir);
      }
      for (const entry of entries) {
        const digest = `${algorithm}:${entry.name}`;
        if (entry.isFile() && isDigest(digest)) yield digest;
      }
    }
  }

  /**
   * The layout's `index.json`, read fresh (other processes may change it).
   *
   * @example
   * ```ts
   * (await layout.index()).manifests.length
   * ```
   * @throws CairnError `E_LAYOUT_INVALID`
   */
  async index(): Promise<OciIndex> {
    const file = path.join(this.dir, INDEX_FILE);
    const bytes = await readBounded(file, MAX_INDEX_BYTES, "index.json");
    if (!bytes) {
      throw new CairnError("E_LAYOUT_INVALID", `not an OCI image layout: ${file} is missing`, { path: file });
    }
    return parseIndexFile(bytes, file);
  }

  /**
   * Changes `index.json` under the lock: `fn` gets the current index (a fresh copy it may
   * mutate) and returns the new one (or nothing, to keep its mutations); the result is checked
   * and written atomically.
   *
   * @example
   * ```ts
   * await layout.updateIndex((index) => { index.annotations = { owner: "me" } })
   * ```
   * @throws CairnError `E_LOCKED`, `E_LAYOUT_INVALID`, `E_ABORTED`
   */
  async updateIndex(
    fn: (index: OciIndex) => OciIndex | undefined | Promise<OciIndex | undefined>,
    options: IndexUpdateOptions = {},
  ): Promise<OciIndex> {
    return this.withIndexLock(async () => {
      const current = await this.index();
      const next = checkIndex((await fn(current)) ?? current, "the updated index.json");
      throwIfAborted(options.signal, "updating index.json");
      await writeFileAtomic(path.join(this.dir, INDEX_FILE), serializeIndex(next), this.tmpDir);
      return next;
    }, options.signal);
  }

  /**
   * Replaces `index.json` wholesale (checked, atomically, under the lock).
   *
   * @example
   * ```ts
   * await layout.setIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })
   * ```
   */
  async setIndex(index: OciIndex, options: IndexUpdateOptions = {}): Promise<void> {
    checkIndex(structuredClone(index), "the new index.json");
    await this.updateIndex(() => structuredClone(index), options);
  }

  /**
   * Adds an unnamed root to `index.json` (kept by gc); a no-op when an entry with that digest and
   * no name is there already. The blob must be present.
   *
   * @example
   * ```ts
   * await layout.addManifest(manifestDescriptor)
   * ```
   * @throws CairnError `E_BLOB_NOT_FOUND`
   */
  async addManifest(descriptor: Descriptor, options: IndexUpdateOptions = {}): Promise<void> {
    const entry = await this.checkRoot(descriptor);
    await this.updateIndex((index) => {
      const present = index.manifests.some((d) => d.digest === entry.digest && refNameOf(d) === undefined);
      if (!present) index.manifests.push(entry);
      return index;
    }, options);
  }

  /**
   * Names a manifest in `index.json` with the `org.opencontainers.image.ref.name` annotation, as
   * skopeo and umoci do; an existing entry with that name is replaced. The blob must be present.
   *
   * @example
   * ```ts
   * await layout.tag("latest", manifestDescriptor)
   * ```
   * @throws CairnError `E_REFERENCE_INVALID`, `E_BLOB_NOT_FOUND`, `E_LOCKED`
   */
  async tag(name: string, descriptor: Descriptor, options: IndexUpdateOptions = {}): Promise<Descriptor> {
    if (!isRefName(name)) {
      throw new CairnError(
        "E_REFERENCE_INVALID",
        `invalid tag ${JSON.stringify(name)}: expected an OCI ref name such as "latest" or "v1.0" ([A-Za-z0-9] separated by - . _ : @ + -- /)`,
      );
    }
    const base = await this.checkRoot(descriptor);
    const entry: Descriptor = { ...base, annotations: { ...base.annotations, [REF_NAME_ANNOTATION]: name } };
    await this.updateIndex((index) => {
      index.manifests = index.manifests.filter((d) => refNameOf(d) !== name);
      index.manifests.push(entry);
      return index;
    }, options);
    return entry;
  }

  /**
   * Removes a name from `index.json`; false when there was no such name. The blobs stay until
   * {@link gc}.
   *
   * @example
   * ```ts
   * await layout.untag("old")
   * ```
   */
  async untag(name: string, options: IndexUpdateOptions = {}): Promise<boolean> {
    let removed = false;
    await this.updateIndex((index) => {
      const kept = index.manifests.filter((d) => refNameOf(d) !== name);
      removed = kept.length !== index.manifests.length;
      index.manifests = kept;
      return index;
    }, options);
    return removed;
  }

  /**
   * The names in `index.json`, in index order.
   *
   * @example
   * ```ts
   * await layout.tags() // ["latest", "v1"]
   * ```
   */
  async tags(): Promise<string[]> {
    const names = new Set<string>();
    for (const d of (await this.index()).manifests) {
      const name = refNameOf(d);
      if (name !== undefined) names.add(name);
    }
    return [...names];
  }

  /**
   * The descriptor a name or digest stands for: a named entry of `index.json`; for a digest, its
   * `index.json` entry, else the present blob (media type read from a manifest's JSON, else
   * `application/octet-stream`).
   *
   * @example
   * ```ts
   * const desc = await layout.resolve("latest")
   * const same = await layout.resolve(desc.digest)
   * ```
   * @throws CairnError `E_NOT_FOUND`
   */
  async resolve(nameOrDigest: string): Promise<Descriptor> {
    const index = await this.index();
    if (isDigest(nameOrDigest)) {
      const entry = index.manifests.find((d) => d.digest === nameOrDigest);
      if (entry) return entry;
      const info = await this.stat(nameOrDigest);
      if (info) {
        let mediaType: string | undefined;
        if (info.size <= MAX_MANIFEST_BYTES) {
          mediaType = sniffManifestMediaType(parseManifestLike(await this.readAll(nameOrDigest)));
        }
        return { mediaType: mediaType ?? OCTET_STREAM, digest: info.digest, size: info.size };
      }
    } else {
      const named = index.manifests.filter((d) => refNameOf(d) === nameOrDigest);
      const last = named[named.length - 1];
      if (last) return last;
    }
    throw new CairnError(
      "E_NOT_FOUND",
      `${JSON.stringify(nameOrDigest)} not found in the layout at ${this.dir}`,
      {
        path: this.dir,
        details: { name: nameOrDigest },
      },
    );
  }

  /**
   * Removes what nothing reaches: marks from `index.json` through indexes, manifests (OCI and
   * Docker), configs, layers, `subject` links and referrers of reachable manifests, then deletes
   * the other blobs not modified within `gracePeriodMs` (default 15 min, so blobs a concurrent
   * writer has just put but not yet tagged survive; pass 0 to sweep all), and stale temporary files.
   *
   * @example
   * ```ts
   * await layout.untag("old");
   * const { removed, freedBytes } = await layout.gc({ gracePeriodMs: 0 });
   * ```
   * @throws CairnError `E_LOCKED`, `E_ABORTED`
   */
  gc(options: GcOptions = {}): Promise<GcResult> {
    return this.withIndexLock(
      () => gcLayout({ store: this, index: () => this.index(), tmpDir: this.tmpDir }, options),
      options.signal,
    );
  }

  /**
   * Checks the layout: re-hashes every blob and reports blobs referenced but missing, corrupt
   * (bytes not matching the name) and unreachable (garbage for gc). `ok` ignores unreachable.
   *
   * @example
   * ```ts
   * const report = await layout.fsck();
   * if (!report.ok) console.error(report.missing, report.corrupt)
   * ```
   */
  fsck(options: FsckOptions = {}): Promise<FsckResult> {
    return fsckLayout({ store: this, index: () => this.index(), tmpDir: this.tmpDir }, options);
  }

  private async checkRoot(descriptor: Descriptor): Promise<Descriptor> {
    const entry = structuredClone(descriptor);
    checkIndexDescriptor(entry, "descriptor", "descriptor");
    if (!(await this.has(entry.digest))) throw this.notFound(entry.digest);
    return entry;
  }

  private notFound(digest: string): CairnError {
    return new CairnError("E_BLOB_NOT_FOUND", `blob ${digest} not found in the layout at ${this.dir}`, {
      path: this.blobPath(digest),
      details: { digest },
    });
  }
}
