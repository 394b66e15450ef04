import { digestBytes } from "../digest/index.js";
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  MediaType,
  type Platform,
  parseImageConfig,
  parseManifest,
} from "../manifest/index.js";
import { checkLayerCount } from "./layer.js";
import { LENIENT } from "./lenient.js";
import type { Image, Layer } from "./types.js";

const encoder = new TextEncoder();

/** The bytes cairn writes for a JSON document it creates: compact, keys in the order given. */
export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** What an in-memory image is made of. */
export interface ImageParts {
  /** The manifest; its `config` and `layers` are recomputed from `config` and `layers`. */
  manifest: ImageManifest;
  config: ImageConfig;
  /** The config's exact bytes, when they must be kept (e.g. to keep an image ID); must parse to `config`. */
  rawConfig?: Uint8Array;
  layers: Layer[];
  platform?: Descriptor["platform"];
}

/**
 * An {@link Image} assembled in memory from a manifest template, a config and layers: the config
 * and manifest bytes are serialized here, the layers stay lazy (no layer bytes are copied).
 *
 * @example
 * ```ts
 * const image = imageFromParts({ manifest, config, layers: [await someLayer] });
 * ```
 */
export function imageFromParts(parts: ImageParts): Image {
  checkLayerCount(parts.layers.length, parts.config.rootfs.diff_ids.length, "new image");
  const rawConfig = parts.rawConfig ?? jsonBytes(parts.config);
  parseImageConfig(rawConfig);
  const docker = parts.manifest.mediaType === MediaType.dockerManifest;
  const configDescriptor: Descriptor = {
    mediaType: parts.manifest.config.mediaType ?? (docker ? MediaType.dockerConfig : MediaType.ociConfig),
    digest: digestBytes(rawConfig),
    size: rawConfig.length,
  };
  const manifest = {
    ...parts.manifest,
    config: configDescriptor,
    layers: parts.layers.map((l) => l.descriptor),
  } as ImageManifest;
  const rawManifest = jsonBytes(manifest);
  parseManifest(rawManifest, manifest.mediaType ?? MediaType.ociManifest, LENIENT);
  const digest = digestBytes(rawManifest);
  const mediaType = manifest.mediaType ?? MediaType.ociManifest;
  return {
    mediaType: async () => mediaType,
    manifest: async () => manifest,
    rawManifest: async () => rawManifest,
    config: async () => parts.config,
    rawConfig: async () => rawConfig,
    layers: async () => parts.layers,
    digest: async () => digest,
    descriptor: async () => ({
      mediaType,
      digest,
      size: rawManifest.length,
      ...(parts.platform ? { platform: parts.platform } : {}),
    }),
  };
}

/** Loads an image's parts (manifest, config, layers) so they can be edited. */
export async function imageParts(image: Image): Promise<ImageParts> {
  const [manifest, config, layers, descriptor] = await Promise.all([
    image.manifest(),
    image.config(),
    image.layers(),
    image.descriptor(),
  ]);
  return {
    manifest: structuredClone(manifest),
    config: structuredClone(config),
    layers: [...layers],
    ...(descriptor.platform ? { platform: descriptor.platform } : {}),
  };
}

/**
 * An image with no layers and a minimal config for `platform` (default linux/amd64): the start
 * for assembling an image without a Dockerfile, like `FROM scratch`.
 *
 * @example
 * ```ts
 * const image = await appendLayers(emptyImage({ os: "linux", architecture: "arm64" }), layer);
 * ```
 */
export function emptyImage(platform: Platform = { os: "linux", architecture: "amd64" }): Image {
  const config: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    config: {},
    rootfs: { type: "layers", diff_ids: [] },
    history: [],
  };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: `sha256:${"0".repeat(64)}`, size: 0 },
    layers: [],
  };
  return imageFromParts({ manifest, config, layers: [] });
}
