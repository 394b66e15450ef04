/**
 * Squashing an image into one layer: the merged tree, read through a union view of its
 * snapshots, written as a single layer under the same config.
 */
import { unlink } from "node:fs/promises";
import type { Image } from "../image/index.js";
import { appendLayers, imageFromParts, imageParts, layerFromCreated } from "../image/index.js";
import { type CreateLayerOptions, createLayer } from "../layer/index.js";
import type { HistoryEntry } from "../manifest/index.js";
import { type OpenViewOptions, UnionView } from "./view.js";

/** Options for {@link flatten}. */
export interface FlattenOptions
  extends OpenViewOptions,
    Pick<CreateLayerOptions, "compression" | "level" | "sourceDateEpoch" | "tmpDir" | "output"> {
  /** The history entry of the single layer (default: `created_by: "cairn flatten"`). */
  history?: HistoryEntry;
}

/** A flattened image; its one layer blob is a file until {@link FlattenedImage.dispose} removes it. */
export interface FlattenedImage extends Image {
  /** Where the layer blob was written. */
  readonly layerFile: string;
  /** Removes the layer blob file (write the image somewhere first). */
  dispose(): Promise<void>;
}

/**
 * An image equivalent to `image` with all its layers squashed into one: same config (entry
 * point, env, …) with a single diff ID and a single history entry.
 *
 * @example
 * ```ts
 * const flat = await flatten(image, { sourceDateEpoch: 0 });
 * await writeLocal(flat, "oci:./flat:latest");
 * await flat.dispose();
 * ```
 * @throws CairnError what `prepare` and `createLayer` throw
 */
export async function flatten(image: Image, options: FlattenOptions = {}): Promise<FlattenedImage> {
  const { compression, level, sourceDateEpoch, tmpDir, output, history, ...open } = options;
  const layers = (await image.layers()).length;
  const view = await UnionView.open(image, open);
  let created: Awaited<ReturnType<typeof createLayer>>;
  try {
    created = await createLayer(view.entries(), {
      ...(compression !== undefined ? { compression } : {}),
      ...(level !== undefined ? { level } : {}),
      ...(sourceDateEpoch !== undefined ? { sourceDateEpoch } : {}),
      ...(tmpDir !== undefined ? { tmpDir } : {}),
      ...(output !== undefined ? { output } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } finally {
    await view.close();
  }
  const parts = await imageParts(image);
  parts.layers = [];
  parts.config.rootfs = { ...parts.config.rootfs, diff_ids: [] };
  parts.config.history = [];
  const entry: HistoryEntry = history ?? {
    created_by: "cairn flatten",
    comment: `${layers} layer(s) of ${await image.digest()} squashed into one`,
  };
  if (sourceDateEpoch !== undefined && entry.created === undefined) {
    entry.created = (
      sourceDateEpoch instanceof Date ? sourceDateEpoch : new Date(sourceDateEpoch * 1000)
    ).toISOString();
  }
  const flat = await appendLayers(imageFromParts(parts), {
    layer: layerFromCreated(created),
    history: entry,
  });
  const file = created.path as string;
  return {
    ...flat,
    layerFile: file,
    dispose: () => unlink(file).catch(() => {}),
  };
}
