/**
 * The build plan: a Dockerfile turned into stages and steps with every value expanded, the
 * stage graph, the stages the target needs, and per step the inputs of its cache key. Pure
 * data (JSON-printable); nothing is run.
 */
import path from "node:path";
import { type Digest, digestBytes } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import {
  type ContainerConfig,
  formatPlatform,
  type HealthConfig,
  hostPlatform,
  normalizePlatform,
  type Platform,
  parsePlatform,
} from "../manifest/index.js";
import { parseReference } from "../reference/index.js";
import { PLATFORM_ARG_NAMES, PROXY_ARG_NAMES, platformArgs, proxyArgs, resolveGlobalArgs } from "./args.js";
import type { DockerfileAst } from "./ast.js";
import {
  type ContextDigestCache,
  type ContextIndex,
  digestContextSource,
  hasWildcard,
  indexContext,
} from "./context.js";
import {
  createIgnoreMatcher,
  type IgnoreMatcher,
  locateDockerignore,
  parseDockerignore,
} from "./dockerignore.js";
import { type ShellEnv, ShellLexer } from "./expand.js";
import { parseHeredocWord } from "./heredoc.js";
import {
  type AddInstruction,
  type CopyInstruction,
  healthConfigOf,
  type InstructionSource,
  instructionError,
  parseStages,
  type StageDefinition,
  type StageInstruction,
} from "./instructions.js";
import { parseRunMount, type RunMount } from "./mounts.js";
import { parseDockerfile } from "./parse.js";
import { parseChmod, parseExposePort, parseStopSignal, ValueError } from "./values.js";

/** What the planner may learn about a base image (e.g. from a registry), to start its stage from. */
export interface ResolvedBaseImage {
  /** The manifest digest the reference resolved to; it becomes part of the cache keys. */
  digest?: string;
  /** The image's config: ENV, WORKDIR, USER, SHELL, CMD, … carry into the stage. */
  config?: ContainerConfig;
}

/** Options for {@link planBuild}. */
export interface PlanBuildOptions {
  /** The Dockerfile text or bytes, or an already parsed AST. */
  dockerfile: string | Uint8Array | DockerfileAst;
  /** The Dockerfile's path relative to the context (default `Dockerfile`), for `<name>.dockerignore`. */
  dockerfileName?: string;
  /** The build context directory; when given, COPY/ADD sources are looked up and digested. */
  context?: string;
  /** The stage to build (by name); default the last stage. */
  target?: string;
  /** `--build-arg` values. */
  buildArgs?: Readonly<Record<string, string>>;
  /** The platform to build for (default: this host's). */
  platform?: string | Platform;
  /** The platform the build runs on (default: this host's). */
  buildPlatform?: string | Platform;
  /** `.dockerignore` text or patterns; default: read from the context. */
  dockerignore?: string | readonly string[];
  /** Called with the context's index (after `.dockerignore`) once the planner has walked it. */
  onContextIndex?: (index: ContextIndex) => void;
  /** Digests of context files remembered from earlier builds, by stat fingerprint. */
  contextDigests?: ContextDigestCache;
  /** Looks up a base image (digest and config); without it base images are taken as unknown. */
  resolveImage?: (reference: string, platform: Platform) => Promise<ResolvedBaseImage | undefined>;
}

/** Where a stage starts from. */
export type PlanBase =
  | { kind: "scratch" }
  | { kind: "image"; image: string; reference: string; digest?: string }
  | { kind: "stage"; stage: number; stageName?: string };

/** An edge of the stage graph. */
export interface StageDependency {
  via: "FROM" | "COPY --from" | "RUN --mount";
  line: number;
  stage?: number;
  image?: string;
}

/** A COPY/ADD source and what it resolved to. */
export type PlanSource =
  | { kind: "context"; path: string; matched?: string[]; entries?: number; digest?: Digest }
  | { kind: "stage"; stage: number; stageName?: string; path: string }
  | { kind: "image"; image: string; path: string }
  | { kind: "url"; url: string; checksum?: string }
  | { kind: "git"; url: string }
  | { kind: "inline"; name: string; size: number; digest: Digest };

