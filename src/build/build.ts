/**
 * `build()`: a Dockerfile planned by the dockerfile module, executed stage by stage (independent
 * stages concurrently, unneeded ones skipped), each step looked up in the step cache first, the
 * result written to the requested outputs.
 */
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import type { Digest } from "../digest/index.js";
import {
  type BuildPlan,
  type ContextIndex,
  type DockerfileAst,
  type Instruction,
  type PlanSource,
  type PlanStage,
  type PlanStep,
  parseDockerfile,
  planBuild,
  type ResolvedBaseImage,
} from "../dockerfile/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import { type Image, ImageLayout, layerFromReader, storeBlobReader } from "../image/index.js";
import { createLayer, type LayerEntry } from "../layer/index.js";
import { formatPlatform, type Platform, parsePlatform } from "../manifest/index.js";
import { parseReference } from "../reference/index.js";
import type { RegistryOptions } from "../registry/index.js";
import { SnapshotStore } from "../unionfs/index.js";
import { downloadTree, downloadUrl } from "./add-remote.js";
import { BaseResolver } from "./base.js";
import { cacheKeyOf, StepCache, type StepCacheEntry } from "./cache.js";
import { applyConfigStep } from "./config-steps.js";
import { StoredContextDigests } from "./context-digests.js";
import { ContextTree, type InlineTree } from "./context-tree.js";
import { mkdirLayer } from "./copy.js";
import { copyStepEntries } from "./copy-step.js";
import { ExplainRecord, explainMiss, type StepInputs, stepInputs } from "./explain.js";
import { historyEntry, runCreatedBy } from "./history.js";
import { ImageTree } from "./image-tree.js";
import { linkCacheKey } from "./link-key.js";
import { writeOutputs } from "./outputs.js";
import { type BuildProgressEvent, ProgressReporter, type Vertex } from "./progress.js";
import { type BuildRuntime, type BuildSecret, runStep } from "./run-step.js";
import { StageState } from "./stage-state.js";
import type { SourceTree } from "./tree.js";
import { resolveOwner } from "./users.js";

/** Options for {@link build}. */
export interface BuildOptions {
  /** The build context directory. */
  context: string;
  /** The Dockerfile's path (relative paths are taken from the current directory); default `CONTEXT/Dockerfile`. */
  dockerfile?: string;
  /** The Dockerfile's text, instead of reading a file. */
  dockerfileText?: string | Uint8Array;
  /** The stage to build (default the last). */
  target?: string;
  buildArgs?: Readonly<Record<string, string>>;
  /** The platform to build for (default this host's). */
  platform?: string | Platform;
  /** Names to tag the result with in the store. */
  tags?: readonly string[];
  /** More destinations: `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`, `docker://REF`, or a store name. */
  output?: string | readonly string[];
  /** Ignore the step cache (results are still recorded). */
  noCache?: boolean;
  /**
   * Pin every timestamp (config, history, file times clamped) to this time, for reproducible
   * digests. Default: the `SOURCE_DATE_EPOCH` environment variable, if set.
   */
  sourceDateEpoch?: number | Date;
  /**
   * Runs RUN steps, or a function finding one (called only when the build has RUN steps; it may
   * return undefined). Without one, a Dockerfile with RUN fails before anything runs (`E_NO_RUNTIME`).
   */
  runtime?: BuildRuntime | (() => Promise<BuildRuntime | undefined>);
  /** Secrets for `RUN --mount=type=secret`, by id. */
  secrets?: Readonly<Record<string, BuildSecret>>;
  /** The store directory (blobs, step cache, snapshots); default the default store. */
  store?: string;
  /** Registry settings for pulling bases and pushing outputs; `false` keeps to local images. */
  registry?: RegistryOptions | false;
  onProgress?: (event: BuildProgressEvent) => void;
  signal?: AbortSignal;
}

