/**
 * RUN: the stage's current image mounted writable over its shared snapshots (overlayfs, else a
 * copy), the command run there through a runtime with the step's env, user, working directory,
 * network and `--mount`s, and the mount's changes made into the step's layer. Mount points the
 * runtime had to create (/proc, /dev, /sys, mount targets) are left out of the layer, and secrets
 * live outside the root filesystem, so neither ends up in the image.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmod, chown, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { Writable } from "node:stream";
import type { RunMount as PlanRunMount, PlanStep, RunInstruction } from "../dockerfile/index.js";
import { CairnError } from "../errors/index.js";
import type { Image } from "../image/index.js";
import type { LayerEntry } from "../layer/index.js";
import { type Mount, mount, mountChanges, type SnapshotStore, unmount } from "../unionfs/index.js";
import type { SourceTree } from "./tree.js";

/** A bind or tmpfs mount for a RUN command. */
export type BuildRunMount =
  | { type: "bind"; source: string; target: string; readonly?: boolean }
  | { type: "tmpfs"; target: string; sizeBytes?: number; mode?: number };

/** What a RUN step asks a runtime to run. */
export interface BuildRunSpec {
  rootfs: string;
  args: readonly string[];
  env?: readonly string[];
  cwd?: string;
  user?: string;
  mounts?: readonly BuildRunMount[];
  network?: "none" | "host";
  signal?: AbortSignal;
}

/**
 * What the build needs from a container runtime: the shape of `cairn-oci/runtime`'s `Runtime`
 * (any of its adapters can be passed as is).
 */
export interface BuildRuntime {
  readonly name: string;
  run(
    spec: BuildRunSpec,
    io?: { stdin?: "ignore"; stdout?: Writable; stderr?: Writable },
  ): Promise<{ exitCode: number | null; signal: string | null }>;
}

/** A secret for `RUN --mount=type=secret`: its value, or a file holding it. */
export type BuildSecret = string | Uint8Array | { file: string };

/** What {@link runStep} needs around the step. */
export interface RunStepContext {
  runtime: BuildRuntime;
  snapshots: SnapshotStore;
  /** Where mount targets and scratch files go (inside the cairn home). */
  workDir: string;
  /** Cache mount directories persist here. */
  cacheMountDir: string;
  /** The build context directory (source of bind mounts without `from`). */
  context: string;
  /** Images of other stages or images, for `--mount=from=`. */
  imageFor: (from: string) => Promise<Image>;
  secrets: Readonly<Record<string, BuildSecret>>;
  onOutput: (text: string) => void;
  signal?: AbortSignal;
}

const SYSTEM_MOUNT_POINTS = ["proc", "dev", "sys"];

function rel(p: string): string {
  return path.posix.normalize(`/${p}`).slice(1);
}

/**
 * Runs one RUN step over `image` and hands the entries of the layer it made to `consume` (which
 * must read their contents before it resolves: they live in the mount, removed afterwards).
 *
 * @example
 * ```ts
 * const layer = await runStep(step, image, rootfsTree, ctx, (entries) => createLayer(entries));
 * ```
 * @throws CairnError `E_BUILD_FAILED` when the command fails, `E_NOT_FOUND` for a missing required secret
 */
export async function runStep<T>(
  step: PlanStep,
  image: Image,
  before: SourceTree,
  ctx: RunStepContext,
  consume: (entries: LayerEntry[]) => Promise<T>,
): Promise<T> {
  const ins = step.instruction as RunInstruction;
  const id = randomBytes(6).toString("hex");
  const scratch = path.join(ctx.workDir, `run-${id}`);
  await mkdir(scratch, { recursive: true, mode: 0o700 });
  const mounts: Mount[] = [];
  try {
    const root = await mount(image, path.join(scratch, "rootfs"), { writable: true, store: ctx.snapshots });
    mounts.push(root);
    const runMounts: BuildRunMount[] = [];
    const env = Object.entries({ ...(step.environment ?? {}), ...(step.proxyEnv ?? {}) }).map(
      ([k, v]) => `${k}=${v}`,
    );
    let n = 0;
    for (const m of step.mounts ?? []) {
      const built = await runMount(m, ctx, scratch, `${n++}`, mounts, env);
      if (built) runMounts.push(built);
    }
    const network = ins.network === "none" ? "none" : "host";
    const out = new Writable({
      write(chunk: Buffer, _enc, cb) {
        ctx.onOutput(chunk.toString("utf8"));
        cb();
      },
    });
    const result = await ctx.runtime.run(
      {
        rootfs: root.target,
        args: step.argv ?? [],
        env,
        cwd: step.workingDir,
        ...(step.user !== undefined ? { user: step.user } : {}),
        mounts: runMounts,
        network,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      },
      { stdin: "ignore", stdout: out, stderr: out },
    );
    if (result.exitCode !== 0) {
      const how = result.signal ? `signal: ${result.signal}` : `exit code: ${result.exitCode}`;
      throw new CairnError(
        "E_BUILD_FAILED",
        `process "${(step.argv ?? []).join(" ")}" did not complete successfully: ${how}`,
        { details: { exitCode: result.exitCode, signal: result.signal } },
      );
    }
    const stubs = new Set<string>();
    for (const p of SYSTEM_MOUNT_POINTS) if (!before.lstat(p)) stubs.add(p);
    for (const m of runMounts) {
      const t = rel(m.target);
      if (!before.lstat(t)) stubs.add(t);
    }
    const entries: LayerEntry[] = [];
    for await (const e of mountChanges(root)) entries.push(e);
    return await consume(dropStubs(entries, stubs, before));
  } finally {
    for (const m of mounts.reverse()) await unmount(m).catch(() => {});
    await rm(scratch, { recursive: true, force: true }).catch(() => {});
  }
}