/** One step of a stage. */
export interface PlanStep {
  index: number;
  /** The instruction with every expandable value expanded. */
  instruction: StageInstruction;
  /** RUN: the argv that runs (SHELL prepended for shell form). */
  argv?: string[];
  /** RUN: the environment (ENV and ARG values in effect). */
  environment?: Record<string, string>;
  /** RUN: undeclared proxy build args, passed to the command but not part of the cache key. */
  proxyEnv?: Record<string, string>;
  /** RUN: the mounts with their values expanded. */
  mounts?: RunMount[];
  /** COPY/ADD: the sources. */
  sources?: PlanSource[];
  workingDir: string;
  user?: string;
  /** RUN, COPY and ADD produce a filesystem layer. */
  createsLayer: boolean;
  parent: Digest;
  cacheKey: Digest;
}

/** A stage's image config as its last step leaves it. */
export interface StageConfig {
  env: string[];
  workingDir: string;
  user?: string;
  shell?: string[];
  cmd?: string[];
  entrypoint?: string[];
  labels: Record<string, string>;
  exposedPorts: string[];
  volumes: string[];
  stopSignal?: string;
  healthcheck?: HealthConfig;
  onBuild: string[];
  maintainer?: string;
}

/** One stage of the plan. */
export interface PlanStage {
  index: number;
  name?: string;
  base: PlanBase;
  platform: string;
  from: InstructionSource;
  dependsOn: StageDependency[];
  steps: PlanStep[];
  /** ARGs declared in the stage and the values they took. */
  args: Record<string, string>;
  config: StageConfig;
  /** The key of the stage's result (its last step, or its base). */
  cacheKey: Digest;
}

/** The whole plan. */
export interface BuildPlan {
  target: { stage: number; name?: string };
  platform: string;
  buildPlatform: string;
  /** Global ARG values usable in FROM lines (automatic platform ARGs included). */
  globalArgs: Record<string, string>;
  /** `--build-arg` names no ARG consumed. */
  unusedBuildArgs: string[];
  /** The stages the target needs, dependencies first. */
  stages: PlanStage[];
  /** Stages the target does not need. */
  skippedStages: Array<{ index: number; name?: string }>;
  dockerignore: { file?: string; patterns: string[] };
  warnings: Array<{ line?: number; message: string }>;
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const FROM_VARIABLES =
  "variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround";

/** JSON with object keys sorted, for hashing. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

function keyOf(value: unknown): Digest {
  return digestBytes(canonicalJson(value));
}

function toPlatform(p: string | Platform | undefined, what: string): Platform {
  if (p === undefined) return normalizePlatform(hostPlatform());
  if (typeof p === "string") return parsePlatform(p);
  if (typeof p !== "object" || p === null)
    throw new CairnError("E_USAGE", `expected ${what} as "os/arch[/variant]"`);
  return normalizePlatform(p);
}

class Expander {
  private readonly lexer: ShellLexer;
  private readonly splitter: ShellLexer;
  private readonly raw: ShellLexer;
  constructor(escapeToken: string) {
    this.lexer = new ShellLexer({ escapeToken });
    this.splitter = new ShellLexer({ escapeToken });
    this.raw = new ShellLexer({
      escapeToken: "\\",
      skipProcessQuotes: true,
      rawQuotes: true,
      rawEscapes: true,
    });
  }
  private wrap<T>(source: InstructionSource, word: string, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (!isCairnError(err)) throw err;
      throw instructionError(source, err.message, { near: word, cause: err });
    }
  }
  word(source: InstructionSource, word: string, env: ShellEnv): string {
    return this.wrap(source, word, () => this.lexer.expand(word, env));
  }
  words(source: InstructionSource, word: string, env: ShellEnv): string[] {
    return this.wrap(source, word, () => this.splitter.split(word, env));
  }
  heredoc(source: InstructionSource, text: string, env: ShellEnv): string {
    return this.wrap(source, text, () => this.raw.expand(text, env));
  }
}

function valueCheck<T>(source: InstructionSource, value: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof ValueError)) throw err;
    throw instructionError(source, err.message, {
      expected: err.expected,
      found: JSON.stringify(value),
      near: value,
    });
  }
}

interface StageInfo {
  def: StageDefinition;
  name?: string;
  image: string;
  base: PlanBase;
  platform: Platform;
  deps: StageDependency[];
}

interface StageState {
  env: Map<string, string>;
  configEnv: Map<string, string>;
  args: Map<string, string>;
  config: StageConfig;
  cmdSet: boolean;
}

function emptyConfig(): StageConfig {
  return { env: [], workingDir: "/", labels: {}, exposedPorts: [], volumes: [], onBuild: [] };
}

function configFromImage(config: ContainerConfig | undefined): StageConfig {
  const out = emptyConfig();
  if (!config) return out;
  out.env = [...(config.Env ?? [])];
  if (config.WorkingDir) out.workingDir = config.WorkingDir;
  if (config.User) out.user = config.User;
  if (config.Shell) out.shell = [...config.Shell];
  if (config.Cmd) out.cmd = [...config.Cmd];
  if (config.Entrypoint) out.entrypoint = [...config.Entrypoint];
  out.labels = { ...(config.Labels ?? {}) };
  out.exposedPorts = Object.keys(config.ExposedPorts ?? {}).sort();
  out.volumes = Object.keys(config.Volumes ?? {}).sort();
  if (config.StopSignal) out.stopSignal = config.StopSignal;
  if (config.Healthcheck) out.healthcheck = { ...config.Healthcheck };
  return out;
}

function envMap(env: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const e of env) {
    const eq = e.indexOf("=");
    if (eq < 0) m.set(e, "");
    else m.set(e.slice(0, eq), e.slice(eq + 1));
  }
  return m;
}

function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

function isGit(s: string): boolean {
  return /^git@|^git:\/\/|^ssh:\/\//.test(s) || (/^https?:\/\//i.test(s) && /\.git(#.*)?$/.test(s));
}

/** Builds the plan; see {@link planBuild}. */
class Planner {
  private readonly warnings: BuildPlan["warnings"] = [];
  private readonly declaredArgs = new Set<string>();
  private readonly results = new Map<number, PlanStage>();
  private contextIndex: ContextIndex | undefined;
  private ignore: IgnoreMatcher | undefined;
  private ignoreInfo: BuildPlan["dockerignore"] = { patterns: [] };
  private expander!: Expander;
  private globals = new Map<string, string>();

