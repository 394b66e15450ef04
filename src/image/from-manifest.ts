import { type Digest, digestBytes, verifyBytes } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import {
  type Descriptor,
  type ImageConfig,
  type ImageIndexManifest,
  type ImageManifest,
  MAX_MANIFEST_BYTES,
  MediaType,
  type Platform,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectManifest,
} from "../manifest/index.js";
import { checkLayerCount, layerFromReader } from "./layer.js";
import { LENIENT } from "./lenient.js";
import type { BlobReader, Image, ImageIndex, Layer } from "./types.js";

/** Largest config blob cairn reads into memory. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;

/** Reads a small blob in full and checks it against its descriptor. */
export async function readVerified(
  reader: BlobReader,
  d: Descriptor,
  maxBytes: number,
  where: string,
): Promise<Uint8Array> {
  const bytes = await reader.readAll(d, maxBytes);
  verifyBytes(bytes, { digest: d.digest, size: d.size, source: where });
  return bytes;
}

function isImageConfigType(mediaType: string): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn();
    return p;
  };
}

/** What the manifest bytes parsed into: an image manifest or an index. */
function parseImageManifest(raw: Uint8Array, mediaType: string | undefined, where: string): ImageManifest {
  const parsed = parseManifest(raw, mediaType, LENIENT);
  if (parsed.kind !== "oci-manifest" && parsed.kind !== "docker-manifest") {
    throw new CairnError("E_MANIFEST_INVALID", `${where}: expected an image manifest, found ${parsed.kind}`);
  }
  return parsed.value as ImageManifest;
}

/**
 * A lazy {@link Image} over exact manifest bytes and a {@link BlobReader}: the config and layers
 * are read only when asked, and every read is verified.
 *
 * @example
 * ```ts
 * const image = imageFromManifest(rawBytes, { open, readAll });
 * console.log((await image.config()).architecture);
 * ```
 */
export function imageFromManifest(
  raw: Uint8Array,
  reader: BlobReader,
  options: { mediaType?: string; platform?: Platform; where?: string } = {},
): Image {
  const digest = digestBytes(raw);
  const where = options.where ?? `image ${digest}`;
  const manifest = parseImageManifest(raw, options.mediaType, where);
  const mediaType = manifest.mediaType ?? MediaType.ociManifest;
  const rawConfig = once(() => readVerified(reader, manifest.config, MAX_CONFIG_BYTES, `config of ${where}`));
  const config = once(async () => parseImageConfig(await rawConfig()) as ImageConfig);
  const layers = once(async (): Promise<Layer[]> => {
    if (!isImageConfigType(manifest.config.mediaType)) {
      // an artifact: its "layers" are plain blobs with no diff IDs to check against
      return manifest.layers.map((d) => layerFromReader(reader, d));
    }
    const cfg = await config();
    const diffIds = cfg.rootfs.diff_ids;
    checkLayerCount(manifest.layers.length, diffIds.length, where);
    return manifest.layers.map((d, i) => layerFromReader(reader, d, diffIds[i]));
  });
  const descriptor: Descriptor = {
    mediaType,
    digest,
    size: raw.length,
    ...(options.platform ? { platform: options.platform } : {}),
  };
  return {
    mediaType: async () => mediaType,
    manifest: async () => manifest,
    rawManifest: async () => raw,
    rawConfig,
    config,
    layers,
    digest: async () => digest,
    descriptor: async () => descriptor,
  };
}

/**
 * A lazy {@link ImageIndex} over exact index bytes and a {@link BlobReader}.
 *
 * @example
 * ```ts
 * const index = indexFromManifest(rawBytes, reader);
 * const amd64 = await index.image("linux/amd64");
 * ```
 */
export function indexFromManifest(
  raw: Uint8Array,
  reader: BlobReader,
  options: { mediaType?: string; where?: string } = {},
): ImageIndex {
  const digest = digestBytes(raw);
  const where = options.where ?? `index ${digest}`;
  const parsed = parseManifest(raw, options.mediaType, LENIENT);
  if (parsed.kind !== "oci-index" && parsed.kind !== "docker-manifest-list") {
    throw new CairnError("E_MANIFEST_INVALID", `${where}: expected an index, found ${parsed.kind}`);
  }
  const manifest = parsed.value as ImageIndexManifest;
  const mediaType = manifest.mediaType ?? MediaType.ociIndex;
  const readChild = (d: Descriptor) => readVerified(reader, d, MAX_MANIFEST_BYTES, `${where} -> ${d.digest}`);
  const pick = (which: Descriptor | Platform | string): Descriptor => {
    if (typeof which === "string") {
      if (which.includes(":") && which.startsWith("sha")) return findChild(manifest, which as Digest, where);
      return selectManifest(manifest, parsePlatform(which));
    }
    if ("digest" in which) return findChild(manifest, which.digest, where);
    return selectManifest(manifest, which);
  };
  const index: ImageIndex = {
    mediaType: async () => mediaType,
    manifest: async () => manifest,
    rawManifest: async () => raw,
    digest: async () => digest,
    descriptor: async () => ({ mediaType, digest, size: raw.length }),
    async image(which) {
      const d = pick(which);
      return imageFromManifest(await readChild(d), reader, {
        mediaType: d.mediaType,
        ...(d.platform ? { platform: d.platform } : {}),
        where: `${where} -> ${d.digest}`,
      });
    },
    async index(which) {
      const d = findChild(manifest, which.digest, where);
      return indexFromManifest(await readChild(d), reader, {
        mediaType: d.mediaType,
        where: `${where} -> ${d.digest}`,
      });
    },
  };
  return index;
}

function findChild(manifest: ImageIndexManifest, digest: Digest, where: string): Descriptor {
  const d = manifest.manifests.find((m) => m.digest === digest);
  if (!d) throw new CairnError("E_NOT_FOUND", `${where}: no manifest ${digest} in this index`);
  return d;
}
