/**
 * The snapshot store: each layer unpacked once, into a directory keyed by its chain ID, and
 * shared by every image and mount whose stack starts with the same layers (containerd's
 * overlay snapshotter model). A snapshot holds only its layer's diff, as an overlayfs upper
 * directory would; its whiteouts and opaque directories are recorded in `meta.json` and, with
 * privileges, also written as overlayfs markers so the directory can be a kernel lowerdir.
 *
 * Layout under the store root:
 *
 *     snapshots/<alg>-<hex>/{fs/,meta.json}   committed snapshots (renamed into place whole)
 *     l/<short> -> ../snapshots/<alg>-<hex>/fs short names for overlay mount options
 *     leases/<id>.json                         who references which chain IDs
 *     locks/<alg>-<hex>.lock                   one unpacker per chain ID, across processes
 *     tmp/                                     unpacks in progress, removals
 *     mounts/<id>/                             upper and work dirs of mounts
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { mkdir, readdir, readFile, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { defaultStoreDir, withFileLock } from "../content/index.js";
import { type Digest, digestBytes, isDigest } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import type { Image, Layer } from "../image/index.js";
import type { ApplyProgress, ApplyWarning } from "../layer/index.js";
import { chainIds } from "./chain-id.js";
import { DiskLayer } from "./disk-layer.js";
import { applyImageLayer } from "./layer-for-apply.js";
import { removeTree } from "./remove-tree.js";
import { LayerStack } from "./stack.js";

/** What `meta.json` of a snapshot records. */
export interface SnapshotMeta {
  schemaVersion: 1;
  chainId: Digest;
  diffId: Digest;
  /** The chain ID of the snapshot below, or null for a first layer. */
  parent: Digest | null;
  /** Paths this layer hides in the layers below. */
  whiteouts: string[];
  /** Directories of this layer that hide what the layers below have in them. */
  opaques: string[];
  /** True when `fs/` also holds overlayfs markers (0:0 character devices, `trusted.overlay.opaque`). */
  overlayMarkers: boolean;
  /** True when unpacked without privileges (no ownership, no device nodes). */
  rootless: boolean;
  /** Short name under `l/` for mount options. */
  shortId: string;
  entries: number;
  uncompressedBytes: number;
  /** The blob it was unpacked from. */
  blob: { digest: string; mediaType: string; size: number };
  created: string;
}

/** A committed snapshot. */
export interface Snapshot {
  readonly chainId: Digest;
  readonly diffId: Digest;
  readonly parent: Digest | null;
  /** The snapshot's directory (holding `fs/` and `meta.json`). */
  readonly path: string;
  /** The layer's diff: the directory to use as an overlay lowerdir. */
  readonly fsDir: string;
  /** `l/<short>`, relative to the store root: a short name for `fsDir`. */
  readonly shortPath: string;
  readonly meta: SnapshotMeta;
}

/** A snapshot with its reference count, as {@link SnapshotStore.list} reports it. */
export interface SnapshotInfo extends Snapshot {
  /** The leases that reference it. */
  refs: number;
}

/** Progress of {@link SnapshotStore.prepare}. */
export type SnapshotProgress =
  | { kind: "reused"; chainId: Digest; layer: number; layers: number }
  | { kind: "unpacking"; chainId: Digest; layer: number; layers: number }
  | {
      kind: "unpacked";
      chainId: Digest;
      layer: number;
      layers: number;
      entries: number;
      bytes: number;
      seconds: number;
    }
  | { kind: "apply"; chainId: Digest; layer: number; entries: number; bytes: number };

/** A reference that keeps snapshots from being pruned. */
export interface LeaseInfo {
  id: string;
  chainIds: Digest[];
  created: string;
  /** For a lease that lives as long as its process: who holds it. */
  pid?: number;
  hostname?: string;
  label?: string;
}