  constructor(private readonly opts: PlanBuildOptions) {}

  async run(): Promise<BuildPlan> {
    const opts = this.opts;
    const ast =
      typeof opts.dockerfile === "string" || opts.dockerfile instanceof Uint8Array
        ? parseDockerfile(opts.dockerfile)
        : opts.dockerfile;
    for (const w of ast.warnings) this.warnings.push({ line: w.line, message: w.message });
    this.expander = new Expander(ast.escapeToken);
    const buildArgs = opts.buildArgs ?? {};
    const target = toPlatform(opts.platform, "the platform");
    const build = toPlatform(opts.buildPlatform, "the build platform");
    const defs = parseStages(ast);
    const global = resolveGlobalArgs(
      defs.globalArgs,
      buildArgs,
      platformArgs(build, target),
      (word, env, ins) => this.expander.word(ins.source, word, env),
    );
    this.globals = global.values;
    for (const k of global.declared) this.declaredArgs.add(k);

    const infos = this.describeStages(defs.stages, target);
    const targetIndex = this.targetIndex(infos);
    const order = this.dependencyOrder(infos, targetIndex);
    await this.loadContext();

    for (const index of order)
      this.results.set(index, await this.planStage(infos[index] as StageInfo, buildArgs));

    const needed = new Set(order);
    const proxies = new Set<string>(PROXY_ARG_NAMES);
    const automatic = new Set<string>(PLATFORM_ARG_NAMES);
    const unusedBuildArgs = Object.keys(buildArgs)
      .filter((k) => !this.declaredArgs.has(k) && !proxies.has(k) && !automatic.has(k))
      .sort();
    const targetInfo = infos[targetIndex] as StageInfo;
    return {
      target:
        targetInfo.name === undefined
          ? { stage: targetIndex }
          : { stage: targetIndex, name: targetInfo.name },
      platform: formatPlatform(target),
      buildPlatform: formatPlatform(build),
      globalArgs: Object.fromEntries(this.globals),
      unusedBuildArgs,
      stages: order.map((i) => this.results.get(i) as PlanStage),
      skippedStages: infos
        .filter((s) => !needed.has(s.def.index))
        .map((s) => (s.name === undefined ? { index: s.def.index } : { index: s.def.index, name: s.name })),
      dockerignore: this.ignoreInfo,
      warnings: this.warnings,
    };
  }

