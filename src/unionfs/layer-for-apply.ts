import { type Digest, sizeCheckedChunks } from "../digest/index.js";
import type { Layer, ReadOptions } from "../image/index.js";
import {
  type ApplyLayerOptions,
  type ApplyLayerResult,
  type ApplyWarning,
  applyLayer,
  compressionOfMediaType,
} from "../layer/index.js";

/**
 * A layer's blob, opened to be applied with `expectedDiffId: diffId`. When the layer is
 * uncompressed and its diff ID is its digest, the apply's own diff ID check hashes exactly the
 * bytes the blob verification would (the apply refuses bytes that are compressed after all),
 * so they are hashed once and only their size is checked here;
 * every other layer is verified against its descriptor as it is read.
 *
 * @example
 * ```ts
 * await applyLayer(await layerForApply(layer, diffId), dir, { mediaType: layer.descriptor.mediaType, expectedDiffId: diffId });
 * ```
 */
export async function layerForApply(
  layer: Layer,
  diffId: Digest,
  options: ReadOptions = {},
): Promise<AsyncIterable<Uint8Array> & object> {
  const d = layer.descriptor;
  if (layer.openUnverified && diffId === d.digest && compressionOfMediaType(d.mediaType) === "none") {
    const blob = await layer.openUnverified(options);
    return sizeCheckedChunks(blob, { digest: d.digest, size: d.size, source: `layer ${d.digest}` });
  }
  return layer.open(options);
}

/** The options of an unpack that each of its `applyLayer` calls gets: size limit, warnings, signal. */
export interface PassedApplyOptions {
  maxUncompressedBytes?: number;
  onWarning?: (warning: ApplyWarning) => void;
  signal?: AbortSignal;
}

/**
 * Applies one layer of an image to `dir`, checked against its diff ID: `applyLayer` over
 * {@link layerForApply}, with the unpack's `passed` options and the caller's `own` ones.
 *
 * @example
 * ```ts
 * await applyImageLayer(layer, diffIds[i], dir, options, { rootless: true });
 * ```
 */
export async function applyImageLayer(
  layer: Layer,
  diffId: Digest,
  dir: string,
  passed: PassedApplyOptions,
  own: Omit<ApplyLayerOptions, "mediaType" | "expectedDiffId" | keyof PassedApplyOptions>,
): Promise<ApplyLayerResult> {
  const bytes = await layerForApply(layer, diffId, passed.signal ? { signal: passed.signal } : {});
  return applyLayer(bytes, dir, {
    ...own,
    mediaType: layer.descriptor.mediaType,
    expectedDiffId: diffId,
    ...(passed.maxUncompressedBytes !== undefined
      ? { maxUncompressedBytes: passed.maxUncompressedBytes }
      : {}),
    ...(passed.onWarning ? { onWarning: passed.onWarning } : {}),
    ...(passed.signal ? { signal: passed.signal } : {}),
  });
}
