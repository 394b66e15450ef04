/**
 * `cairn-oci/build`: Dockerfile builds. The plan from the dockerfile module executed into an
 * image: COPY/ADD computed as layers without unpacking anything, RUN through an injected runtime
 * over shared snapshots, a per-step cache in the store, reproducible digests, and outputs to the
 * store, OCI layouts, docker-archives and registries.
 */
export { archiveKind, type Download, downloadTree, downloadUrl, unpackArchive } from "./add-remote.js";
export { BaseResolver, type BaseResolverOptions, type ResolvedBase } from "./base.js";
export {
  type BuildOptions,
  type BuildResult,
  type BuildStepReport,
  build,
  planImageBuild,
} from "./build.js";
export { cacheKeyOf, StepCache, type StepCacheEntry } from "./cache.js";
export { type ModeChange, parseModeChange } from "./chmod.js";
export { applyConfigStep, type ConfigState, canonicalConfig } from "./config-steps.js";
export { QUIET_MS, StoredContextDigests } from "./context-digests.js";
export { ContextTree, type InlineFileSpec, InlineTree } from "./context-tree.js";
export {
  type CopySource,
  type CopyToLayerOptions,
  type CopyToLayerResult,
  copyToLayer,
  mkdirLayer,
} from "./copy.js";
export { type CopyStepContext, copyDestination, copyStepEntries } from "./copy-step.js";
export { ExplainRecord, explainMiss, type StepInputs, stepInputs } from "./explain.js";
export { compileElement, matchSources } from "./glob.js";
export {
  goDuration,
  goHealthcheck,
  goList,
  goPortMap,
  goQuoteList,
  goQuoteRune,
  HISTORY_COMMENT,
  historyEntry,
  runCreatedBy,
} from "./history.js";
export { ImageTree } from "./image-tree.js";
export { type WriteOutputsOptions, writeOutputs } from "./outputs.js";
export { type BuildProgressEvent, ProgressReporter, plainProgress, Vertex } from "./progress.js";
export {
  type BuildRunMount,
  type BuildRunSpec,
  type BuildRuntime,
  type BuildSecret,
  type RunStepContext,
  runStep,
} from "./run-step.js";
export { StageState } from "./stage-state.js";
export {
  baseName,
  joinRel,
  parentRel,
  pathParts,
  resolveInTree,
  type SourceTree,
  type TreeNode,
} from "./tree.js";
export { type Owner, type ReadRootFile, resolveOwner } from "./users.js";