/** Leaves out mount points the runtime created, and directories made only to hold them. */
function dropStubs(entries: LayerEntry[], stubs: Set<string>, before: SourceTree): LayerEntry[] {
  if (stubs.size === 0) return entries;
  const isStub = (p: string) => [...stubs].some((s) => p === s || p.startsWith(`${s}/`));
  const kept = entries.filter((e) => !isStub(e.path));
  const needed = new Set<string>();
  for (const e of kept) {
    if (e.type !== "directory" || before.lstat(e.path)) {
      let p = e.path;
      while (p.includes("/")) {
        p = p.slice(0, p.lastIndexOf("/"));
        needed.add(p);
      }
      needed.add(e.path);
    }
  }
  return kept.filter(
    (e) =>
      e.type !== "directory" ||
      before.lstat(e.path) !== undefined ||
      needed.has(e.path) ||
      !stubParent(e.path, stubs),
  );
}

function stubParent(p: string, stubs: Set<string>): boolean {
  for (const s of stubs) if (s.startsWith(`${p}/`)) return true;
  return false;
}

async function runMount(
  m: PlanRunMount,
  ctx: RunStepContext,
  scratch: string,
  n: string,
  mounts: Mount[],
  env: string[],
): Promise<BuildRunMount | undefined> {
  const target = m.target ?? "";
  switch (m.type) {
    case "bind": {
      let root = ctx.context;
      if (m.from !== undefined) {
        const image = await ctx.imageFor(m.from);
        const fromMount = await mount(image, path.join(scratch, `from-${n}`), { store: ctx.snapshots });
        mounts.push(fromMount);
        root = fromMount.target;
      }
      let source = path.join(root, rel(m.source ?? ""));
      if (!m.readonly) {
        const copy = path.join(scratch, `rw-${n}`);
        await cp(source, copy, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
        source = copy;
      }
      return { type: "bind", source, target, readonly: m.readonly };
    }
    case "cache": {
      const id = m.id ?? target;
      const dir = path.join(ctx.cacheMountDir, createHash("sha256").update(id).digest("hex").slice(0, 32));
      await mkdir(dir, { recursive: true, mode: m.mode ?? 0o755 });
      if (m.uid !== undefined || m.gid !== undefined)
        await chown(dir, m.uid ?? 0, m.gid ?? 0).catch(() => {});
      if (m.mode !== undefined) await chmod(dir, m.mode);
      return { type: "bind", source: dir, target, readonly: m.readonly };
    }
    case "tmpfs":
      return { type: "tmpfs", target, ...(m.size !== undefined ? { sizeBytes: m.size } : {}) };
    case "secret": {
      const id = m.id ?? "";
      const secret = ctx.secrets[id];
      if (secret === undefined) {
        if (m.required) {
          throw new CairnError("E_NOT_FOUND", `secret ${id} not found: pass it in the build's secrets`, {
            details: { expected: `secrets["${id}"]` },
          });
        }
        return undefined;
      }
      const value =
        typeof secret === "string"
          ? Buffer.from(secret)
          : secret instanceof Uint8Array
            ? Buffer.from(secret)
            : await readFile(secret.file);
      if (m.env !== undefined) env.push(`${m.env}=${value.toString("utf8")}`);
      if (m.target === undefined) return undefined;
      const file = path.join(scratch, `secret-${n}`);
      await writeFile(file, value, { mode: 0o600 });
      await chmod(file, m.mode ?? 0o400);
      if (m.uid !== undefined || m.gid !== undefined)
        await chown(file, m.uid ?? 0, m.gid ?? 0).catch(() => {});
      return { type: "bind", source: file, target: m.target, readonly: true };
    }
    case "ssh":
      throw new CairnError("E_USAGE", "RUN --mount=type=ssh is not supported by cairn builds", {
        details: { expected: "bind, cache, tmpfs or secret mounts" },
      });
  }
}
