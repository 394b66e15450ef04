/**
 * `cairn-oci/runtime`: running containers. One {@link Runtime} interface with adapters for runc
 * and crun (OCI bundles), bubblewrap and chroot; OCI runtime-spec generation from image configs
 * (the image spec's conversion rules); user resolution from a rootfs's /etc/passwd and
 * /etc/group; and {@link runImage}, which runs an image over its shared snapshots.
 */
export { BwrapRuntime, type BwrapRuntimeOptions } from "./bwrap.js";
export { ChrootRuntime, type ChrootRuntimeOptions } from "./chroot.js";
export { CrunRuntime } from "./crun.js";
export { type DetectOptions, detectRuntime, getRuntime, isRuntimeName, requireRuntime } from "./detect.js";
export { type CgroupLayout, cgroupLayout, userNamespacesBlocked } from "./host.js";
export { decodeExit, shellExitStatus } from "./launch.js";
export {
  buildOciSpec,
  DEFAULT_CAPABILITIES,
  defaultMounts,
  type ImageProcess,
  type ImageRunOverrides,
  type ImageToOciOptions,
  imageAnnotations,
  imageConfigToOciSpec,
  imageProcess,
  MASKED_PATHS,
  OCI_RUNTIME_VERSION,
  type OciMount,
  type OciRuntimeSpec,
  type OciSpecInput,
  ociMount,
  READONLY_PATHS,
  volumeMounts,
} from "./oci-spec.js";
export {
  DEFAULT_HOSTNAME,
  DEFAULT_PATH,
  normalizeEnv,
  type PreparedMount,
  type PreparedRun,
  prepareRun,
} from "./prepare.js";
export { type RunImageOptions, type RunImageResult, runImage } from "./run-image.js";
export { type OciRuntimeOptions, RuncRuntime } from "./runc.js";
export {
  type Availability,
  type BindMount,
  type ContainerMount,
  type NetworkMode,
  type OutputSink,
  RUNTIME_NAMES,
  type RunIo,
  type RunResult,
  type RunSpec,
  type Runtime,
  type RuntimeName,
  type RunUser,
  type StdinSource,
  type TmpfsMount,
} from "./types.js";
export {
  type GroupEntry,
  MAX_ID,
  type PasswdEntry,
  parseGroup,
  parsePasswd,
  type ResolvedUser,
  resolveUser,
} from "./users.js";