  private describeStages(defs: StageDefinition[], target: Platform): StageInfo[] {
    const infos: StageInfo[] = [];
    const byName = new Map<string, number>();
    for (const def of defs) {
      const from = def.from;
      const image = this.expander.word(from.source, from.image, this.globals);
      if (image === "") {
        throw instructionError(from.source, `base name (${from.image}) should not be blank`, {
          expected: "an image reference, a stage name or scratch",
          near: from.image,
        });
      }
      let base: PlanBase;
      const stageIndex = byName.get(image.toLowerCase());
      if (stageIndex !== undefined) {
        const ref = infos[stageIndex] as StageInfo;
        base =
          ref.name === undefined
            ? { kind: "stage", stage: stageIndex }
            : { kind: "stage", stage: stageIndex, stageName: ref.name };
      } else if (image === "scratch") {
        base = { kind: "scratch" };
      } else {
        base = {
          kind: "image",
          image,
          reference: this.reference(from.source, image, "failed to parse stage name"),
        };
      }
      let platform = base.kind === "stage" ? (infos[base.stage] as StageInfo).platform : target;
      if (from.platform !== undefined) {
        const written = this.expander.word(from.source, from.platform, this.globals);
        try {
          platform = parsePlatform(written);
        } catch (err) {
          if (!isCairnError(err)) throw err;
          throw instructionError(from.source, `failed to parse platform ${written}: ${err.message}`, {
            expected: '--platform=os/arch[/variant], e.g. "linux/arm64"',
            near: from.platform,
            cause: err,
          });
        }
      }
      const info: StageInfo = { def, image, base, platform, deps: [] };
      if (from.stageName !== undefined) {
        if (byName.has(from.stageName)) {
          throw instructionError(from.source, `duplicate stage name ${JSON.stringify(from.stageName)}`, {
            expected: "each stage name used once",
            near: from.stageName,
          });
        }
        info.name = from.stageName;
        byName.set(from.stageName, def.index);
      }
      if (base.kind === "stage")
        info.deps.push({ via: "FROM", line: from.source.startLine, stage: base.stage });
      infos.push(info);
    }
    const allNames = new Map(
      infos.filter((i) => i.name !== undefined).map((i) => [i.name as string, i.def.index]),
    );
    for (const info of infos) this.collectDeps(info, infos, allNames);
    return infos;
  }

  private reference(source: InstructionSource, image: string, what: string): string {
    try {
      return parseReference(image).toString();
    } catch (err) {
      if (!isCairnError(err)) throw err;
      throw instructionError(
        source,
        `${what} ${JSON.stringify(image)}: invalid reference format: ${err.message}`,
        {
          expected: "an image reference such as alpine:3.20 or the name of a stage",
          near: image,
          cause: err,
        },
      );
    }
  }

  private collectDeps(info: StageInfo, infos: StageInfo[], names: Map<string, number>): void {
    for (const ins of info.def.instructions) {
      if (ins.kind === "COPY" && ins.from !== undefined) {
        const from = ins.from;
        const unchanged = new ShellLexer({ escapeToken: "\\" });
        let literal: string;
        try {
          literal = unchanged.expand(from, {});
        } catch {
          literal = `${from}\u0000`;
        }
        if (literal !== from) {
          throw instructionError(ins.source, FROM_VARIABLES, { found: JSON.stringify(from), near: from });
        }
        info.deps.push({
          via: "COPY --from",
          line: ins.source.startLine,
          ...this.resolveFrom(ins, from, infos, names),
        });
      } else if (ins.kind === "RUN") {
        for (const m of ins.mounts) {
          let mount: RunMount;
          try {
            mount = parseRunMount(m);
          } catch (err) {
            if (!(err instanceof ValueError)) throw err;
            continue; // checked again, expanded, when the step is planned
          }
          if (mount.from === undefined || mount.type === "tmpfs") continue;
          const stage = names.get(mount.from.toLowerCase());
          if (stage !== undefined) info.deps.push({ via: "RUN --mount", line: ins.source.startLine, stage });
          else {
            this.reference(ins.source, mount.from, "failed to parse stage name");
            info.deps.push({ via: "RUN --mount", line: ins.source.startLine, image: mount.from });
          }
        }
      }
    }
  }

