export { mapLimit } from "./concurrency.js";
export { type DockerArchive, type DockerArchiveEntry, openDockerArchive } from "./docker-archive-read.js";
export { type DockerArchiveImage, writeDockerArchive } from "./docker-archive-write.js";
export { imageFromManifest, indexFromManifest, MAX_CONFIG_BYTES, readVerified } from "./from-manifest.js";
export { emptyImage, type ImageParts, imageFromParts, imageParts, jsonBytes } from "./from-parts.js";
export {
  type CreatedLayerFile,
  type LayerSource,
  layerFromBytes,
  layerFromCreated,
  layerFromFile,
  layerFromReader,
  layerFromSource,
  withMediaType,
} from "./layer.js";
export { ImageLayout, type LayoutWriteOptions, storeBlobReader } from "./layout.js";
export { findInStore, openLocal, storeName, type WriteLocalOptions, writeLocal } from "./local.js";
export {
  appendLayers,
  applyConfigChanges,
  type ConfigChanges,
  type LayerAddition,
  setAnnotations,
  setConfig,
  setCreated,
  toOci,
} from "./mutate.js";
export { indexTar, type TarIndex, type TarMember } from "./tar-index.js";
export { formatImageLocation, type ImageLocation, parseImageLocation } from "./transport.js";
export {
  type BlobReader,
  type Image,
  type ImageIndex,
  isImageIndex,
  type Layer,
  type ReadOptions,
} from "./types.js";