/** Options for {@link SnapshotStore.prepare}. */
export interface PrepareOptions {
  /**
   * Name of the lease to take (replaced if present) that lives until released. Default: a new
   * lease tied to this process, dropped by `release()` or by `prune` once the process is gone.
   */
  lease?: string;
  /** A label stored in the lease, for people reading `leases()`. */
  label?: string;
  /** Unpack without privileges (no chown, no device nodes, no overlay markers). Default: not root. */
  rootless?: boolean;
  /** Fail a layer beyond this many uncompressed bytes. */
  maxUncompressedBytes?: number;
  onWarning?: (warning: ApplyWarning) => void;
  onProgress?: (event: SnapshotProgress) => void;
  signal?: AbortSignal;
}

/** The snapshots of an image, referenced by a lease until released. */
export interface PreparedChain {
  /** Lowest first; empty for an image without layers. */
  snapshots: Snapshot[];
  /** The lease holding them. */
  lease: string;
  /** How many layers this call unpacked, and how many it found already there. */
  unpacked: number;
  reused: number;
  /** Drops the lease (the snapshots stay, unreferenced, until pruned). */
  release(): Promise<void>;
}

/** Options for {@link SnapshotStore.remove}. */
export interface RemoveSnapshotOptions {
  /** Remove even when leases reference it. */
  force?: boolean;
}

/** What {@link SnapshotStore.prune} removed. */
export interface PruneResult {
  snapshots: Digest[];
  leases: string[];
  tempDirs: number;
}

const LOCK_TIMEOUT_MS = 60 * 60 * 1000;
const TEMP_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * The directory name of a chain ID: `sha256-<hex>`.
 *
 * @example
 * ```ts
 * snapshotKey("sha256:ab…") // "sha256-ab…"
 * ```
 */
export function snapshotKey(chainId: string): string {
  if (!isDigest(chainId)) {
    throw new CairnError(
      "E_DIGEST_INVALID",
      `expected a chain ID (a digest), found ${JSON.stringify(chainId)}`,
    );
  }
  return chainId.replace(":", "-");
}

function shortIdOf(chainId: string): string {
  return digestBytes(`cairn-snapshot ${chainId}`).slice("sha256:".length, "sha256:".length + 16);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

function isStaleLease(lease: LeaseInfo): boolean {
  return lease.pid !== undefined && lease.hostname === hostname() && lease.pid !== process.pid
    ? !processAlive(lease.pid)
    : false;
}

async function exists(p: string): Promise<boolean> {
  return fs.promises.lstat(p).then(
    () => true,
    () => false,
  );
}

function ioError(e: unknown, what: string, where: string): CairnError {
  if (isCairnError(e)) return e;
  return new CairnError("E_IO", `cannot ${what} ${where}: ${(e as Error).message}`, {
    path: where,
    cause: e,
  });
}

function parseMeta(raw: string, where: string): SnapshotMeta {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw new CairnError("E_IO", `snapshot metadata ${where} is not JSON: ${(e as Error).message}`, {
      path: where,
    });
  }
  const m = v as Partial<SnapshotMeta>;
  const strings = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === "string");
  if (
    typeof v !== "object" ||
    v === null ||
    m.schemaVersion !== 1 ||
    typeof m.chainId !== "string" ||
    !isDigest(m.chainId) ||
    typeof m.diffId !== "string" ||
    !strings(m.whiteouts) ||
    !strings(m.opaques) ||
    typeof m.shortId !== "string" ||
    !/^[0-9a-f]{16}$/.test(m.shortId)
  ) {
    throw new CairnError("E_IO", `snapshot metadata ${where} is not a cairn snapshot record`, {
      path: where,
    });
  }
  return m as SnapshotMeta;
}

/**
 * Layers unpacked once each, keyed by chain ID, with leases as reference counts.
 *
 * @example
 * ```ts
 * const store = await SnapshotStore.open();
 * const chain = await store.prepare(image);     // unpacks only layers not there yet
 * const view = store.stack(chain.snapshots);    // or mount(image, dir)
 * await chain.release();
 * ```
 */
