/**
 * `cairn-oci/layer`: layer tars and blobs. Read and write tar (USTAR, PAX, GNU), gzip/zstd
 * by magic number, deterministic layer creation, safe application with OCI whiteouts,
 * tree diffs and overlayfs upper-dir conversion.
 */
export {
  type ApplyLayerOptions,
  type ApplyLayerResult,
  type ApplyProgress,
  type ApplyWarning,
  type ApplyWarningCode,
  applyLayer,
  type DiffApplyOptions,
  type RecordedWhiteout,
  unpackLayerAtomic,
} from "./apply.js";
export { BACKGROUND_MAX_FILE, type BackgroundFile, BackgroundWriter } from "./background-writer.js";
export {
  ByteLimit,
  type Compression,
  type CompressOptions,
  compressionOfMediaType,
  compressStream,
  DEFAULT_MAX_UNCOMPRESSED_BYTES,
  decompressStream,
  detectCompression,
  layerMediaType,
  type OpenLayerOptions,
  openLayerStream,
} from "./compression.js";
export { type CreatedLayer, type CreateLayerOptions, createLayer, sortEntries } from "./create.js";
export { type DiffTreesOptions, diffTrees } from "./diff.js";
export {
  type ContentSource,
  cleanEntryPath,
  type LayerEntry,
  type LayerEntryType,
  OPAQUE_MARKER,
  opaqueEntry,
  WHITEOUT_PREFIX,
  whiteoutEntry,
} from "./entry.js";
export { compareNames, comparePaths, decodeName, encodeName, fsPath } from "./names.js";
export { type FromOverlayUpperOptions, fromOverlayUpper } from "./overlay.js";
export { type ParallelGzipOptions, parallelGzipAvailable, parallelGzipStream } from "./parallel-gzip.js";
export { cleanName, type LowerEntry, type LowerLayers, type UnsafePathPolicy } from "./safe-path.js";
export { makeDevice, makeFifo } from "./special-files.js";
export type { TarErrorKind, TarFormat } from "./tar-header.js";
export {
  type ContentSegment,
  type ReadTarOptions,
  readTar,
  type TarEntry,
  type TarEntryType,
  type TarHeader,
} from "./tar-read.js";
export type { SparseMap, SparseSegment } from "./tar-sparse.js";
export { type HeaderFields, headerFieldsOf, type PackTarOptions, packTar } from "./tar-write.js";
export { deviceNumbers, type TreeWarning, type WalkOptions, walkTree } from "./tree.js";
export { parseWhiteout, type WhiteoutKind } from "./whiteout.js";
export {
  isOverlayXattr,
  readTreeXattrs,
  writeXattrs,
  type XattrAssignment,
  type Xattrs,
  xattrTools,
} from "./xattr.js";
export { zstdBackend, zstdDecompressStream } from "./zstd.js";
