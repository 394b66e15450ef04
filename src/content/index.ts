/**
 * The content module: the {@link ContentStore} interface and the OCI image layout store, with
 * locking, atomic writes, gc and fsck.
 */
export { removeStaleTempFiles, writeFileAtomic } from "./atomic.js";
export { defaultStoreDir, openDefaultStore, type StoreEnv } from "./default-store.js";
export type { FsckOptions, FsckResult, GcOptions, GcResult } from "./gc.js";
export { emptyIndex, isRefName, LAYOUT_VERSION, REF_NAME_ANNOTATION } from "./index-file.js";
export {
  INDEX_FILE,
  INDEX_LOCK_FILE,
  type IndexUpdateOptions,
  OCI_LAYOUT_FILE,
  OciLayout,
  type OpenLayoutOptions,
  TEMP_DIR,
} from "./layout.js";
export { acquireFileLock, type FileLock, type LockInfo, type LockOptions, withFileLock } from "./lock.js";
export type {
  BlobInfo,
  ContentStore,
  OpenBlobOptions,
  PutOptions,
  PutSource,
  ReadAllOptions,
} from "./types.js";
export { type BlobRef, isManifestMediaType, type ManifestLinks, manifestLinks } from "./walk.js";
