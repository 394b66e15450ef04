/**
 * Context file digests kept between builds, by stat fingerprint (device, inode, size, mtime,
 * ctime), so a rebuild of an unchanged context reads no file: one JSON file per context
 * directory under the cairn home's build area.
 */
import { lstatSync } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../content/index.js";
import { type Digest, digestBytes, isDigest } from "../digest/index.js";
import type { ContextDigestCache } from "../dockerfile/index.js";

/**
 * How long after its last inode change a file's digest may be remembered. File times come from
 * a coarse kernel clock: a file rewritten within the same tick as the read that hashed it keeps
 * its fingerprint, so a digest is only trusted for files that were quiet for a while before the
 * read (the "racy clean" rule git uses for its index).
 */
export const QUIET_MS = 1000;

interface StoredDigests {
  version: 1;
  root: string;
  entries: Record<string, [string, Digest]>;
}

function isStored(x: unknown, root: string): x is StoredDigests {
  if (x === null || typeof x !== "object") return false;
  const s = x as Partial<StoredDigests>;
  return s.version === 1 && s.root === root && s.entries !== null && typeof s.entries === "object";
}

/**
 * A {@link ContextDigestCache} persisted for one context directory.
 *
 * @example
 * ```ts
 * const digests = await StoredContextDigests.load(cacheDir, "/src/app");
 * const plan = await planBuild({ dockerfile, context: "/src/app", contextDigests: digests });
 * await digests.save(index);
 * ```
 */
export class StoredContextDigests implements ContextDigestCache {
  private readonly known = new Map<string, [string, Digest]>();
  private readonly touched = new Set<string>();
  private changed = false;
  /** Files looked up that had no usable entry (read and hashed). */
  misses = 0;
  /** Files whose digest came from the cache. */
  hits = 0;

  private constructor(
    private readonly file: string,
    private readonly root: string,
  ) {}

  /** Loads the digests remembered for `root` (none when the file is missing or not valid). */
  static async load(dir: string, root: string): Promise<StoredContextDigests> {
    const abs = path.resolve(root);
    const file = path.join(dir, `${digestBytes(abs).slice("sha256:".length, "sha256:".length + 32)}.json`);
    const cache = new StoredContextDigests(file, abs);
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, "utf8"));
    } catch {
      return cache;
    }
    if (!isStored(parsed, abs)) return cache;
    for (const [rel, value] of Object.entries(parsed.entries)) {
      if (!Array.isArray(value) || value.length !== 2) continue;
      const [stamp, digest] = value as unknown[];
      if (typeof stamp === "string" && typeof digest === "string" && isDigest(digest)) {
        cache.known.set(rel, [stamp, digest as Digest]);
      }
    }
    return cache;
  }

  get(rel: string, stamp: string): Digest | undefined {
    this.touched.add(rel);
    const hit = this.known.get(rel);
    if (hit && hit[0] === stamp) {
      this.hits++;
      return hit[1];
    }
    this.misses++;
    return undefined;
  }

  set(rel: string, stamp: string, digest: Digest, readAt: number): void {
    this.touched.add(rel);
    const ctimeMs = Number(stamp.split(":")[4]);
    if (!Number.isFinite(ctimeMs) || readAt - ctimeMs <= QUIET_MS) {
      if (this.known.delete(rel)) this.changed = true;
      return;
    }
    const old = this.known.get(rel);
    if (old && old[0] === stamp && old[1] === digest) return;
    this.known.set(rel, [stamp, digest]);
    this.changed = true;
  }

  /**
   * Writes the digests back when any changed, first dropping entries of files that are gone
   * (entries this build did not look up may belong to another Dockerfile using the context).
   */
  async save(): Promise<void> {
    for (const rel of this.known.keys()) {
      if (this.touched.has(rel)) continue;
      let isFile = false;
      try {
        isFile = lstatSync(path.join(this.root, rel)).isFile();
      } catch {}
      if (!isFile) {
        this.known.delete(rel);
        this.changed = true;
      }
    }
    if (!this.changed) return;
    const stored: StoredDigests = { version: 1, root: this.root, entries: Object.fromEntries(this.known) };
    const dir = path.dirname(this.file);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(this.file, Buffer.from(JSON.stringify(stored)), dir);
    this.changed = false;
  }
}
