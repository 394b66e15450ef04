/**
 * `cairn-oci/unionfs`: images as file systems. Snapshots of unpacked layers keyed by chain ID
 * (each layer unpacked once and shared), overlayfs mounts or a copy fallback, a read-only
 * union view, and the merged tree as a directory, a tar or a single layer.
 */
export { chainId, chainIds } from "./chain-id.js";
export { DiskLayer, nodeInfo } from "./disk-layer.js";
export { type ExportImageOptions, type ExportResult, exportImage } from "./export.js";
export { type FlattenedImage, type FlattenOptions, flatten } from "./flatten.js";
export { layerForApply } from "./layer-for-apply.js";
export {
  type MaterializeOptions,
  type MaterializeResult,
  type MaterializeWarning,
  materialize,
} from "./materialize.js";
export {
  listMounts,
  loadMount,
  type Mount,
  type MountMethod,
  type MountOptions,
  mount,
  mountChanges,
  type UnmountOptions,
  unmount,
} from "./mount.js";
export {
  type LeaseInfo,
  type PreparedChain,
  type PrepareOptions,
  type PruneResult,
  type RemoveSnapshotOptions,
  type Snapshot,
  type SnapshotInfo,
  type SnapshotMeta,
  type SnapshotProgress,
  SnapshotStore,
  snapshotKey,
} from "./snapshots.js";
export {
  type LayerContent,
  LayerStack,
  type MergedNode,
  type NodeInfo,
  type NodeType,
  viewPath,
} from "./stack.js";
export { indexLayerTars, type TarIndexOptions, TarLayer } from "./tar-layer.js";
export { type UnpackImageOptions, type UnpackProgress, type UnpackResult, unpackImage } from "./unpack.js";
export {
  type OpenViewOptions,
  type ReadViewFileOptions,
  type UnionStat,
  UnionView,
  type WalkViewOptions,
} from "./view.js";
