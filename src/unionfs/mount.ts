/**
 * Mounting an image: kernel overlayfs over the image's snapshots where it works (as root),
 * else a materialized copy. Every mount of one image shares the same lower snapshots; a
 * writable mount gets its own upper directory, whose changes become a layer with
 * {@link mountChanges}.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { mkdir, readdir, readFile, rmdir, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Digest } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import type { Image } from "../image/index.js";
import {
  type DiffTreesOptions,
  diffTrees,
  type FromOverlayUpperOptions,
  fromOverlayUpper,
  type LayerEntry,
} from "../layer/index.js";
import { type MaterializeWarning, materialize } from "./materialize.js";
import { removeTree } from "./remove-tree.js";
import { type PrepareOptions, type Snapshot, SnapshotStore } from "./snapshots.js";

/** How a mount was made. */
export type MountMethod = "overlay" | "bind" | "copy";

/** Options for {@link mount}. */
export interface MountOptions extends PrepareOptions {
  /** A writable mount gets an upper directory of its own (default false). */
  writable?: boolean;
  /** `"auto"` (default): overlayfs when it works here, else a copy. */
  method?: "auto" | "overlay" | "copy";
  /** The snapshot store (default: the default store's). */
  store?: SnapshotStore;
  onMaterializeWarning?: (warning: MaterializeWarning) => void;
}

/** A mounted image. */
export interface Mount {
  id: string;
  method: MountMethod;
  /** Where the merged tree is. */
  target: string;
  writable: boolean;
  /** Overlay, writable: where changes land, in overlayfs form (see {@link mountChanges}). */
  upperDir?: string;
  workDir?: string;
  /** The snapshot directories under the mount (or copied into it), top first. */
  lowerDirs: string[];
  /**
   * Copy, writable: a read-only merged tree of the image as mounted (hardlinks into the
   * snapshots), to diff the target against. Never write into it.
   */
  baseDir?: string;
  chainIds: Digest[];
  imageDigest: Digest;
  /** The lease that keeps the snapshots while mounted. */
  lease: string;
  storeRoot: string;
  /** True when `mount` created `target` (and `unmount` removes it). */
  createdTarget: boolean;
  created: string;
}

/** Options for {@link unmount}. */
export interface UnmountOptions {
  /** Keep the mount's upper/base directories (default false: everything goes). */
  keepChanges?: boolean;
  /** Detach a busy overlay mount lazily (`umount -l`). */
  lazy?: boolean;
}

// The kernel takes at most one page of mount options.
const MAX_MOUNT_OPTIONS = 4000;

