/**
 * `cairn-oci/dockerfile`: a BuildKit-compatible Dockerfile parser, variable expansion,
 * instruction checks, `.dockerignore` matching and the build plan.
 */
export {
  PLATFORM_ARG_NAMES,
  PROXY_ARG_NAMES,
  platformArgs,
  proxyArgs,
  resolveGlobalArgs,
} from "./args.js";
export type { Directive, DockerfileAst, Heredoc, Instruction, ParseWarning } from "./ast.js";
export {
  type ContextDigestCache,
  type ContextEntry,
  type ContextIndex,
  type ContextSourceDigest,
  contextFilePath,
  contextRelative,
  digestContextSource,
  hasWildcard,
  indexContext,
} from "./context.js";
export { matchDirective, trimContinuation } from "./directives.js";
export {
  cleanPath,
  createIgnoreMatcher,
  type IgnoreMatcher,
  locateDockerignore,
  parseDockerignore,
  readDockerignore,
} from "./dockerignore.js";
export { formatBuildkitDump } from "./dump.js";
export { dockerfileError, type SourceLocation } from "./errors.js";
export {
  expandWord,
  expandWords,
  type ShellEnv,
  ShellLexer,
  type ShellLexerOptions,
  type ShellWordResult,
} from "./expand.js";
export { type FlagKind, type FlagSpec, type FlagValues, parseFlags } from "./flags.js";
export { formatPlan } from "./format-plan.js";
export { goQuote } from "./go-text.js";
export {
  chompHeredocContent,
  type HeredocHeader,
  heredocsFromLine,
  parseHeredocWord,
} from "./heredoc.js";
export {
  type AddInstruction,
  type ArgDefinition,
  type ArgInstruction,
  type CmdInstruction,
  type CommandLine,
  type CopyInstruction,
  type DockerfileStages,
  type EntrypointInstruction,
  type EnvInstruction,
  type ExposeInstruction,
  type FromInstruction,
  type HealthcheckInstruction,
  type InlineFile,
  type InstructionSource,
  type KeyValue,
  type LabelInstruction,
  type MaintainerInstruction,
  type OnbuildInstruction,
  parseInstruction,
  parseStages,
  type RunInstruction,
  type ShellInstruction,
  type StageDefinition,
  type StageInstruction,
  type StopSignalInstruction,
  type TypedInstruction,
  type UserInstruction,
  type VolumeInstruction,
  type WorkdirInstruction,
} from "./instructions.js";
export { parseJsonArray, parseWords, splitCommand } from "./line-parsers.js";
export { parseRunMount, type RunMount, type RunMountType } from "./mounts.js";
export { MAX_LINE_BYTES, type ParseDockerfileOptions, parseDockerfile } from "./parse.js";
export {
  type BuildPlan,
  type PlanBase,
  type PlanBuildOptions,
  type PlanSource,
  type PlanStage,
  type PlanStep,
  planBuild,
  type ResolvedBaseImage,
  type StageConfig,
  type StageDependency,
} from "./plan.js";
export {
  type ExposeSpec,
  parseChmod,
  parseExposePort,
  parseGoDuration,
  parseRetries,
  parseStopSignal,
  ValueError,
} from "./values.js";
