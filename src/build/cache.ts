/**
 * The per-step build cache, kept beside the blobs in the cairn home: for each step's cache key,
 * the layer the step made (descriptor and diff ID; the blob stays in the store) and the config
 * and history entry it left. A hit replays those without touching any file. An entry whose
 * layer blob is gone (e.g. after `cairn gc`) counts as a miss.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { writeFileAtomic } from "../content/index.js";
import { type Digest, digestBytes, isDigest } from "../digest/index.js";
import type { ContainerConfig, Descriptor, HistoryEntry } from "../manifest/index.js";

/** What one cached step left behind. */
export interface StepCacheEntry {
  /** The layer the step made, if any. */
  layer?: { descriptor: Descriptor; diffId: Digest };
  /** The container config after the step. */
  config: ContainerConfig;
  author?: string;
  /** The history entry of the step (none for ONBUILD). */
  history?: HistoryEntry;
  cmdSet: boolean;
}

interface StoredEntry extends StepCacheEntry {
  version: 1;
  key: string;
}

/** Computes a cache key from any JSON-able inputs (object keys sorted). *
 * @example
 * ```ts
 * cacheKeyOf({ b: 1, a: 2 }) === cacheKeyOf({ a: 2, b: 1 }) // true
 * ```
 */
export function cacheKeyOf(inputs: unknown): Digest {
  const canonical = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
    if (v !== null && typeof v === "object") {
      const e = Object.entries(v as Record<string, unknown>)
        .filter(([, x]) => x !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${e.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(",")}}`;
    }
    return JSON.stringify(v) ?? "null";
  };
  return digestBytes(canonical(inputs));
}

function isEntry(x: unknown, key: string): x is StoredEntry {
  if (x === null || typeof x !== "object") return false;
  const e = x as Partial<StoredEntry>;
  if (e.version !== 1 || e.key !== key || typeof e.config !== "object" || e.config === null) return false;
  if (typeof e.cmdSet !== "boolean") return false;
  if (e.layer !== undefined) {
    const l = e.layer;
    if (!l || !isDigest(l.diffId) || !l.descriptor || !isDigest(l.descriptor.digest)) return false;
    if (typeof l.descriptor.size !== "number" || typeof l.descriptor.mediaType !== "string") return false;
  }
  return true;
}

/**
 * The step cache in a directory (by default `<store>/cairn-build/cache`).
 *
 * @example
 * ```ts
 * const cache = new StepCache(path.join(store.dir, "cairn-build/cache"), (d) => store.has(d));
 * const hit = await cache.get(key);
 * ```
 */
export class StepCache {
  constructor(
    readonly dir: string,
    private readonly hasBlob: (digest: string) => Promise<boolean>,
  ) {}

  private file(key: Digest): string {
    return path.join(this.dir, `${key.replace(":", "-")}.json`);
  }

  /** The entry for `key`, or undefined (missing, unreadable, or its layer blob is gone). */
  async get(key: Digest): Promise<StepCacheEntry | undefined> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(this.file(key), "utf8"));
    } catch {
      return undefined;
    }
    if (!isEntry(parsed, key)) return undefined;
    if (parsed.layer && !(await this.hasBlob(parsed.layer.descriptor.digest))) return undefined;
    const { version: _v, key: _k, ...entry } = parsed;
    return entry;
  }

  /** Records what a step made. */
  async put(key: Digest, entry: StepCacheEntry): Promise<void> {
    const stored: StoredEntry = { version: 1, key, ...entry };
    await writeFileAtomic(
      this.file(key),
      new TextEncoder().encode(JSON.stringify(stored)),
      path.join(this.dir, ".tmp"),
    );
  }
}
