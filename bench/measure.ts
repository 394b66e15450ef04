/**
 * Measuring helpers shared by the bench sections: wall time of a function, wall time and peak
 * RSS of a child process (through GNU `/usr/bin/time -f %M`), and peak RSS of this process
 * sampled while a promise runs.
 */
import { execFileSync, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** What one child process cost. */
export interface ChildCost {
  seconds: number;
  /** Peak resident set of the child (and the largest of its waited-for children), MiB. */
  peakRssMiB: number;
}

/** Options of {@link measureChild}. */
export interface MeasureChildOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Write the child's stdout to this file (default: discarded). */
  stdout?: string;
}

const GNU_TIME = "/usr/bin/time";

/**
 * Runs `cmd args` under GNU time and returns its wall time and peak RSS. Fails with the child's
 * stderr when it exits non-zero.
 *
 * @example
 * ```ts
 * const { seconds, peakRssMiB } = await measureChild("sha256sum", ["/tmp/blob"]);
 * ```
 */
export async function measureChild(
  cmd: string,
  args: string[],
  options: MeasureChildOptions = {},
): Promise<ChildCost> {
  const dir = mkdtempSync(path.join(tmpdir(), "cairn-bench-time-"));
  const out = path.join(dir, "rss");
  const stdoutFd = options.stdout !== undefined ? openSync(options.stdout, "w") : "ignore";
  try {
    const t = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(GNU_TIME, ["-f", "%M", "-o", out, cmd, ...args], {
        cwd: options.cwd,
        env: options.env ?? process.env,
        stdio: ["ignore", stdoutFd, "pipe"],
      });
      let stderr = "";
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (d: string) => {
        stderr = (stderr + d).slice(-4000);
      });
      child.on("error", reject);
      child.on("close", (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(`${cmd} ${args.join(" ")} exited ${code ?? signal}:\n${stderr}`));
      });
    });
    const seconds = Number(process.hrtime.bigint() - t) / 1e9;
    const kib = Number(readFileSync(out, "utf8").trim().split("\n").pop());
    return { seconds, peakRssMiB: Math.round(kib / 1024) };
  } finally {
    if (typeof stdoutFd === "number") closeSync(stdoutFd);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Wall seconds of an async function.
 *
 * @example
 * ```ts
 * const s = await timeAsync(() => fsp.rm(dir, { recursive: true }));
 * ```
 */
export async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * Wall seconds of an async function and how far this process's RSS rose above where it stood
 * when the function started (sampled every 20 ms).
 *
 * @example
 * ```ts
 * const { seconds, rssGrowthMiB } = await timeWithRss(() => digestOf(createReadStream(f)));
 * ```
 */
export async function timeWithRss(
  fn: () => Promise<unknown>,
): Promise<{ seconds: number; rssGrowthMiB: number; peakRssMiB: number }> {
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  try {
    const seconds = await timeAsync(fn);
    peak = Math.max(peak, process.memoryUsage.rss());
    return {
      seconds,
      rssGrowthMiB: Math.round((peak - baseline) / 2 ** 20),
      peakRssMiB: Math.round(peak / 2 ** 20),
    };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * Flushes dirty pages so that one timed step does not pay for the writes of the previous one.
 *
 * @example
 * ```ts
 * settle(); const s = await timeAsync(() => unpack());
 * ```
 */
export function settle(): void {
  execFileSync("sync");
}
