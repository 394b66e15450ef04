import type { Readable } from "node:stream";
import type { Digest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import type { Layer, ReadOptions } from "../image/index.js";
import {
  type ApplyLayerOptions,
  type ApplyLayerResult,
  type ApplyWarning,
  applyLayer,
  compressionOfMediaType,
} from "../layer/index.js";

async function* withExactSize(
  source: Readable,
  size: number,
  where: string,
): AsyncGenerator<Uint8Array, void, undefined> {
  let seen = 0;
  const mismatch = (found: string | number) =>
    new CairnError(
      "E_SIZE_MISMATCH",
      `size mismatch reading ${where}: expected ${size} bytes, found ${found}`,
      {
        details: { expected: size, actual: found },
      },
    );
  try {
    for await (const chunk of source as AsyncIterable<Uint8Array>) {
      seen += chunk.length;
      if (seen > size) throw mismatch(`more than ${size}`);
      yield chunk;
    }
  } finally {
    if (!source.destroyed) source.destroy();
  }
  if (seen !== size) throw mismatch(seen);
}

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
    return withExactSize(await layer.openUnverified(options), d.size, `layer ${d.digest}`);
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