function run(cmd: string, args: string[], cwd?: string): { ok: boolean; message: string } {
  const r = spawnSync(cmd, args, { cwd, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" });
  if (r.error) return { ok: false, message: r.error.message };
  return { ok: r.status === 0, message: (r.stderr || r.stdout || `exit ${r.status}`).trim() };
}

async function prepareTarget(target: string): Promise<boolean> {
  const st = await fs.promises.lstat(target).catch(() => undefined);
  if (!st) {
    await mkdir(target, { recursive: true, mode: 0o755 });
    return true;
  }
  if (!st.isDirectory() || (await readdir(target)).length > 0) {
    throw new CairnError("E_USAGE", `mount target ${target} must be an empty directory or not exist`, {
      path: target,
    });
  }
  return false;
}

function mountFile(store: string, id: string): string {
  return path.join(store, "mounts", id, "mount.json");
}

function overlayOptions(lowers: string[], upper?: string, work?: string, extra: string[] = []): string {
  const parts = [...extra, `lowerdir=${lowers.join(":")}`];
  if (upper && work) parts.push(`upperdir=${upper}`, `workdir=${work}`);
  return parts.join(",");
}

async function copyRootAttributes(from: string, to: string): Promise<void> {
  const st = await fs.promises.stat(from);
  if (process.getuid?.() === 0) await fs.promises.chown(to, st.uid, st.gid);
  await fs.promises.chmod(to, st.mode & 0o7777);
  await fs.promises.utimes(to, st.atime, st.mtime);
}

/** Tries an overlay (or, for one read-only layer, a bind) mount; undefined when it failed. */
function kernelMount(
  store: SnapshotStore,
  snapshots: Snapshot[],
  target: string,
  upper: string | undefined,
  work: string | undefined,
  empty: string,
): { method: MountMethod; message?: string } {
  // Short names relative to the store root keep the options under a page with many layers.
  const lowers =
    snapshots.length > 0
      ? [...snapshots].reverse().map((s) => s.shortPath)
      : [path.relative(store.root, empty)];
  if (!upper && lowers.length === 1) {
    const r = run("mount", ["--bind", "-o", "ro", path.join(store.root, lowers[0] as string), target]);
    return r.ok ? { method: "bind" } : { method: "copy", message: r.message };
  }
  const rel = (p?: string) => (p ? path.relative(store.root, p) : undefined);
  let message = "";
  for (const extra of [["redirect_dir=off", "metacopy=off"], []]) {
    const opts = overlayOptions(lowers, rel(upper), rel(work), upper ? extra : ["ro", ...extra]);
    if (opts.length > MAX_MOUNT_OPTIONS) {
      return {
        method: "copy",
        message: `${lowers.length} layers need ${opts.length} bytes of mount options`,
      };
    }
    const r = run("mount", ["-t", "overlay", "overlay", "-o", opts, target], store.root);
    if (r.ok) return { method: "overlay" };
    message = r.message;
  }
  return { method: "copy", message };
}

/**
 * Mounts an image's merged file system at `target` (an empty or missing directory). As root
 * with overlayfs, the image's snapshots are the lower directories (a single read-only layer
 * is bind-mounted); otherwise, or with `method: "copy"`, the tree is copied there (reflinks
 * where the file system supports them). Snapshots are leased until {@link unmount}.
 *
 * @example
 * ```ts
 * const m = await mount(image, "/tmp/rootfs", { writable: true });
 * // … run something in /tmp/rootfs …
 * const layer = await createLayer(mountChanges(m));
 * await unmount(m);
 * ```
 * @throws CairnError `E_USAGE` (target not empty), `E_IO` (the forced method failed), and what `prepare` throws
 */
export async function mount(image: Image, target: string, options: MountOptions = {}): Promise<Mount> {
  const { store: given, writable = false, method = "auto", onMaterializeWarning, ...prepare } = options;
  const store = given ?? (await SnapshotStore.open());
  const id = randomBytes(8).toString("hex");
  const abs = path.resolve(target);
  const createdTarget = await prepareTarget(abs);
  const dir = path.join(store.mountsDir, id);
  const lease = `mount-${id}`;
  await mkdir(dir, { mode: 0o700 });
  try {
    const chain = await store.prepare(image, { ...prepare, lease, label: `mount ${id} at ${abs}` });
    const snapshots = chain.snapshots;
    const m: Mount = {
      id,
      method: "copy",
      target: abs,
      writable,
      lowerDirs: [...snapshots].reverse().map((s) => s.fsDir),
      chainIds: snapshots.map((s) => s.chainId),
      imageDigest: await image.digest(),
      lease,
      storeRoot: store.root,
      createdTarget,
      created: new Date().toISOString(),
    };
    // overlayfs never honours an opaque root: layers below one are simply left out.
    const opaqueRoot = snapshots.findLastIndex((s) => s.meta.opaques.includes(""));
    const visible = opaqueRoot > 0 ? snapshots.slice(opaqueRoot) : snapshots;
    const canOverlay = process.getuid?.() === 0 && visible.every((s) => s.meta.overlayMarkers);
    let why = canOverlay ? "" : "overlayfs needs root and snapshots unpacked with privileges";
    if (method !== "copy" && canOverlay) {
      const empty = path.join(dir, "empty");
      if (visible.length === 0) await mkdir(empty);
      let upper: string | undefined;
      let work: string | undefined;
      if (writable) {
        upper = path.join(dir, "upper");
        work = path.join(dir, "work");
        await mkdir(upper, { mode: 0o755 });
        await mkdir(work, { mode: 0o700 });
        // The merged root takes its attributes from the upper directory's root.
        await copyRootAttributes(visible.at(-1)?.fsDir ?? empty, upper);
      }
      const r = kernelMount(store, visible, abs, upper, work, empty);
      if (r.method !== "copy") {
        m.method = r.method;
        m.lowerDirs = [...visible].reverse().map((s) => s.fsDir);
        if (upper && work) {
          m.upperDir = upper;
          m.workDir = work;
        }
      } else {
        why = r.message ?? "";
        if (upper) await removeTree(upper);
        if (work) await removeTree(work);
      }
    }
    if (m.method === "copy") {
      if (method === "overlay") {
        throw new CairnError("E_IO", `cannot mount ${abs} with overlayfs: ${why}`, { path: abs });
      }
      const stack = store.stack(snapshots);
      const warn = onMaterializeWarning ? { onWarning: onMaterializeWarning } : {};
      const rootless = prepare.rootless !== undefined ? { rootless: prepare.rootless } : {};
      await materialize(stack, abs, { files: "copy", ...warn, ...rootless });
      if (writable) {
        m.baseDir = path.join(dir, "base");
        await mkdir(m.baseDir, { mode: 0o755 });
        await materialize(stack, m.baseDir, { files: "link", xattrs: false, ...rootless });
      }
    }
    await writeFile(mountFile(store.root, id), JSON.stringify(m, null, 2));
    return m;
  } catch (e) {
    await store.release(lease).catch(() => {});
    await removeTree(dir).catch(() => {});
    if (createdTarget) await removeTree(abs).catch(() => {});
    else await emptyDir(abs).catch(() => {});
    if (isCairnError(e)) throw e;
    throw new CairnError("E_IO", `cannot mount the image at ${abs}: ${(e as Error).message}`, {
      path: abs,
      cause: e,
    });
  }
}

async function emptyDir(dir: string): Promise<void> {
  const base = Buffer.from(`${dir}/`);
  for (const name of await fs.promises.readdir(dir, { encoding: "buffer" })) {
    await removeTree(Buffer.concat([base, name]));
  }
}

function isMounted(target: string): boolean {
  const mounts = fs.readFileSync("/proc/self/mountinfo", "utf8");
  const escaped = target.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
  return mounts.split("\n").some((line) => line.split(" ")[4] === escaped);
}

/**
 * Reads back a mount made by {@link mount} (in this or another process) by its id.
 *
 * @example
 * ```ts
 * const m = await loadMount(store, "3f2a…");
 * ```
 * @throws CairnError `E_NOT_FOUND`
 */
export async function loadMount(store: SnapshotStore, id: string): Promise<Mount> {
  if (!/^[0-9a-f]{16}$/.test(id)) throw new CairnError("E_NOT_FOUND", `no mount ${JSON.stringify(id)}`);
  try {
    return JSON.parse(await readFile(mountFile(store.root, id), "utf8")) as Mount;
  } catch {
    throw new CairnError("E_NOT_FOUND", `no mount ${id} in ${store.root}`);
  }
}

/**
 * Every mount recorded in a store.
 *
 * @example
 * ```ts
 * for (const m of await listMounts(store)) console.log(m.id, m.method, m.target);
 * ```
 */
export async function listMounts(store: SnapshotStore): Promise<Mount[]> {
  const out: Mount[] = [];
  for (const id of await readdir(store.mountsDir)) {
    const m = await loadMount(store, id).catch(() => undefined);
    if (m) out.push(m);
  }
  return out;
}

/**
 * Unmounts (or removes the copy), removes the mount's own directories and drops its lease.
 * The snapshots stay, shared, until pruned.
 *
 * @example
 * ```ts
 * await unmount(m);
 * ```
 * @throws CairnError `E_IO` when the kernel refuses (busy: try `lazy`)
 */
export async function unmount(m: Mount, options: UnmountOptions = {}): Promise<void> {
  if (m.method === "overlay" || m.method === "bind") {
    if (isMounted(m.target)) {
      const r = run("umount", options.lazy ? ["-l", m.target] : [m.target]);
      if (!r.ok) throw new CairnError("E_IO", `cannot unmount ${m.target}: ${r.message}`, { path: m.target });
    }
    if (m.createdTarget) await rmdir(m.target).catch(() => {});
  } else if (m.createdTarget) {
    await removeTree(m.target);
  } else {
    await emptyDir(m.target).catch(() => {});
  }
  const dir = path.join(m.storeRoot, "mounts", m.id);
  if (options.keepChanges) await fs.promises.unlink(path.join(dir, "mount.json")).catch(() => {});
  else await removeTree(dir);
  const store = await SnapshotStore.open(m.storeRoot);
  await store.release(m.lease);
}

/**
 * The changes made in a writable mount, as the entries of a layer (whiteouts for deletions):
 * from the overlay upper directory, or for a copy, the difference from the image's tree.
 *
 * @example
 * ```ts
 * const created = await createLayer(mountChanges(m), { sourceDateEpoch: 0 });
 * ```
 * @throws CairnError `E_USAGE` for a read-only mount
 */
export async function* mountChanges(
  m: Mount,
  options: FromOverlayUpperOptions & DiffTreesOptions = {},
): AsyncGenerator<LayerEntry> {
  if (!m.writable)
    throw new CairnError("E_USAGE", `mount ${m.id} at ${m.target} is read-only: it has no changes`);
  if (m.method === "overlay" && m.upperDir) {
    yield* fromOverlayUpper(m.upperDir, options);
    return;
  }
  if (m.baseDir) {
    yield* diffTrees(m.baseDir, m.target, options);
    return;
  }
  throw new CairnError("E_USAGE", `mount ${m.id} at ${m.target} keeps no record of its changes`);
}