  private resolveFrom(
    ins: CopyInstruction,
    from: string,
    infos: StageInfo[],
    names: Map<string, number>,
  ): { stage: number } | { image: string } {
    if (/^[+-]?[0-9]+$/.test(from)) {
      const n = Number(from);
      if (n < 0 || n >= infos.length) {
        throw instructionError(ins.source, `invalid stage index ${from}`, {
          expected: `a stage index from 0 to ${infos.length - 1} or a stage name`,
          near: from,
        });
      }
      return { stage: n };
    }
    const stage = names.get(from.toLowerCase());
    if (stage !== undefined) return { stage };
    this.reference(ins.source, from, "invalid from flag value");
    return { image: from };
  }

  private targetIndex(infos: StageInfo[]): number {
    const target = this.opts.target;
    if (target === undefined || target === "") return infos.length - 1;
    const found = infos.find((i) => i.name === target.toLowerCase());
    if (!found) {
      const known = infos.filter((i) => i.name !== undefined).map((i) => i.name);
      throw new CairnError("E_USAGE", `target stage ${JSON.stringify(target)} could not be found`, {
        details: {
          target,
          stages: known,
          expected: known.length > 0 ? `one of ${known.join(", ")}` : "a named stage",
        },
      });
    }
    return found.def.index;
  }

  private dependencyOrder(infos: StageInfo[], targetIndex: number): number[] {
    const order: number[] = [];
    const state = new Map<number, "visiting" | "done">();
    const visit = (i: number) => {
      const s = state.get(i);
      if (s === "done") return;
      const info = infos[i] as StageInfo;
      if (s === "visiting") {
        throw instructionError(
          info.def.from.source,
          `circular dependency detected on stage: ${info.name ?? i}`,
          {
            expected: "stages that do not depend on themselves through COPY --from or RUN --mount",
          },
        );
      }
      state.set(i, "visiting");
      for (const dep of info.deps) if (dep.stage !== undefined) visit(dep.stage);
      state.set(i, "done");
      order.push(i);
    };
    visit(targetIndex);
    return order;
  }

  private async loadContext(): Promise<void> {
    const opts = this.opts;
    let patterns: string[] = [];
    if (typeof opts.dockerignore === "string") patterns = parseDockerignore(opts.dockerignore);
    else if (Array.isArray(opts.dockerignore)) patterns = [...(opts.dockerignore as readonly string[])];
    else if (opts.context !== undefined) {
      const found = await locateDockerignore(opts.context, opts.dockerfileName ?? "Dockerfile");
      if (found) {
        patterns = parseDockerignore(found.text);
        this.ignoreInfo.file = found.path;
      }
    }
    this.ignoreInfo.patterns = patterns;
    this.ignore = createIgnoreMatcher(patterns);
    if (opts.context !== undefined) {
      this.contextIndex = await indexContext(opts.context, this.ignore);
      opts.onContextIndex?.(this.contextIndex);
    }
  }

  private async startState(info: StageInfo): Promise<{ state: StageState; baseKey: Digest; base: PlanBase }> {
    let config: StageConfig;
    let baseKey: Digest;
    let base = info.base;
    const platform = formatPlatform(info.platform);
    if (base.kind === "stage") {
      const parent = this.results.get(base.stage) as PlanStage;
      config = structuredClone(parent.config);
      baseKey = parent.cacheKey;
    } else if (base.kind === "scratch") {
      config = emptyConfig();
      baseKey = keyOf({ scratch: true, platform });
    } else {
      const resolved = this.opts.resolveImage
        ? await this.opts.resolveImage(base.reference, info.platform)
        : undefined;
      config = configFromImage(resolved?.config);
      if (resolved?.digest !== undefined) base = { ...base, digest: resolved.digest };
      baseKey = keyOf({ image: base.reference, digest: resolved?.digest, platform });
    }
    const configEnv = envMap(config.env);
    if (!configEnv.has("PATH") && info.platform.os !== "windows") configEnv.set("PATH", DEFAULT_PATH);
    config.env = [...configEnv].map(([k, v]) => `${k}=${v}`);
    const state: StageState = { env: new Map(configEnv), configEnv, args: new Map(), config, cmdSet: false };
    return { state, baseKey, base };
  }

