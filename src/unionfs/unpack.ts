/**
 * The merged root file system of an image in a plain directory, like `umoci unpack`'s rootfs:
 * by applying the layers in order (default), or from the image's snapshots.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { mkdir, readdir, rename, rmdir } from "node:fs/promises";
import path from "node:path";
import type { Digest } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import type { Image, Layer } from "../image/index.js";
import type { ApplyWarning, UnsafePathPolicy } from "../layer/index.js";
import { applyImageLayer } from "./layer-for-apply.js";
import { type MaterializeWarning, materialize } from "./materialize.js";
import { removeTree } from "./remove-tree.js";
import type { SnapshotProgress, SnapshotStore } from "./snapshots.js";

/** Progress of {@link unpackImage}. */
export type UnpackProgress =
  | { kind: "layer"; layer: number; layers: number; digest: string }
  | { kind: "apply"; layer: number; entries: number; bytes: number }
  | SnapshotProgress;

/** Options for {@link unpackImage}. */
export interface UnpackImageOptions {
  /** No chown, no device nodes (default: not root). */
  rootless?: boolean;
  unsafePaths?: UnsafePathPolicy;
  /** Apply `SCHILY.xattr.*` attributes (default true). */
  xattrs?: boolean;
  maxUncompressedBytes?: number;
  /**
   * Build the tree from this snapshot store instead: the image is prepared there first (only
   * layers not unpacked before are), then its merged tree is copied (reflinks where possible).
   */
  store?: SnapshotStore;
  onWarning?: (warning: ApplyWarning | MaterializeWarning) => void;
  onProgress?: (event: UnpackProgress) => void;
  signal?: AbortSignal;
}

/** What {@link unpackImage} did. */
export interface UnpackResult {
  method: "apply" | "snapshots";
  layers: number;
  /** Tar entries applied (`apply`) or tree entries written (`snapshots`). */
  entries: number;
}

async function claimTarget(dir: string): Promise<boolean> {
  const st = await fs.promises.lstat(dir).catch(() => undefined);
  if (!st) return false;
  if (!st.isDirectory() || (await readdir(dir)).length > 0) {
    throw new CairnError("E_USAGE", `unpack target ${dir} must be an empty directory or not exist`, {
      path: dir,
    });
  }
  return true;
}

/**
 * Unpacks the merged file system of `image` into `dir` (empty or missing). The tree is built
 * in a temporary sibling directory and renamed into place: a failing layer leaves nothing.
 *
 * @example
 * ```ts
 * await unpackImage(await openLocal("oci:./busybox:latest") as Image, "./rootfs");
 * ```
 * @throws CairnError `E_USAGE`, `E_DIGEST_MISMATCH`, `E_LAYER_INVALID`, `E_LAYER_UNSAFE_PATH`, `E_IO`, `E_ABORTED`
 */
export async function unpackImage(
  image: Image,
  dir: string,
  options: UnpackImageOptions = {},
): Promise<UnpackResult> {
  const target = path.resolve(dir);
  const existed = await claimTarget(target);
  await mkdir(path.dirname(target), { recursive: true });
  const tmp = `${target}.tmp-${randomBytes(6).toString("hex")}`;
  await mkdir(tmp, { mode: 0o755 });
  try {
    const result = options.store
      ? await fromSnapshots(image, tmp, options.store, options)
      : await byApplying(image, tmp, options);
    if (existed) await rmdir(target);
    await rename(tmp, target);
    return result;
  } catch (e) {
    await removeTree(tmp).catch(() => {});
    if (isCairnError(e)) throw e;
    throw new CairnError("E_IO", `cannot unpack the image into ${target}: ${(e as Error).message}`, {
      path: target,
      cause: e,
    });
  }
}

async function byApplying(image: Image, dir: string, options: UnpackImageOptions): Promise<UnpackResult> {
  const [layers, config] = await Promise.all([image.layers(), image.config()]);
  const diffIds = config.rootfs.diff_ids as Digest[];
  if (layers.length !== diffIds.length) {
    throw new CairnError(
      "E_MANIFEST_INVALID",
      `the image has ${layers.length} layers but its config lists ${diffIds.length} diff IDs`,
    );
  }
  let entries = 0;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i] as Layer;
    options.onProgress?.({ kind: "layer", layer: i, layers: layers.length, digest: layer.descriptor.digest });
    const r = await applyImageLayer(layer, diffIds[i] as Digest, dir, options, {
      ...(options.rootless !== undefined ? { rootless: options.rootless } : {}),
      ...(options.unsafePaths !== undefined ? { unsafePaths: options.unsafePaths } : {}),
      ...(options.xattrs !== undefined ? { xattrs: options.xattrs } : {}),
      ...(options.onProgress
        ? {
            onProgress: (p) =>
              options.onProgress?.({ kind: "apply", layer: i, entries: p.entries, bytes: p.bytes }),
          }
        : {}),
    });
    entries += r.entries;
  }
  return { method: "apply", layers: layers.length, entries };
}

async function fromSnapshots(
  image: Image,
  dir: string,
  store: SnapshotStore,
  options: UnpackImageOptions,
): Promise<UnpackResult> {
  const chain = await store.prepare(image, {
    ...(options.rootless !== undefined ? { rootless: options.rootless } : {}),
    ...(options.maxUncompressedBytes !== undefined
      ? { maxUncompressedBytes: options.maxUncompressedBytes }
      : {}),
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  try {
    const r = await materialize(store.stack(chain.snapshots), dir, {
      files: "copy",
      ...(options.rootless !== undefined ? { rootless: options.rootless } : {}),
      ...(options.xattrs !== undefined ? { xattrs: options.xattrs } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return { method: "snapshots", layers: chain.snapshots.length, entries: r.entries };
  } finally {
    await chain.release();
  }
}