/** What one step did. */
export interface BuildStepReport {
  stage: number;
  stageName?: string;
  /** 0-based index within the stage. */
  step: number;
  line: number;
  instruction: string;
  cached: boolean;
  /** The layer's diff ID when the step made one. */
  diffId?: Digest;
  /**
   * For a step that ran: why the cache had no result for it (`--no-cache`, a changed source, …);
   * for a `--link` step reused from another base: `link: reused across base change`.
   */
  reason?: string;
}

/** What {@link build} made. */
export interface BuildResult {
  image: Image;
  /** The manifest digest. */
  digest: Digest;
  /** The config digest (docker's image ID). */
  configDigest: Digest;
  plan: BuildPlan;
  steps: BuildStepReport[];
  /** The tags and outputs written. */
  outputs: string[];
}

const FILE_STEPS = new Set(["RUN", "COPY", "ADD", "WORKDIR"]);
const DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function epochSeconds(value: number | Date | undefined): number | undefined {
  if (value === undefined) {
    const env = process.env.SOURCE_DATE_EPOCH;
    if (env === undefined || env === "") return undefined;
    if (!/^[0-9]+$/.test(env)) {
      throw new CairnError("E_USAGE", `SOURCE_DATE_EPOCH=${env} is not a number of seconds`);
    }
    return Number(env);
  }
  const s = value instanceof Date ? Math.floor(value.getTime() / 1000) : Math.floor(value);
  if (!Number.isFinite(s) || s < 0) {
    throw new CairnError("E_USAGE", `sourceDateEpoch ${String(value)} is not a time after 1970`);
  }
  return s;
}

function lineError(
  step: { instruction: { source: { startLine: number; original: string } } },
  err: unknown,
): unknown {
  if (!isCairnError(err) || err.code === "E_ABORTED") return err;
  const src = step.instruction.source;
  const where = `Dockerfile line ${src.startLine}: ${src.original.trim()}`;
  if (err.message.startsWith("Dockerfile line")) return err;
  return new CairnError(err.code, `${where}: ${err.message}`, {
    cause: err,
    ...(err.path !== undefined ? { path: err.path } : {}),
    details: { ...(err.details ?? {}), line: src.startLine },
  });
}

/** Inserts the ONBUILD triggers of base images after their FROM lines. */
function withTriggers(ast: DockerfileAst, triggers: Map<number, string[]>): DockerfileAst {
  const out: Instruction[] = [];
  let stage = -1;
  for (const ins of ast.instructions) {
    out.push(ins);
    if (ins.keyword !== "FROM") continue;
    stage++;
    for (const text of triggers.get(stage) ?? []) {
      const parsed = parseDockerfile(`${text}\n`, { escape: ast.escapeToken as "\\" | "`" });
      for (const t of parsed.instructions) {
        out.push({ ...t, startLine: ins.startLine, endLine: ins.endLine, original: t.original });
      }
    }
  }
  return { ...ast, instructions: out };
}

/** Runs one build; see {@link build}. */
class Builder {
  private readonly progress: ProgressReporter;
  private readonly epoch: number | undefined;
  private readonly mtime: number;
  private store!: ImageLayout;
  private cache!: StepCache;
  private bases!: BaseResolver;
  private plan!: BuildPlan;
  /** Set by the planner, which always walks the context (see makePlan). */
  private contextIndex!: ContextIndex;
  private contextDir: string;
  private contextTree?: Promise<ContextTree>;
  private snapshots?: SnapshotStore;
  private readonly stages = new Map<number, Promise<StageState>>();
  private readonly imageTrees = new Map<string, Promise<ImageTree>>();
  private readonly reports: BuildStepReport[] = [];
  private readonly scratchDirs: string[] = [];
  private multiStage = false;
  private runtime: BuildRuntime | undefined;
  private explain?: ExplainRecord;
  private previous: StepInputs[] = [];
  private readonly recorded: StepInputs[] = [];

  constructor(private readonly opts: BuildOptions) {
    this.progress = new ProgressReporter(opts.onProgress);
    this.epoch = epochSeconds(opts.sourceDateEpoch);
    this.mtime = this.epoch ?? 0;
    this.contextDir = path.resolve(opts.context);
  }