  private async planStage(info: StageInfo, buildArgs: Readonly<Record<string, string>>): Promise<PlanStage> {
    const { state, baseKey, base } = await this.startState(info);
    const steps: PlanStep[] = [];
    let parent = baseKey;
    for (const ins of info.def.instructions) {
      const step = await this.planStep(ins, state, info, buildArgs, steps.length, parent);
      steps.push(step);
      parent = step.cacheKey;
    }
    state.config.env = [...state.configEnv].map(([k, v]) => `${k}=${v}`);
    const out: PlanStage = {
      index: info.def.index,
      base,
      platform: formatPlatform(info.platform),
      from: info.def.from.source,
      dependsOn: info.deps,
      steps,
      args: Object.fromEntries(state.args),
      config: state.config,
      cacheKey: parent,
    };
    if (info.name !== undefined) out.name = info.name;
    return out;
  }

  private shell(state: StageState, info: StageInfo): string[] {
    return state.config.shell ?? (info.platform.os === "windows" ? ["cmd", "/S", "/C"] : ["/bin/sh", "-c"]);
  }

  private async planStep(
    ins: StageInstruction,
    state: StageState,
    info: StageInfo,
    buildArgs: Readonly<Record<string, string>>,
    index: number,
    parent: Digest,
  ): Promise<PlanStep> {
    const x = this.expander;
    const env = state.env;
    const src = ins.source;
    const cfg = state.config;
    const step: Omit<PlanStep, "cacheKey"> = {
      index,
      instruction: ins,
      workingDir: cfg.workingDir,
      createsLayer: false,
      parent,
    };
    let keyExtra: Record<string, unknown> = {};
    switch (ins.kind) {
      case "ENV":
      case "LABEL": {
        const pairs = ins.pairs.map((p) => ({
          key: x.word(src, p.key, env),
          value: x.word(src, p.value, env),
        }));
        step.instruction = { ...ins, pairs };
        for (const p of pairs) {
          if (ins.kind === "ENV") {
            state.configEnv.set(p.key, p.value);
            state.env.set(p.key, p.value);
          } else cfg.labels[p.key] = p.value;
        }
        break;
      }
      case "ARG": {
        const args = [];
        for (const def of ins.args) {
          this.declaredArgs.add(def.key);
          const declared = def.value === undefined ? undefined : x.word(src, def.value, env);
          let value = Object.hasOwn(buildArgs, def.key) ? (buildArgs[def.key] as string) : declared;
          if (value === undefined) value = this.globals.get(def.key);
          if (value !== undefined) {
            state.env.set(def.key, value);
            state.args.set(def.key, value);
          }
          args.push(declared === undefined ? { key: def.key } : { key: def.key, value: declared });
        }
        step.instruction = { ...ins, args };
        keyExtra = { values: Object.fromEntries(state.args) };
        break;
      }
      case "WORKDIR": {
        const p = x.word(src, ins.path, env);
        cfg.workingDir = path.posix.isAbsolute(p)
          ? path.posix.normalize(p)
          : path.posix.join(cfg.workingDir, p);
        if (cfg.workingDir.length > 1 && cfg.workingDir.endsWith("/"))
          cfg.workingDir = cfg.workingDir.slice(0, -1);
        step.instruction = { ...ins, path: p };
        step.workingDir = cfg.workingDir;
        break;
      }
      case "USER": {
        const user = x.word(src, ins.user, env);
        cfg.user = user;
        step.instruction = { ...ins, user };
        break;
      }
      case "VOLUME": {
        const volumes = ins.volumes.map((v) => x.word(src, v, env));
        for (const v of volumes) if (!cfg.volumes.includes(v)) cfg.volumes.push(v);
        cfg.volumes.sort();
        step.instruction = { ...ins, volumes };
        break;
      }
      case "EXPOSE": {
        const ports = ins.ports.flatMap((p) => x.words(src, p, env));
        for (const p of ports) {
          const spec = valueCheck(src, p, () => parseExposePort(p));
          if (spec.hostPartIgnored) {
            this.warnings.push({
              line: src.startLine,
              message: `EXPOSE ${p}: the host part is ignored; only the container port is exposed`,
            });
          }
          for (const key of spec.ports) if (!cfg.exposedPorts.includes(key)) cfg.exposedPorts.push(key);
        }
        cfg.exposedPorts.sort();
        step.instruction = { ...ins, ports };
        break;
      }
      case "STOPSIGNAL": {
        const signal = x.word(src, ins.signal, env);
        valueCheck(src, signal, () => parseStopSignal(signal));
        cfg.stopSignal = signal;
        step.instruction = { ...ins, signal };
        break;
      }
      case "SHELL":
        cfg.shell = [...ins.shell];
        break;
      case "CMD":
      case "ENTRYPOINT": {
        const argv = ins.shellForm
          ? [...this.shell(state, info), ...ins.command.slice(0, 1)]
          : [...ins.command];
        if (ins.kind === "CMD") {
          cfg.cmd = argv;
          state.cmdSet = true;
        } else {
          cfg.entrypoint = ins.shellForm && ins.command.length === 0 ? undefined : argv;
          if (cfg.entrypoint === undefined) delete cfg.entrypoint;
          if (!state.cmdSet) delete cfg.cmd;
        }
        break;
      }
      case "HEALTHCHECK": {
        cfg.healthcheck = healthConfigOf(ins);
        break;
      }
      case "ONBUILD":
        cfg.onBuild.push(ins.expression);
        break;
      case "MAINTAINER":
        cfg.maintainer = ins.maintainer;
        break;
      case "RUN": {
        const mounts = ins.mounts.map((m) =>
          valueCheck(src, m, () => parseRunMount(m, (w) => x.word(src, w, env))),
        );
        const shell = this.shell(state, info);
        let argv: string[];
        if (!ins.shellForm) argv = [...ins.command];
        else if (
          ins.files.length > 0 &&
          ins.command.length === 1 &&
          parseHeredocWord(ins.command[0] as string)
        ) {
          argv = [...shell, (ins.files[0] as { data: string }).data];
        } else {
          argv = [...shell, (ins.command[0] ?? "") + ins.files.map((f) => `\n${f.data}${f.name}`).join("")];
        }
        const environment = Object.fromEntries(state.env);
        const proxyEnv = proxyArgs(buildArgs);
        for (const k of Object.keys(proxyEnv)) if (state.args.has(k)) delete proxyEnv[k];
        Object.assign(step, { argv, environment, mounts, createsLayer: true });
        if (Object.keys(proxyEnv).length > 0) step.proxyEnv = proxyEnv;
        if (cfg.user !== undefined) step.user = cfg.user;
        const mountKeys = mounts.map((m) =>
          m.from !== undefined ? { ...m, fromKey: this.stageKey(m.from) } : m,
        );
        keyExtra = {
          argv,
          environment,
          mounts: mountKeys,
          network: ins.network,
          security: ins.security,
          user: cfg.user,
          workingDir: cfg.workingDir,
        };
        step.instruction = { ...ins, mounts: ins.mounts };
        break;
      }
      case "COPY":
      case "ADD": {
        const expanded = this.expandCopy(ins, env);
        step.instruction = expanded;
        step.sources = await this.sources(expanded, info, env);
        step.createsLayer = true;
        if (cfg.user !== undefined) step.user = cfg.user;
        keyExtra = {
          sources: step.sources.map((s) =>
            s.kind === "stage" ? { ...s, stageKey: this.results.get(s.stage)?.cacheKey } : s,
          ),
          workingDir: cfg.workingDir,
        };
        break;
      }
    }
    const { source: _source, ...instructionKey } = step.instruction;
    const cacheKey = keyOf({
      parent,
      platform: formatPlatform(info.platform),
      instruction: instructionKey,
      ...keyExtra,
    });
    return { ...step, cacheKey };
  }

