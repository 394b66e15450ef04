/**
 * Running a runtime's host process for one container: wiring stdio, the time limit and the
 * abort signal, and reading how the container ended. Adapters only say what to spawn and how
 * to kill the whole container.
 */
import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { constants } from "node:os";
import type { Readable, Writable } from "node:stream";
import { CairnError } from "../errors/index.js";
import type { PreparedRun } from "./prepare.js";
import type { OutputSink, RunIo, RunResult, RuntimeName } from "./types.js";

/** How the runtime's host process ended. */
export interface RawExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What an adapter wants spawned for one container. */
export interface LaunchPlan {
  runtime: RuntimeName;
  file: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Extra pipes the runtime gets as fds 3, 4, ... */
  extraPipes?: number;
  /** Called once the process is spawned (e.g. to read status pipes). */
  onSpawn?(child: ChildProcess): void;
  /** Kills every process of the container; called on timeout and abort, maybe more than once. */
  kill(child: ChildProcess): Promise<void>;
  /** After the process closed: an error when the runtime itself failed (not the container). */
  check?(raw: RawExit): Promise<CairnError | undefined>;
  /** Always called at the end. */
  cleanup?(): Promise<void>;
}

const SIGNAL_NAMES = new Map<number, string>(
  Object.entries(constants.signals).map(([name, n]) => [n as number, name]),
);

/**
 * Reads a runtime's exit status: a host signal, or 128+N for death by signal N inside the
 * container (the convention runc, crun, bwrap and shells share), or a plain exit code.
 *
 * @example
 * ```ts
 * decodeExit({ code: 143, signal: null }) // { exitCode: null, signal: "SIGTERM" }
 * ```
 */
export function decodeExit(raw: RawExit): { exitCode: number | null; signal: string | null } {
  if (raw.signal !== null) return { exitCode: null, signal: raw.signal };
  const code = raw.code ?? 255;
  const name = code > 128 ? SIGNAL_NAMES.get(code - 128) : undefined;
  return name ? { exitCode: null, signal: name } : { exitCode: code, signal: null };
}

/**
 * The shell's view of a result: the exit code, or 128+N for death by signal N (what `cairn run`
 * exits with).
 *
 * @example
 * ```ts
 * shellExitStatus({ exitCode: null, signal: "SIGKILL" }) // 137
 * ```
 */
export function shellExitStatus(result: { exitCode: number | null; signal: string | null }): number {
  if (result.exitCode !== null) return result.exitCode;
  const n = result.signal === null ? undefined : constants.signals[result.signal as NodeJS.Signals];
  return n === undefined ? 255 : 128 + n;
}

function outMode(sink: OutputSink | undefined): "pipe" | "inherit" | "ignore" {
  if (sink === "inherit" || sink === "ignore") return sink;
  return "pipe";
}

function collect(stream: Readable | null, sink: OutputSink | undefined, into: Buffer[]): void {
  if (stream === null) return;
  if (sink === undefined || sink === "pipe") stream.on("data", (d: Buffer) => into.push(d));
  else if (typeof sink === "object") stream.pipe(sink as Writable, { end: false });
}

/**
 * Spawns `plan` for the prepared run, feeds stdin, routes output, enforces the time limit and
 * the abort signal, and returns the result.
 *
 * @example
 * ```ts
 * const result = await launch(prepared, { stdout: "pipe" }, { runtime: "bwrap", file: "/usr/bin/bwrap", args, env: {}, kill: async (c) => { c.kill("SIGKILL") } })
 * ```
 * @throws CairnError `E_ABORTED` when the signal aborted the run, `E_RUNTIME` when the runtime
 * could not be started or reported its own failure
 */
export async function launch(prepared: PreparedRun, io: RunIo, plan: LaunchPlan): Promise<RunResult> {
  const started = performance.now();
  const signal = prepared.signal;
  if (signal?.aborted) {
    await plan.cleanup?.();
    throw new CairnError(
      "E_ABORTED",
      `${plan.runtime} run of ${prepared.args[0]} was aborted before it started`,
    );
  }
  const stdinSrc = io.stdin ?? "ignore";
  const stdinMode = stdinSrc === "inherit" || stdinSrc === "ignore" ? stdinSrc : "pipe";
  const stdio: StdioOptions = [
    stdinMode,
    outMode(io.stdout),
    outMode(io.stderr),
    ...Array.from({ length: plan.extraPipes ?? 0 }, () => "pipe" as const),
  ];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let timedOut = false;
  let aborted = false;
  let exited = false;
  let child: ChildProcess;
  try {
    child = spawn(plan.file, plan.args, { env: plan.env, stdio });
  } catch (e) {
    await plan.cleanup?.();
    throw new CairnError("E_RUNTIME", `cannot start ${plan.file}: ${(e as Error).message}`, { cause: e });
  }
  const killAll = (): void => {
    plan.kill(child).catch(() => {});
  };
  const timer =
    prepared.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          if (exited) return;
          timedOut = true;
          killAll();
        }, prepared.timeoutMs);
  const onAbort = (): void => {
    if (exited) return;
    aborted = true;
    killAll();
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  const raw = await new Promise<RawExit | Error>((resolve) => {
    let settled = false;
    let closeTimer: NodeJS.Timeout | undefined;
    const finish = (r: RawExit | Error): void => {
      if (settled) return;
      settled = true;
      if (closeTimer) clearTimeout(closeTimer);
      resolve(r);
    };
    child.once("error", (e) => finish(e));
    child.once("exit", (code, sig) => {
      exited = true;
      // Output still in the pipes is read until "close"; a stray holder of the pipes (not
      // possible once the pid namespace is gone, but cheap to guard) cannot hang the run.
      closeTimer = setTimeout(() => {
        for (const s of [child.stdout, child.stderr]) s?.destroy();
        finish({ code, signal: sig });
      }, 5000);
    });
    child.once("close", (code: number | null, sig: NodeJS.Signals | null) => finish({ code, signal: sig }));
    if (child.stdin) {
      const stdin = child.stdin;
      stdin.on("error", () => {});
      if (stdinSrc instanceof Uint8Array) stdin.end(stdinSrc);
      else if (typeof stdinSrc === "object") {
        stdinSrc.on("error", () => stdin.destroy());
        stdinSrc.pipe(stdin);
      }
    }
    collect(child.stdout, io.stdout, out);
    collect(child.stderr, io.stderr, err);
    plan.onSpawn?.(child);
  });
  if (timer) clearTimeout(timer);
  signal?.removeEventListener("abort", onAbort);
  if (typeof stdinSrc === "object" && !(stdinSrc instanceof Uint8Array) && child.stdin)
    stdinSrc.unpipe(child.stdin);

  try {
    if (raw instanceof Error)
      throw new CairnError("E_RUNTIME", `cannot start ${plan.file}: ${raw.message}`, { cause: raw });
    if (aborted) throw new CairnError("E_ABORTED", `${plan.runtime} run of ${prepared.args[0]} was aborted`);
    if (!timedOut) {
      const failure = await plan.check?.(raw);
      if (failure) throw failure;
    }
    const result: RunResult = {
      ...decodeExit(raw),
      durationMs: Math.round(performance.now() - started),
      timedOut,
    };
    if (io.stdout === undefined || io.stdout === "pipe") result.stdout = Buffer.concat(out);
    if (io.stderr === undefined || io.stderr === "pipe") result.stderr = Buffer.concat(err);
    return result;
  } finally {
    await plan.cleanup?.();
  }
}