  private now(): string {
    return new Date(this.epoch !== undefined ? this.epoch * 1000 : Date.now())
      .toISOString()
      .replace(/\.\d{3}Z$/, "Z");
  }

  private async open(): Promise<void> {
    const opts = this.opts;
    this.store = opts.store
      ? await ImageLayout.open(opts.store, { create: true })
      : await ImageLayout.openDefault();
    this.cache = new StepCache(path.join(this.store.dir, "cairn-build", "cache"), (d) =>
      this.store.store.has(d),
    );
    this.bases = new BaseResolver({
      store: this.store,
      registry: opts.registry !== false,
      ...(opts.registry ? { registryOptions: opts.registry } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  }

  /** Plans the build as {@link run} would (bases resolved, context digested), running nothing. */
  async planOnly(): Promise<BuildPlan> {
    await this.open();
    const plan = await this.makePlan();
    // Show transport locations (oci:DIR, docker-archive:FILE) as written, not as stand-ins.
    for (const stage of plan.stages) {
      if (stage.base.kind !== "image") continue;
      const shown = this.bases.displayName(stage.base.reference);
      if (shown !== stage.base.reference) stage.base = { ...stage.base, image: shown, reference: shown };
    }
    return plan;
  }

  async run(): Promise<BuildResult> {
    await this.open();
    try {
      this.plan = await this.makePlan();
      await this.checkRuntime();
      this.explain = new ExplainRecord(path.join(this.store.dir, "cairn-build", "explain"), {
        context: this.contextDir,
        dockerfile:
          this.opts.dockerfileText === undefined ? (this.opts.dockerfile ?? "Dockerfile") : "inline",
        target: this.opts.target,
        platform: this.plan.platform,
      });
      this.previous = await this.explain.load();
      const targetIndex = this.plan.target.stage;
      this.multiStage = this.plan.stages.length + this.plan.skippedStages.length > 1;
      for (const stage of this.plan.stages) this.stages.set(stage.index, this.runStageAfterDeps(stage));
      const settled = await Promise.allSettled([...this.stages.values()]);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
      if (failed) throw failed.reason;
      const state = await (this.stages.get(targetIndex) as Promise<StageState>);
      if (this.epoch !== undefined) state.created = this.now();
      const image = state.toImage();
      const outputs = await this.export(image);
      await this.explain.save(this.recorded).catch(() => {});
      return {
        image,
        digest: await image.digest(),
        configDigest: (await image.manifest()).config.digest as Digest,
        plan: this.plan,
        steps: this.reports,
        outputs,
      };
    } finally {
      for (const s of this.stages.values()) await s.then((st) => st.close()).catch(() => {});
      for (const t of this.imageTrees.values()) await t.then((tr) => tr.close()).catch(() => {});
      for (const d of this.scratchDirs) await rm(d, { recursive: true, force: true }).catch(() => {});
    }
  }

  private async dockerfile(): Promise<{ text: string | Uint8Array; name: string }> {
    const opts = this.opts;
    if (opts.dockerfileText !== undefined) return { text: opts.dockerfileText, name: "Dockerfile" };
    const file = opts.dockerfile ? path.resolve(opts.dockerfile) : path.join(this.contextDir, "Dockerfile");
    try {
      const text = await readFile(file);
      return { text, name: path.relative(this.contextDir, file) || "Dockerfile" };
    } catch (err) {
      throw new CairnError(
        "E_NOT_FOUND",
        `cannot read the Dockerfile ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`,
        {
          path: file,
          cause: err,
        },
      );
    }
  }

  private async makePlan(): Promise<BuildPlan> {
    const { text, name } = await this.dockerfile();
    const rewritten = this.bases.rewrite(parseDockerfile(text), this.opts.buildArgs ?? {});
    const triggers = new Map<number, string[]>();
    const resolveImage = async (reference: string, platform: Platform): Promise<ResolvedBaseImage> => {
      const { image } = await this.bases.resolve(reference, platform);
      const config = await image.config();
      return { digest: await image.digest(), ...(config.config ? { config: config.config } : {}) };
    };
    const contextDigests = await StoredContextDigests.load(
      path.join(this.store.dir, "cairn-build", "context"),
      this.contextDir,
    );
    const planWith = (ast: DockerfileAst) =>
      planBuild({
        dockerfile: ast,
        dockerfileName: name,
        context: this.contextDir,
        buildArgs: rewritten.buildArgs,
        contextDigests,
        onContextIndex: (index) => {
          this.contextIndex = index;
        },
        resolveImage,
        ...(this.opts.target !== undefined ? { target: this.opts.target } : {}),
        ...(this.opts.platform !== undefined ? { platform: this.opts.platform } : {}),
      });
    let plan = await planWith(rewritten.ast);
    for (const stage of plan.stages) {
      if (stage.base.kind !== "image") continue;
      const { image } = await this.bases.resolve(stage.base.reference, parsePlatform(stage.platform));
      const onBuild = (await image.config()).config?.OnBuild ?? [];
      if (onBuild.length > 0) triggers.set(stage.index, onBuild);
    }
    if (triggers.size > 0) plan = await planWith(withTriggers(rewritten.ast, triggers));
    await contextDigests.save();
    for (const w of plan.warnings) this.progress.warn(w.message, w.line);
    return plan;
  }

  private async checkRuntime(): Promise<void> {
    for (const stage of this.plan.stages) {
      const run = stage.steps.find((s) => s.instruction.kind === "RUN");
      if (run) {
        const given = this.opts.runtime;
        this.runtime = typeof given === "function" ? await given() : given;
        if (this.runtime) return;
        const src = run.instruction.source;
        throw new CairnError(
          "E_NO_RUNTIME",
          `Dockerfile line ${src.startLine}: ${src.original.trim()}: RUN needs a container runtime (runc, crun, bwrap or chroot), and none was given`,
          { details: { line: src.startLine, expected: "a runtime (cairn build --runtime NAME)" } },
        );
      }
    }
  }

  private stageLabel(stage: PlanStage): string {
    if (!this.multiStage) return "";
    return `${stage.name ?? `stage-${stage.index}`} `;
  }

  private async runStageAfterDeps(stage: PlanStage): Promise<StageState> {
    const deps = new Set<number>();
    for (const d of stage.dependsOn) if (d.stage !== undefined) deps.add(d.stage);
    for (const d of deps) await this.stages.get(d);
    return this.runStage(stage);
  }

  private async startState(stage: PlanStage, total: number): Promise<StageState> {
    const platform = parsePlatform(stage.platform);
    const name = stage.name ?? `stage ${stage.index}`;
    const base = stage.base;
    if (base.kind === "scratch") {
      const state = new StageState(name, platform);
      state.cfg.config = { Env: [DEFAULT_PATH_ENV], WorkingDir: "/" };
      return state;
    }
    if (base.kind === "stage") {
      return StageState.fromStage(await (this.stages.get(base.stage) as Promise<StageState>), name);
    }
    const vertex = this.progress.start(
      `[${this.stageLabel(stage)}1/${total}] FROM ${this.bases.displayName(base.reference)}${base.digest ? `@${base.digest}` : ""}`,
    );
    try {
      const resolved = await this.bases.resolve(base.reference, platform);
      const state = await StageState.fromImage(resolved.image, name, platform);
      delete state.cfg.config.OnBuild;
      // BuildKit makes sure every stage has a PATH (the plan expands `$PATH` with it too).
      const env = state.cfg.config.Env ?? [];
      if (state.platform.os !== "windows" && !env.some((e) => e === "PATH" || e.startsWith("PATH="))) {
        state.cfg.config.Env = [...env, DEFAULT_PATH_ENV];
      }
      vertex.done(!resolved.source.startsWith("docker://"));
      return state;
    } catch (err) {
      vertex.fail(isCairnError(err) ? err.message : String(err));
      throw err;
    }
  }

  private async runStage(stage: PlanStage): Promise<StageState> {
    const total = 1 + stage.steps.filter((s) => FILE_STEPS.has(s.instruction.kind)).length;
    const state = await this.startState(stage, total).catch((err: unknown) => {
      throw lineError({ instruction: { source: stage.from } }, err);
    });
    const stageArgs: Array<[string, string]> = [];
    let vertexNo = 1;
    for (const step of stage.steps) {
      this.opts.signal?.throwIfAborted();
      const kind = step.instruction.kind;
      let vertex: Vertex | undefined;
      if (FILE_STEPS.has(kind)) {
        vertexNo++;
        vertex = this.progress.start(
          `[${this.stageLabel(stage)}${vertexNo}/${total}] ${step.instruction.source.original.trim()}`,
        );
      }
      if (kind === "ARG") {
        for (const def of step.instruction.kind === "ARG" ? step.instruction.args : []) {
          const value = this.argValue(def.key, def.value);
          if (value !== undefined) stageArgs.push([def.key, value]);
        }
      }
      try {
        const cached = await this.runStep(stage, step, state, stageArgs, vertex);
        vertex?.done(cached);
      } catch (err) {
        const located = lineError(step, err);
        vertex?.fail(isCairnError(located) ? located.message : String(located));
        throw located;
      }
    }
    return state;
  }

  private argValue(key: string, declared: string | undefined): string | undefined {
    const args = this.plan.globalArgs;
    const given = this.opts.buildArgs ?? {};
    if (Object.hasOwn(given, key)) return this.bases.displayName(given[key] as string);
    if (declared !== undefined) return declared;
    return Object.hasOwn(args, key) ? args[key] : undefined;
  }

  /** Runs one step (or replays it from the cache); true when it came from the cache. */
  private async runStep(
    stage: PlanStage,
    step: PlanStep,
    state: StageState,
    stageArgs: Array<[string, string]>,
    vertex: Vertex | undefined,
  ): Promise<boolean> {
    const ins = step.instruction;
    const report: BuildStepReport = {
      stage: stage.index,
      step: step.index,
      line: ins.source.startLine,
      instruction: ins.source.original.trim(),
      cached: false,
    };
    if (stage.name !== undefined) report.stageName = stage.name;
    this.reports.push(report);
    const extra = await this.keyExtras(step, stage);
    const key = cacheKeyOf({ v: 2, plan: step.cacheKey, epoch: this.epoch, ...extra.key });
    const argValues =
      ins.kind === "ARG"
        ? Object.fromEntries(ins.args.map((a) => [a.key, this.argValue(a.key, a.value)]))
        : undefined;
    const inputs = stepInputs(step, extra.key, this.epoch, argValues);
    this.recorded.push({ stage: stage.index, step: step.index, key, inputs });
    const hit = this.opts.noCache ? undefined : await this.cache.get(key);
    if (hit) {
      this.replay(state, hit);
      report.cached = true;
      if (hit.layer) report.diffId = hit.layer.diffId;
      return true;
    }
    const linkKey = await this.linkKey(step, stage, state, extra.key);
    if (!this.opts.noCache) {
      const linked = linkKey !== undefined ? await this.cache.get(linkKey) : undefined;
      if (linked) {
        // The layer goes on the new parents as it is; the config is the stage's own (COPY leaves it).
        const rebased: StepCacheEntry = {
          ...linked,
          config: structuredClone(state.cfg.config),
          cmdSet: state.cfg.cmdSet,
        };
        delete rebased.author;
        if (state.cfg.author !== undefined) rebased.author = state.cfg.author;
        this.replay(state, rebased);
        await this.cache.put(key, rebased);
        report.cached = true;
        report.reason = "link: reused across base change";
        if (linked.layer) report.diffId = linked.layer.diffId;
        return true;
      }
      const before = this.previous.find((p) => p.stage === stage.index && p.step === step.index);
      report.reason = explainMiss(inputs, before?.key === key ? inputs : before?.inputs);
    } else report.reason = "--no-cache";
    const created = this.now();
    let entries: LayerEntry[] | undefined;
    let layerMade: StepCacheEntry["layer"];
    let createdBy: string | undefined;
    switch (ins.kind) {
      case "ARG":
        createdBy = `ARG ${ins.args
          .map((a) => {
            const v = this.argValue(a.key, a.value);
            return v === undefined ? a.key : `${a.key}=${v}`;
          })
          .join(" ")}`;
        break;
      case "COPY":
      case "ADD":
        entries = await copyStepEntries(step, ins, {
          sourceTree: (s, inline) => this.sourceTree(s, stage, inline),
          fetched: extra.sources,
          destTree: async () => (state.layers.length > 0 ? state.rootfs(this.opts.signal) : undefined),
          readRootFile: (p) => state.readFile(p),
          scratch: (what) => this.scratch(what),
          mtime: this.mtime,
        });
        createdBy = `${ins.kind} ${[...ins.sources, ...ins.contents.map((c) => `<<${c.name}`), ins.dest].join(" ")} # buildkit`;
        break;
      case "WORKDIR": {
        createdBy = applyConfigStep(step, state.cfg);
        if (step.workingDir !== "/") {
          const tree = state.layers.length > 0 ? await state.rootfs(this.opts.signal) : undefined;
          const user = state.cfg.config.User;
          const owner = user ? await resolveOwner(user, (p) => state.readFile(p)) : { uid: 0, gid: 0 };
          entries = mkdirLayer(tree, step.workingDir, owner, this.mtime);
        }
        break;
      }
      case "RUN": {
        const env = new Map(
          (state.cfg.config.Env ?? []).map((e) => [e.slice(0, Math.max(0, e.indexOf("="))) || e, e]),
        );
        const shown = stageArgs.map(([k, v]): [string, string] => {
          const fromEnv = env.get(k);
          return [k, fromEnv !== undefined ? fromEnv.slice(k.length + 1) : v];
        });
        createdBy = runCreatedBy(step.argv ?? [], shown);
        layerMade = await this.runCommand(step, state, vertex);
        break;
      }
      default:
        createdBy = applyConfigStep(step, state.cfg);
    }
    const entry: StepCacheEntry = { config: structuredClone(state.cfg.config), cmdSet: state.cfg.cmdSet };
    const made = layerMade ?? (entries !== undefined ? await this.makeLayer(entries) : undefined);
    if (made) {
      entry.layer = made;
      report.diffId = made.diffId;
    }
    const writtenFrom = layerMade === undefined && made !== undefined ? entries : undefined;
    if (state.cfg.author !== undefined) entry.author = state.cfg.author;
    if (createdBy !== undefined) entry.history = historyEntry(createdBy, entry.layer !== undefined, created);
    this.replay(state, entry);
    if (writtenFrom) state.noteWrittenEntries(writtenFrom, this.epoch);
    await this.cache.put(key, entry);
    if (linkKey !== undefined) await this.cache.put(linkKey, entry);
    return false;
  }

  /** The base-independent key of a `--link` COPY/ADD step (see {@link linkCacheKey}). */
  private async linkKey(
    step: PlanStep,
    stage: PlanStage,
    state: StageState,
    extra: Record<string, unknown>,
  ): Promise<Digest | undefined> {
    const ins = step.instruction;
    if ((ins.kind !== "COPY" && ins.kind !== "ADD") || !ins.link) return undefined;
    const stageKeys = new Map(this.plan.stages.map((s) => [s.index, s.cacheKey]));
    const owner =
      ins.chown !== undefined ? await resolveOwner(ins.chown, (p) => state.readFile(p)) : undefined;
    return linkCacheKey(step, {
      platform: stage.platform,
      epoch: this.epoch,
      extra,
      stageKeys,
      ...(owner ? { owner } : {}),
    });
  }

  private async makeLayer(entries: LayerEntry[]): Promise<StepCacheEntry["layer"]> {
    if (entries.length === 0) return undefined;
    const made = await createLayer(entries, {
      sink: (blob) => this.store.store.put(blob),
      ...(this.epoch !== undefined ? { sourceDateEpoch: this.epoch } : {}),
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
    });
    return { descriptor: made.descriptor, diffId: made.diffId };
  }

  private replay(state: StageState, entry: StepCacheEntry): void {
    if (entry.layer) {
      const layer = layerFromReader(
        storeBlobReader(this.store.store),
        entry.layer.descriptor,
        entry.layer.diffId,
      );
      state.addLayer(layer, entry.layer.diffId);
    }
    state.cfg = { config: structuredClone(entry.config), cmdSet: entry.cmdSet };
    if (entry.author !== undefined) state.cfg.author = entry.author;
    if (entry.history) {
      state.history.push(entry.history);
      if (entry.history.created !== undefined) state.created = entry.history.created;
    }
  }

  /** Inputs of a step's result the plan's key does not hold: digests of images and downloads. */
  private async keyExtras(
    step: PlanStep,
    stage: PlanStage,
  ): Promise<{ key: Record<string, unknown>; sources: Map<number, SourceTree> }> {
    const sources = new Map<number, SourceTree>();
    const key: Record<string, unknown> = {};
    const ins = step.instruction;
    if (ins.kind !== "COPY" && ins.kind !== "ADD") {
      if (ins.kind === "RUN") {
        const froms: Record<string, string> = {};
        for (const m of step.mounts ?? []) {
          if (m.from !== undefined && !this.stageByName(m.from)) {
            froms[m.from] = await (await this.imageFor(m.from, stage)).digest();
          }
        }
        if (Object.keys(froms).length > 0) key.mountImages = froms;
      }
      return { key, sources };
    }
    const extras: unknown[] = [];
    for (const [i, s] of (step.sources ?? []).entries()) {
      if (s.kind === "image") {
        const image = await this.bases.resolve(
          parseReference(s.image).toString(),
          parsePlatform(stage.platform),
        );
        extras.push({ image: await image.image.digest() });
      } else if (s.kind === "url") {
        const dir = await this.scratch("add");
        const d = await downloadUrl(s.url, {
          tmpDir: dir,
          ...(s.checksum !== undefined ? { checksum: s.checksum } : {}),
          ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        });
        sources.set(i, downloadTree(d, this.mtime));
        extras.push({ url: s.url, digest: d.digest, name: d.name, mtime: d.mtime });
      } else if (s.kind === "git") {
        throw new CairnError("E_USAGE", `ADD ${s.url}: git sources are not supported by cairn builds`, {
          details: { expected: "a local path or an http(s) URL" },
        });
      }
    }
    if (extras.length > 0) key.sources = extras;
    return { key, sources };
  }

  private async scratch(what: string): Promise<string> {
    const dir = path.join(this.store.dir, "cairn-build", "tmp", `${what}-${randomBytes(6).toString("hex")}`);
    this.scratchDirs.push(dir);
    return dir;
  }

  private stageByName(name: string): PlanStage | undefined {
    const lower = name.toLowerCase();
    return this.plan.stages.find((s) => s.name === lower || String(s.index) === name);
  }

  private async imageFor(from: string, stage: PlanStage): Promise<Image> {
    const s = this.stageByName(from);
    if (s) return (await (this.stages.get(s.index) as Promise<StageState>)).toImage();
    return (await this.bases.resolve(parseReference(from).toString(), parsePlatform(stage.platform))).image;
  }

  private context(): Promise<ContextTree> {
    if (!this.contextTree) {
      // The planner's walk of the context, with the same .dockerignore.
      this.contextTree = Promise.resolve(new ContextTree(this.contextIndex, this.mtime));
    }
    return this.contextTree;
  }

  private imageTree(reference: string, platform: Platform): Promise<ImageTree> {
    const key = `${reference}|${formatPlatform(platform)}`;
    let t = this.imageTrees.get(key);
    if (!t) {
      t = this.bases
        .resolve(reference, platform)
        .then(async (r) => ImageTree.fromLayers(await r.image.layers(), this.bases.displayName(reference)));
      this.imageTrees.set(key, t);
    }
    return t;
  }

  private async sourceTree(s: PlanSource, stage: PlanStage, inline: InlineTree): Promise<SourceTree> {
    switch (s.kind) {
      case "context":
        return this.context();
      case "stage":
        return (await (this.stages.get(s.stage) as Promise<StageState>)).rootfs(this.opts.signal);
      case "image":
        return this.imageTree(parseReference(s.image).toString(), parsePlatform(stage.platform));
      case "inline":
        return inline;
      default:
        throw new CairnError("E_USAGE", `unexpected ${s.kind} source`);
    }
  }

  private async runCommand(
    step: PlanStep,
    state: StageState,
    vertex: Vertex | undefined,
  ): Promise<StepCacheEntry["layer"]> {
    const runtime = this.runtime as BuildRuntime;
    this.snapshots ??= await SnapshotStore.open(path.join(this.store.dir, "snapshots"));
    const before = state.layers.length > 0 ? await state.rootfs(this.opts.signal) : new ImageTree("scratch");
    const stage = this.plan.stages.find((s) => s.steps.includes(step)) as PlanStage;
    return runStep(
      step,
      state.toImage(),
      before,
      {
        runtime,
        snapshots: this.snapshots,
        workDir: path.join(this.store.dir, "cairn-build", "tmp"),
        cacheMountDir: path.join(this.store.dir, "cairn-build", "cache-mounts"),
        context: this.contextDir,
        imageFor: (from) => this.imageFor(from, stage),
        secrets: this.opts.secrets ?? {},
        onOutput: (text) => vertex?.log(text),
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      },
      (entries) => this.makeLayer(entries),
    );
  }

  private async export(image: Image): Promise<string[]> {
    const vertex = this.progress.start("exporting to image");
    try {
      const outputs =
        this.opts.output === undefined
          ? []
          : typeof this.opts.output === "string"
            ? [this.opts.output]
            : [...this.opts.output];
      const digest = await image.digest();
      vertex.log(`writing image ${digest} done\n`);
      const written = await writeOutputs(image, {
        store: this.store,
        tags: this.opts.tags ?? [],
        outputs,
        ...(this.opts.registry ? { registryOptions: this.opts.registry } : {}),
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        onWrite: (what) => vertex.log(`${what} done\n`),
      });
      vertex.done();
      return written;
    } catch (err) {
      vertex.fail(isCairnError(err) ? err.message : String(err));
      throw err;
    }
  }
}

/**
 * Builds a Dockerfile into an image: plans it (the dockerfile module), runs the stages the
 * target needs (independent ones at the same time), replays unchanged steps from the step cache
 * in the store, makes one layer per file-changing step, and writes the image to the store tags
 * and outputs asked for. With `sourceDateEpoch` (or `SOURCE_DATE_EPOCH`) the same inputs give
 * the same digest; without, only `created` times differ, and a fully cached rebuild gives the
 * same digest too.
 *
 * @example
 * ```ts
 * const { digest } = await build({ context: "./app", tags: ["app:1.0"], sourceDateEpoch: 0 });
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX`, `E_NO_RUNTIME` (RUN without a runtime, before anything
 *   runs), `E_NOT_FOUND` (base image, source), `E_BUILD_FAILED` (a step failed), `E_ABORTED`
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  if (options === null || typeof options !== "object" || typeof options.context !== "string") {
    throw new CairnError("E_USAGE", "build() needs options with a context directory");
  }
  return new Builder(options).run();
}

/**
 * The plan {@link build} would run, with the same cache keys: bases are resolved (store first,
 * then the registry) and context files digested, but no step runs and nothing is written except
 * the context digest cache.
 *
 * @example
 * ```ts
 * console.log(formatPlan(await planImageBuild({ context: "./app" })));
 * ```
 * @throws CairnError `E_DOCKERFILE_SYNTAX`, `E_NOT_FOUND` (base image, source, Dockerfile)
 */
export async function planImageBuild(options: BuildOptions): Promise<BuildPlan> {
  if (options === null || typeof options !== "object" || typeof options.context !== "string") {
    throw new CairnError("E_USAGE", "planImageBuild() needs options with a context directory");
  }
  return new Builder(options).planOnly();
}
