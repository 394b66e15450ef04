/**
 * `cairn-oci/manifest`: media types, descriptors, OCI manifests and indexes, Docker schema 2
 * manifests and lists, image configs, platforms, validation and conversion.
 */
export { isRfc3339DateTime, parseImageConfig } from "./config.js";
export {
  dockerConfigMediaType,
  dockerLayerMediaType,
  isLayerMediaType,
  type LayerCompression,
  layerCompression,
  ociConfigMediaType,
  ociLayerMediaType,
  type ToDockerOptions,
  toDockerManifest,
  toDockerManifestList,
  toOciIndex,
  toOciManifest,
} from "./convert.js";
export {
  decodeBase64Strict,
  isMediaTypeSyntax,
  isUriSyntax,
  parseDescriptor,
  validateDescriptor,
  validatePlatform,
} from "./descriptor.js";
export {
  detectMediaType,
  type ManifestKind,
  manifestKindOf,
  type ParsedManifest,
  parseManifest,
} from "./detect.js";
export type { JsonInput, ParseOptions } from "./json.js";
export {
  isConfigMediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  type KnownMediaType,
  MANIFEST_ACCEPT,
  MAX_MANIFEST_BYTES,
  MediaType,
} from "./media-types.js";
export {
  parseDockerManifest,
  parseDockerManifestList,
  parseImageLayoutHeader,
  parseOciIndex,
  parseOciManifest,
} from "./parse.js";
export {
  compatiblePlatforms,
  describePlatform,
  formatPlatform,
  hostPlatform,
  normalizePlatform,
  parsePlatform,
  platformFromNode,
  platformMatches,
  platformRank,
} from "./platform.js";
export { type ManifestListLike, selectManifest } from "./select.js";
export {
  canonicalManifestBytes,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DESCRIPTOR,
  EMPTY_CONFIG_DIGEST,
} from "./serialize.js";
export type {
  ContainerConfig,
  Descriptor,
  DockerManifest,
  DockerManifestList,
  HealthConfig,
  HistoryEntry,
  ImageConfig,
  ImageIndexManifest,
  ImageLayoutHeader,
  ImageManifest,
  OciIndex,
  OciManifest,
  Platform,
} from "./types.js";
