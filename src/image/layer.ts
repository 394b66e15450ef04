import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { PassThrough, type Readable } from "node:stream";
import { type Digest, digestOf, VerifyingStream } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { detectCompression, openLayerStream } from "../layer/index.js";
import { type Descriptor, layerCompression, MediaType } from "../manifest/index.js";
import type { BlobReader, Layer, ReadOptions } from "./types.js";

/** Pipes `source` through a verifier; errors on either side reach the returned stream. */
export function verified(
  source: Readable,
  expected: { digest: string; size?: number; source?: string },
): Readable {
  const verifier = new VerifyingStream(expected);
  source.on("error", (e) => verifier.destroy(e));
  verifier.on("close", () => {
    if (!source.destroyed) source.destroy();
  });
  return source.pipe(verifier);
}

/** How a layer's bytes are found. */
export interface LayerSource {
  descriptor: Descriptor;
  /** The diff ID when the config names it; computed on demand otherwise. */
  diffId?: Digest;
  /** Opens the blob's raw bytes (not yet verified). */
  open(options?: ReadOptions): Promise<Readable>;
  /** Where the blob comes from, for error messages. */
  where?: string;
}

/**
 * A {@link Layer} over any byte source: verifies the blob against its descriptor and the
 * uncompressed tar against its diff ID while they are read.
 *
 * @example
 * ```ts
 * const layer = layerFromSource({ descriptor, diffId, open: () => Promise.resolve(fs.createReadStream(p)) });
 * ```
 */
export function layerFromSource(src: LayerSource): Layer {
  let diff: Promise<Digest> | undefined = src.diffId ? Promise.resolve(src.diffId) : undefined;
  const where = src.where ?? `layer ${src.descriptor.digest}`;
  const layer: Layer = {
    descriptor: src.descriptor,
    openUnverified: (options) => src.open(options),
    async open(options) {
      const raw = await src.open(options);
      return verified(raw, { digest: src.descriptor.digest, size: src.descriptor.size, source: where });
    },
    diffId() {
      if (!diff) {
        diff = (async () => {
          if (layerCompression(src.descriptor.mediaType) === "none") return src.descriptor.digest;
          return digestOf(openLayerStream(await layer.open(), { mediaType: src.descriptor.mediaType }));
        })();
      }
      return diff;
    },
    async openUncompressed(options) {
      const tar = openLayerStream(await layer.open(options), { mediaType: src.descriptor.mediaType });
      if (!src.diffId) return tar;
      return verified(tar, { digest: src.diffId, source: `uncompressed ${where}` });
    },
  };
  return layer;
}

/** A {@link Layer} whose blob is read through a {@link BlobReader}. */
export function layerFromReader(reader: BlobReader, descriptor: Descriptor, diffId?: Digest): Layer {
  return layerFromSource({
    descriptor,
    ...(diffId ? { diffId } : {}),
    // The layer verifies what it reads: the reader need not hash it too.
    open: (options) =>
      reader.openUnverified ? reader.openUnverified(descriptor, options) : reader.open(descriptor, options),
  });
}

/** A {@link Layer} over bytes in memory (small layers, tests, generated content). */
export function layerFromBytes(bytes: Uint8Array, descriptor: Descriptor, diffId?: Digest): Layer {
  return layerFromSource({
    descriptor,
    ...(diffId ? { diffId } : {}),
    open: async () => {
      const s = new PassThrough();
      s.end(bytes);
      return s;
    },
    where: "in-memory layer",
  });
}

/** Fails unless the config lists one diff ID per layer. */
export function checkLayerCount(layers: number, diffIds: number, where: string): void {
  if (layers !== diffIds) {
    throw new CairnError(
      "E_MANIFEST_INVALID",
      `${where}: the manifest lists ${layers} layers but the config's rootfs.diff_ids has ${diffIds}`,
    );
  }
}

/** The same layer described with another media type of the same bytes (e.g. Docker <-> OCI names). */
export function withMediaType(layer: Layer, mediaType: string): Layer {
  if (layer.descriptor.mediaType === mediaType) return layer;
  return {
    descriptor: { ...layer.descriptor, mediaType },
    diffId: () => layer.diffId(),
    open: (o) => layer.open(o),
    openUncompressed: (o) => layer.openUncompressed(o),
    ...(layer.openUnverified ? { openUnverified: (o?: ReadOptions) => layer.openUnverified!(o) } : {}),
  };
}

/**
 * A {@link Layer} over a tar file on disk (plain, gzip or zstd, detected from its first bytes):
 * hashes the file once to describe it; the diff ID is computed when first asked.
 *
 * @example
 * ```ts
 * const layer = await layerFromFile("rootfs.tar.gz");
 * ```
 */
export async function layerFromFile(
  file: string,
  options: { mediaType?: string; diffId?: Digest } = {},
): Promise<Layer> {
  const head = Buffer.alloc(4);
  const fh = await open(file, "r");
  let size: number;
  try {
    size = (await fh.stat()).size;
    await fh.read(head, 0, 4, 0);
  } finally {
    await fh.close();
  }
  const compression = detectCompression(head);
  const mediaType =
    options.mediaType ??
    (compression === "gzip"
      ? MediaType.ociLayerGzip
      : compression === "zstd"
        ? MediaType.ociLayerZstd
        : MediaType.ociLayer);
  const openFile = async () => createReadStream(file, { highWaterMark: 1 << 20 });
  const digest = await digestOf(await openFile());
  return layerFromSource({
    descriptor: { mediaType, digest, size },
    ...(options.diffId ? { diffId: options.diffId } : {}),
    open: openFile,
    where: file,
  });
}

/** What {@link layerFromCreated} needs: the output of `createLayer` with a file path. */
export interface CreatedLayerFile {
  descriptor: Descriptor;
  diffId: Digest;
  path?: string;
}

/**
 * A {@link Layer} over a blob `createLayer` wrote to a file, without hashing it again.
 *
 * @example
 * ```ts
 * const layer = layerFromCreated(await createLayer("./rootfs", { sourceDateEpoch: 0 }));
 * ```
 */
export function layerFromCreated(created: CreatedLayerFile): Layer {
  const file = created.path;
  if (!file) {
    throw new CairnError(
      "E_USAGE",
      "layerFromCreated needs a layer written to a file (createLayer without `sink`)",
    );
  }
  return layerFromSource({
    descriptor: created.descriptor,
    diffId: created.diffId,
    open: async () => createReadStream(file, { highWaterMark: 1 << 20 }),
    where: file,
  });
}