export class SnapshotStore {
  /** Layers this store object unpacked and found already unpacked, since it was opened. */
  readonly counters = { unpacked: 0, reused: 0 };

  private constructor(readonly root: string) {}

  /**
   * Opens (creating) a snapshot store; default `<defaultStoreDir()>/snapshots`.
   *
   * @example
   * ```ts
   * const store = await SnapshotStore.open("/var/lib/cairn/snapshots");
   * ```
   * @throws CairnError `E_IO` when the directories cannot be created
   */
  static async open(dir: string = path.join(defaultStoreDir(), "snapshots")): Promise<SnapshotStore> {
    const root = path.resolve(dir);
    try {
      for (const sub of ["snapshots", "l", "leases", "locks", "tmp", "mounts"]) {
        await mkdir(path.join(root, sub), { recursive: true, mode: 0o700 });
      }
    } catch (e) {
      throw ioError(e, "create the snapshot store at", root);
    }
    return new SnapshotStore(root);
  }

  /** Where mounts keep their upper and work directories. */
  get mountsDir(): string {
    return path.join(this.root, "mounts");
  }

  /** A fresh directory under the store's `tmp/`, named so `prune` knows its owner. */
  async tempDir(kind: string): Promise<string> {
    const dir = path.join(this.root, "tmp", `${kind}-${process.pid}-${randomBytes(6).toString("hex")}`);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  private snapshotDir(chainId: string): string {
    return path.join(this.root, "snapshots", snapshotKey(chainId));
  }

  private toSnapshot(dir: string, meta: SnapshotMeta): Snapshot {
    return {
      chainId: meta.chainId,
      diffId: meta.diffId,
      parent: meta.parent,
      path: dir,
      fsDir: path.join(dir, "fs"),
      shortPath: `l/${meta.shortId}`,
      meta,
    };
  }

  /**
   * The committed snapshot of `chainId`, or undefined.
   *
   * @example
   * ```ts
   * const snap = await store.get(chainId(diffIds));
   * ```
   */
  async get(chainId: string): Promise<Snapshot | undefined> {
    const dir = this.snapshotDir(chainId);
    const file = path.join(dir, "meta.json");
    let raw: string;
    try {
      raw = await readFile(file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw ioError(e, "read", file);
    }
    const meta = parseMeta(raw, file);
    if (meta.chainId !== chainId) {
      throw new CairnError("E_IO", `snapshot ${file} records chain ID ${meta.chainId}, expected ${chainId}`, {
        path: file,
      });
    }
    return this.toSnapshot(dir, meta);
  }

  /**
   * Every committed snapshot with its reference count.
   *
   * @example
   * ```ts
   * for (const s of await store.list()) console.log(s.chainId, s.refs);
   * ```
   */
  async list(): Promise<SnapshotInfo[]> {
    const leases = await this.leases();
    const out: SnapshotInfo[] = [];
    for (const name of (await readdir(path.join(this.root, "snapshots"))).sort()) {
      const chainId = name.replace("-", ":");
      if (!isDigest(chainId)) continue;
      const snap = await this.get(chainId).catch(() => undefined);
      if (!snap) continue;
      out.push({ ...snap, refs: leases.filter((l) => l.chainIds.includes(snap.chainId)).length });
    }
    return out;
  }

  /**
   * The number of leases referencing `chainId`.
   *
   * @example
   * ```ts
   * if ((await store.refs(id)) === 0) await store.remove(id);
   * ```
   */
  async refs(chainId: string): Promise<number> {
    return (await this.leases()).filter((l) => l.chainIds.includes(chainId as Digest)).length;
  }

  /**
   * Every lease in the store.
   *
   * @example
   * ```ts
   * console.table(await store.leases());
   * ```
   */
  async leases(): Promise<LeaseInfo[]> {
    const dir = path.join(this.root, "leases");
    const out: LeaseInfo[] = [];
    for (const name of await readdir(dir)) {
      if (!name.endsWith(".json")) continue;
      try {
        const v = JSON.parse(await readFile(path.join(dir, name), "utf8")) as LeaseInfo;
        if (typeof v.id === "string" && Array.isArray(v.chainIds)) out.push(v);
      } catch {
        // removed meanwhile, or being replaced: not a lease
      }
    }
    return out;
  }

  /**
   * Takes (or replaces) a lease on `chainIds`. With `process`, the lease dies with this process.
   *
   * @example
   * ```ts
   * await store.lease("build-42", ids, { label: "build 42" });
   * ```
   */
  async lease(
    id: string,
    chainIds: readonly Digest[],
    options: { label?: string; process?: boolean } = {},
  ): Promise<LeaseInfo> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) {
      throw new CairnError(
        "E_USAGE",
        `lease name ${JSON.stringify(id)}: expected letters, digits, ".", "_" or "-"`,
      );
    }
    const info: LeaseInfo = { id, chainIds: [...chainIds], created: new Date().toISOString() };
    if (options.process) {
      info.pid = process.pid;
      info.hostname = hostname();
    }
    if (options.label !== undefined) info.label = options.label;
    const file = path.join(this.root, "leases", `${id}.json`);
    const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      await writeFile(tmp, JSON.stringify(info));
      await rename(tmp, file);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw ioError(e, "write the lease", file);
    }
    return info;
  }

  /**
   * Drops a lease (nothing happens when it is not there).
   *
   * @example
   * ```ts
   * await store.release("build-42");
   * ```
   */
  async release(id: string): Promise<void> {
    await unlink(path.join(this.root, "leases", `${id}.json`)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") throw ioError(e, "remove the lease", id);
    });
  }

  /**
   * Makes sure every layer of `image` is unpacked, each into the snapshot of its chain ID, and
   * leases them. Layers already there are reused: an image sharing base layers with one
   * prepared before unpacks only its own. Concurrent prepares of one chain, in one process or
   * several, meet at a lock per chain ID: one unpacks, the others wait and reuse its work. A
   * layer that fails leaves no snapshot behind.
   *
   * @example
   * ```ts
   * const chain = await store.prepare(image, { onProgress: (e) => console.log(e.kind, e.chainId) });
   * console.log(`${chain.unpacked} unpacked, ${chain.reused} reused`);
   * ```
   * @throws CairnError `E_DIGEST_MISMATCH`, `E_LAYER_INVALID`, `E_LAYER_UNSAFE_PATH`, `E_LOCKED`, `E_ABORTED`, `E_IO`
   */
  async prepare(image: Image, options: PrepareOptions = {}): Promise<PreparedChain> {
    const [layers, config] = await Promise.all([image.layers(), image.config()]);
    const diffIds = config.rootfs.diff_ids as Digest[];
    if (layers.length !== diffIds.length) {
      throw new CairnError(
        "E_MANIFEST_INVALID",
        `the image has ${layers.length} layers but its config lists ${diffIds.length} diff IDs`,
      );
    }
    const ids = chainIds(diffIds);
    const leaseId = options.lease ?? `p-${process.pid}-${randomBytes(6).toString("hex")}`;
    await this.lease(leaseId, ids, {
      process: options.lease === undefined,
      ...(options.label !== undefined ? { label: options.label } : {}),
    });
    const chain: PreparedChain = {
      snapshots: [],
      lease: leaseId,
      unpacked: 0,
      reused: 0,
      release: () => this.release(leaseId),
    };
    try {
      for (let i = 0; i < layers.length; i++) {
        const { snapshot, unpacked } = await this.ensure(
          i,
          layers[i] as Layer,
          diffIds[i] as Digest,
          ids,
          chain.snapshots,
          options,
        );
        chain.snapshots.push(snapshot);
        if (unpacked) chain.unpacked++;
        else chain.reused++;
      }
    } catch (e) {
      await this.release(leaseId).catch(() => {});
      throw e;
    }
    return chain;
  }

  private async ensure(
    i: number,
    layer: Layer,
    diffId: Digest,
    ids: Digest[],
    lowers: Snapshot[],
    options: PrepareOptions,
  ): Promise<{ snapshot: Snapshot; unpacked: boolean }> {
    const chainId = ids[i] as Digest;
    const lockPath = path.join(this.root, "locks", `${snapshotKey(chainId)}.lock`);
    const lockOptions = { timeoutMs: LOCK_TIMEOUT_MS, ...(options.signal ? { signal: options.signal } : {}) };
    return withFileLock(
      lockPath,
      async () => {
        const found = await this.get(chainId);
        if (found) {
          this.counters.reused++;
          options.onProgress?.({ kind: "reused", chainId, layer: i, layers: ids.length });
          return { snapshot: found, unpacked: false };
        }
        options.onProgress?.({ kind: "unpacking", chainId, layer: i, layers: ids.length });
        const started = process.hrtime.bigint();
        const snapshot = await this.unpack(i, layer, diffId, ids, lowers, options);
        this.counters.unpacked++;
        options.onProgress?.({
          kind: "unpacked",
          chainId,
          layer: i,
          layers: ids.length,
          entries: snapshot.meta.entries,
          bytes: snapshot.meta.uncompressedBytes,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
        });
        return { snapshot, unpacked: true };
      },
      lockOptions,
    );
  }

  private async unpack(
    i: number,
    layer: Layer,
    diffId: Digest,
    ids: Digest[],
    lowers: Snapshot[],
    options: PrepareOptions,
  ): Promise<Snapshot> {
    const chainId = ids[i] as Digest;
    const rootless = options.rootless ?? process.getuid?.() !== 0;
    const tmp = await this.tempDir("unpack");
    try {
      const fsDir = path.join(tmp, "fs");
      await mkdir(fsDir, { mode: 0o755 });
      const stack = this.stack(lowers);
      const result = await applyImageLayer(layer, diffId, fsDir, options, {
        rootless,
        diff: { ...(i > 0 ? { lower: stack.asLower() } : {}), overlayMarkers: !rootless },
        ...(options.onProgress
          ? {
              onProgress: (p: ApplyProgress) =>
                options.onProgress?.({
                  kind: "apply",
                  chainId,
                  layer: i,
                  entries: p.entries,
                  bytes: p.bytes,
                }),
            }
          : {}),
      });
      const recorded = result.whiteouts ?? [];
      const meta: SnapshotMeta = {
        schemaVersion: 1,
        chainId,
        diffId,
        parent: i > 0 ? (ids[i - 1] as Digest) : null,
        whiteouts: recorded.filter((w) => w.kind === "whiteout").map((w) => w.path),
        opaques: recorded.filter((w) => w.kind === "opaque").map((w) => w.path),
        overlayMarkers: !rootless,
        rootless,
        shortId: shortIdOf(chainId),
        entries: result.entries,
        uncompressedBytes: result.uncompressedBytes,
        blob: {
          digest: layer.descriptor.digest,
          mediaType: layer.descriptor.mediaType,
          size: layer.descriptor.size,
        },
        created: new Date().toISOString(),
      };
      await writeFile(path.join(tmp, "meta.json"), JSON.stringify(meta, null, 2));
      const dir = this.snapshotDir(chainId);
      await rename(tmp, dir);
      await this.link(meta.shortId, snapshotKey(chainId));
      return this.toSnapshot(dir, meta);
    } catch (e) {
      await removeTree(tmp).catch(() => {});
      throw ioError(e, "unpack a layer into", this.snapshotDir(chainId));
    }
  }

  private async link(shortId: string, key: string): Promise<void> {
    const link = path.join(this.root, "l", shortId);
    const target = `../snapshots/${key}/fs`;
    const current = await fs.promises.readlink(link).catch(() => undefined);
    if (current === target) return;
    if (current !== undefined) await unlink(link).catch(() => {});
    await symlink(target, link).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "EEXIST") throw e;
    });
  }

  /**
   * The merged layers of a chain of snapshots (lowest first), for lookups and views.
   *
   * @example
   * ```ts
   * const stack = store.stack(chain.snapshots); stack.readdir("etc");
   * ```
   */
  stack(snapshots: readonly Snapshot[]): LayerStack {
    return new LayerStack(
      snapshots.map((s) => new DiskLayer(s.chainId, s.fsDir, s.meta.whiteouts, s.meta.opaques)),
    );
  }

  /**
   * Removes a snapshot. Refused with `E_IN_USE` while leases reference it, unless `force`.
   *
   * @example
   * ```ts
   * await store.remove(chainId);
   * ```
   * @throws CairnError `E_IN_USE`, `E_NOT_FOUND`, `E_IO`
   */
  async remove(chainId: string, options: RemoveSnapshotOptions = {}): Promise<void> {
    const removed = await this.removeIf(chainId, async () => {
      const refs = await this.refs(chainId);
      if (refs > 0 && !options.force) {
        throw new CairnError("E_IN_USE", `snapshot ${chainId} is referenced by ${refs} lease(s)`, {
          path: this.snapshotDir(chainId),
          details: { refs },
        });
      }
      return true;
    });
    if (!removed) throw new CairnError("E_NOT_FOUND", `no snapshot ${chainId} in ${this.root}`);
  }

  private async removeIf(chainId: string, decide: () => Promise<boolean>): Promise<boolean> {
    const lockPath = path.join(this.root, "locks", `${snapshotKey(chainId)}.lock`);
    return withFileLock(
      lockPath,
      async () => {
        const snap = await this.get(chainId).catch(() => undefined);
        const dir = this.snapshotDir(chainId);
        if (!snap && !(await exists(dir))) return false;
        if (!(await decide())) return false;
        const trash = path.join(this.root, "tmp", `remove-${process.pid}-${randomBytes(6).toString("hex")}`);
        await rename(dir, trash);
        if (snap) {
          const link = path.join(this.root, "l", snap.meta.shortId);
          await unlink(link).catch(() => {});
        }
        await removeTree(trash);
        return true;
      },
      { timeoutMs: LOCK_TIMEOUT_MS },
    );
  }

  /**
   * Removes every snapshot no lease references, leases of processes that are gone, and
   * temporary directories left by crashed unpacks.
   *
   * @example
   * ```ts
   * const { snapshots } = await store.prune(); console.log(`${snapshots.length} removed`);
   * ```
   */
  async prune(): Promise<PruneResult> {
    const result: PruneResult = { snapshots: [], leases: [], tempDirs: 0 };
    for (const lease of await this.leases()) {
      if (isStaleLease(lease)) {
        await this.release(lease.id);
        result.leases.push(lease.id);
      }
    }
    for (const snap of await this.list()) {
      if (snap.refs > 0) continue;
      const removed = await this.removeIf(snap.chainId, async () => (await this.refs(snap.chainId)) === 0);
      if (removed) result.snapshots.push(snap.chainId);
    }
    const tmp = path.join(this.root, "tmp");
    for (const name of await readdir(tmp)) {
      const m = /^[a-z]+-(\d+)-[0-9a-f]+$/.exec(name);
      const full = path.join(tmp, name);
      const st = await fs.promises.lstat(full).catch(() => undefined);
      if (!st) continue;
      const pid = m ? Number(m[1]) : undefined;
      const orphan = pid !== undefined ? pid !== process.pid && !processAlive(pid) : false;
      if (orphan || Date.now() - st.mtimeMs > TEMP_GRACE_MS) {
        await removeTree(full);
        result.tempDirs++;
      }
    }
    for (const name of await readdir(path.join(this.root, "l"))) {
      const link = path.join(this.root, "l", name);
      if (!(await exists(path.join(this.root, "l", name, ".")))) await rm(link, { force: true });
    }
    return result;
  }
}