  private stageKey(from: string): Digest | string {
    for (const result of this.results.values())
      if (result.name === from.toLowerCase()) return result.cacheKey;
    return from;
  }

  private expandCopy<T extends CopyInstruction | AddInstruction>(ins: T, env: ShellEnv): T {
    const x = this.expander;
    const src = ins.source;
    const out: T = {
      ...ins,
      sources: ins.sources.map((s) => x.word(src, s, env)),
      dest: x.word(src, ins.dest, env),
      contents: ins.contents.map((c) => (c.expand ? { ...c, data: x.heredoc(src, c.data, env) } : c)),
    };
    if (ins.chown !== undefined) out.chown = x.word(src, ins.chown, env);
    if (ins.chmod !== undefined) {
      const chmod = x.word(src, ins.chmod, env);
      valueCheck(src, chmod, () => parseChmod(chmod));
      out.chmod = chmod;
    }
    return out;
  }

  private async sources(
    ins: CopyInstruction | AddInstruction,
    info: StageInfo,
    _env: ShellEnv,
  ): Promise<PlanSource[]> {
    const out: PlanSource[] = [];
    const from = ins.kind === "COPY" ? ins.from : undefined;
    const dep =
      from === undefined
        ? undefined
        : info.deps.find((d) => d.via === "COPY --from" && d.line === ins.source.startLine);
    const excludes = ins.exclude.map((p) => createIgnoreMatcher([p]));
    for (const s of ins.sources) {
      if (dep?.stage !== undefined) {
        const stage = this.results.get(dep.stage);
        const item: PlanSource = { kind: "stage", stage: dep.stage, path: s };
        if (stage?.name !== undefined) item.stageName = stage.name;
        out.push(item);
      } else if (dep?.image !== undefined) {
        out.push({ kind: "image", image: dep.image, path: s });
      } else if (ins.kind === "ADD" && isGit(s)) {
        out.push({ kind: "git", url: s });
      } else if (ins.kind === "ADD" && isUrl(s)) {
        out.push(
          ins.checksum === undefined
            ? { kind: "url", url: s }
            : { kind: "url", url: s, checksum: ins.checksum },
        );
      } else if (this.contextIndex === undefined) {
        out.push({ kind: "context", path: s });
      } else {
        const d = await digestContextSource(this.contextIndex, s, excludes, this.opts.contextDigests);
        if (d.matched.length === 0 && !hasWildcard(s)) {
          throw instructionError(
            ins.source,
            `${ins.kind} source ${JSON.stringify(s)} not found in the build context`,
            {
              expected: "a path inside the context that .dockerignore does not exclude",
              found: JSON.stringify(s),
              near: s,
            },
          );
        }
        out.push({ kind: "context", path: s, matched: d.matched, entries: d.entries, digest: d.digest });
      }
    }
    for (const c of ins.contents) {
      out.push({
        kind: "inline",
        name: c.name,
        size: Buffer.byteLength(c.data),
        digest: digestBytes(c.data),
      });
    }
    return out;
  }
}

/**
 * Plans a build: parses the Dockerfile, resolves global ARGs (automatic `TARGETPLATFORM`,
 * `BUILDPLATFORM`, … included) and `--build-arg`s, expands every value Docker expands, finds the
 * stage graph (`FROM stage`, `COPY --from`, `RUN --mount from=`), keeps only the stages the
 * target needs, digests COPY/ADD sources from the context after `.dockerignore`, and gives each
 * step a cache key over its parent, its expanded instruction and its inputs. Nothing runs.
 *
 * @example
 * ```ts
 * const plan = await planBuild({
 *   dockerfile: "FROM alpine AS build\nRUN make\nFROM scratch\nCOPY --from=build /out /\n",
 *   platform: "linux/amd64",
 * });
 * plan.stages.map((s) => s.name ?? s.index) // ["build", 1]
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX` (with line and column), `E_USAGE` (unknown target),
 *   `E_PLATFORM_INVALID`, `E_NOT_FOUND`/`E_IO` (context)
 */
export async function planBuild(options: PlanBuildOptions): Promise<BuildPlan> {
  if (options === null || typeof options !== "object") {
    throw new CairnError("E_USAGE", "expected planBuild options with a dockerfile");
  }
  return new Planner(options).run();
}
