import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import { type Digest, digestOf, isDigest, parseDigest } from "../digest/index.js";
import { MAX_MANIFEST_BYTES } from "../manifest/media-types.js";
import type { OciIndex } from "../manifest/types.js";
import { removeStaleTempFiles } from "./atomic.js";
import { errnoCode, ioError, isAbortError, throwIfAborted } from "./errors.js";
import type { ContentStore } from "./types.js";
import {
  type BlobRef,
  isManifestMediaType,
  manifestLinks,
  parseManifestLike,
  sniffManifestMediaType,
} from "./walk.js";

/** Options for {@link gcLayout}. */
export interface GcOptions {
  /**
   * Keep unreachable blobs modified less than this long ago (default 15 min): a concurrent
   * writer puts blobs before it names them in `index.json`. Pass 0 to sweep everything unreachable.
   */
  gracePeriodMs?: number;
  /** Remove temporary files of live writers too once untouched this long (default 24 h). */
  tempMaxAgeMs?: number;
  /** Keep manifests whose `subject` is reachable (signatures, SBOMs…) (default true). */
  keepReferrers?: boolean;
  /** Report what would be removed without removing anything (temporary files are left alone). */
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** What {@link gcLayout} did. */
export interface GcResult {
  /** The blobs removed (or, with `dryRun`, that would be). */
  removed: Digest[];
  /** Their total size. */
  freedBytes: number;
  /** Stale temporary files removed. */
  tempFilesRemoved: number;
  /** Unreachable blobs kept because they are younger than the grace period. */
  keptRecent: Digest[];
  /** How many blobs are reachable. */
  reachable: number;
}

/** Options for {@link fsckLayout}. */
export interface FsckOptions {
  /** Count referrers of reachable manifests as reachable (default true, as gc does). */
  keepReferrers?: boolean;
  signal?: AbortSignal;
}

/** What {@link fsckLayout} found. */
export interface FsckResult {
  /** No blob missing and none corrupt (unreachable blobs are only garbage). */
  ok: boolean;
  /** Referenced from `index.json` (directly or through manifests) but absent. */
  missing: Digest[];
  /** Present, but their bytes do not hash to their name. */
  corrupt: Digest[];
  /** Present, but nothing reaches them. */
  unreachable: Digest[];
  /** How many blobs were re-hashed. */
  checked: number;
}

/** What gc and fsck need of a layout. */
export interface LayoutView {
  store: ContentStore & { blobPath(digest: string): string };
  index(): Promise<OciIndex>;
  tmpDir: string;
}

interface Reachability {
  reachable: Set<Digest>;
  missing: Set<Digest>;
}

interface BlobEntry {
  size: number;
  mtimeMs: number;
}

async function listBlobs(view: LayoutView, signal: AbortSignal | undefined): Promise<Map<Digest, BlobEntry>> {
  const blobs = new Map<Digest, BlobEntry>();
  for await (const digest of view.store.list()) {
    throwIfAborted(signal, "gc");
    const file = view.store.blobPath(digest);
    try {
      const st = await fsp.stat(file);
      blobs.set(digest, { size: st.size, mtimeMs: st.mtimeMs });
    } catch (err) {
      if (errnoCode(err) !== "ENOENT") throw ioError(err, "stat of blob", file);
    }
  }
  return blobs;
}

// Raw bytes, unverified: a corrupt manifest still protects what it names (fsck reports it).
async function readSmallBlob(
  view: LayoutView,
  digest: Digest,
  size: number,
): Promise<Uint8Array | undefined> {
  if (size > MAX_MANIFEST_BYTES) return undefined;
  try {
    return await fsp.readFile(view.store.blobPath(digest));
  } catch (err) {
    if (errnoCode(err) === "ENOENT") return undefined;
    throw ioError(err, "reading blob", view.store.blobPath(digest));
  }
}

/**
 * Marks every blob reachable from `index.json`: through indexes and manifests of every format to
 * configs, layers and `subject`s, and (with `keepReferrers`) to manifests whose subject is reachable.
 *
 * @example
 * ```ts
 * const { reachable, missing } = await markReachable(view, await listBlobs(view), true)
 * ```
 */
async function markReachable(
  view: LayoutView,
  blobs: Map<Digest, BlobEntry>,
  keepReferrers: boolean,
  signal: AbortSignal | undefined,
): Promise<Reachability> {
  const reachable = new Set<Digest>();
  const missing = new Set<Digest>();
  const parsed = new Set<Digest>();

  const visit = async (start: BlobRef, isRoot: boolean): Promise<void> => {
    const stack: { ref: BlobRef; root: boolean }[] = [{ ref: start, root: isRoot }];
    for (let item = stack.pop(); item; item = stack.pop()) {
      throwIfAborted(signal, "gc");
      const { ref, root } = item;
      const d = ref.digest;
      reachable.add(d);
      const entry = blobs.get(d);
      if (!entry) {
        missing.add(d);
        continue;
      }
      // Roots of unknown type are sniffed; anything else is a manifest only if its descriptor says so.
      if (parsed.has(d) || (!root && !isManifestMediaType(ref.mediaType))) continue;
      parsed.add(d);
      const doc = parseManifestLike((await readSmallBlob(view, d, entry.size)) ?? new Uint8Array());
      if (!doc || (!isManifestMediaType(ref.mediaType) && !sniffManifestMediaType(doc))) continue;
      const links = manifestLinks(doc);
      for (const child of links.children) stack.push({ ref: child, root: false });
      if (links.subject) stack.push({ ref: links.subject, root: true });
    }
  };

  const index = await view.index();
  for (const d of index.manifests) {
    if (isDigest(d.digest)) await visit({ digest: d.digest, mediaType: d.mediaType }, true);
  }
  if (keepReferrers) await markReferrers(view, blobs, reachable, visit, signal);
  return { reachable, missing };
}

async function markReferrers(
  view: LayoutView,
  blobs: Map<Digest, BlobEntry>,
  reachable: Set<Digest>,
  visit: (ref: BlobRef, root: boolean) => Promise<void>,
  signal: AbortSignal | undefined,
): Promise<void> {
  const referrers: { ref: BlobRef; subject: Digest }[] = [];
  for (const [digest, entry] of blobs) {
    throwIfAborted(signal, "gc");
    if (reachable.has(digest)) continue;
    const doc = parseManifestLike((await readSmallBlob(view, digest, entry.size)) ?? new Uint8Array());
    const mediaType = doc ? sniffManifestMediaType(doc) : undefined;
    const subject = doc && mediaType ? manifestLinks(doc).subject : undefined;
    if (subject) referrers.push({ ref: { digest, mediaType: mediaType as string }, subject: subject.digest });
  }
  // Referrers of referrers count too: repeat until nothing new is reached.
  for (let changed = true; changed; ) {
    changed = false;
    for (const r of referrers) {
      if (!reachable.has(r.ref.digest) && reachable.has(r.subject)) {
        await visit(r.ref, true);
        changed = true;
      }
    }
  }
}

function sorted(digests: Iterable<Digest>): Digest[] {
  return [...digests].sort();
}

/**
 * Mark and sweep over a layout (the caller holds the `index.json` lock); see {@link GcOptions}.
 *
 * @example
 * ```ts
 * const result = await gcLayout({ store: layout, index: () => layout.index(), tmpDir }, { gracePeriodMs: 0 })
 * ```
 */
export async function gcLayout(view: LayoutView, options: GcOptions = {}): Promise<GcResult> {
  const { signal } = options;
  const grace = options.gracePeriodMs ?? 15 * 60 * 1000;
  throwIfAborted(signal, "gc");
  const blobs = await listBlobs(view, signal);
  const { reachable } = await markReachable(view, blobs, options.keepReferrers ?? true, signal);
  const removed: Digest[] = [];
  const keptRecent: Digest[] = [];
  let freedBytes = 0;
  const now = Date.now();
  for (const [digest, entry] of blobs) {
    if (reachable.has(digest)) continue;
    throwIfAborted(signal, "gc");
    // Re-stat: a put of a present blob refreshes its mtime, which must be seen here.
    const st = await fsp.stat(view.store.blobPath(digest)).catch(() => undefined);
    if (!st) continue;
    if (now - st.mtimeMs < grace) {
      keptRecent.push(digest);
      continue;
    }
    if (!options.dryRun && !(await view.store.delete(digest))) continue;
    removed.push(digest);
    freedBytes += entry.size;
  }
  const tempFilesRemoved = options.dryRun
    ? 0
    : await removeStaleTempFiles(
        view.tmpDir,
        options.tempMaxAgeMs === undefined ? {} : { maxAgeMs: options.tempMaxAgeMs },
      );
  return {
    removed: sorted(removed),
    freedBytes,
    tempFilesRemoved,
    keptRecent: sorted(keptRecent),
    reachable: [...reachable].filter((d) => blobs.has(d)).length,
  };
}

/**
 * Re-hashes every blob and reports missing, corrupt and unreachable ones.
 *
 * @example
 * ```ts
 * const { ok, corrupt } = await fsckLayout({ store: layout, index: () => layout.index(), tmpDir })
 * ```
 */
export async function fsckLayout(view: LayoutView, options: FsckOptions = {}): Promise<FsckResult> {
  const { signal } = options;
  throwIfAborted(signal, "fsck");
  const blobs = await listBlobs(view, signal);
  const { reachable, missing } = await markReachable(view, blobs, options.keepReferrers ?? true, signal);
  const corrupt: Digest[] = [];
  let checked = 0;
  for (const digest of blobs.keys()) {
    throwIfAborted(signal, "fsck");
    const file = view.store.blobPath(digest);
    let actual: string;
    try {
      actual = await digestOf(
        createReadStream(file, signal ? { signal } : {}),
        parseDigest(digest).algorithm,
      );
    } catch (err) {
      throwIfAborted(signal, "fsck");
      if (isAbortError(err)) throw err;
      if (errnoCode(err) === "ENOENT") continue;
      throw ioError(err, "reading blob", file);
    }
    checked++;
    if (actual !== digest) corrupt.push(digest);
  }
  const unreachable = [...blobs.keys()].filter((d) => !reachable.has(d));
  return {
    ok: missing.size === 0 && corrupt.length === 0,
    missing: sorted(missing),
    corrupt: sorted(corrupt),
    unreachable: sorted(unreachable),
    checked,
  };
}
