/**
 * Running a prepared container through an OCI runtime CLI (runc, crun): a bundle directory
 * with config.json pointing at the rootfs, `run` in the foreground with stdio passed through,
 * `kill` + `delete` for timeouts, aborts and cleanup.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import { runTool } from "./host.js";
import { launch } from "./launch.js";
import { buildOciSpec } from "./oci-spec.js";
import type { PreparedRun } from "./prepare.js";
import type { RunIo, RunResult } from "./types.js";

/** How to call one OCI runtime CLI. */
export interface OciCli {
  name: "runc" | "crun";
  binary: string;
  /** Global options that send the runtime's own log, as JSON lines, to `file`. */
  logArgs(file: string): string[];
  /** The command line that runs `args` of the runtime (a wrapper may come first). */
  command(args: string[]): { file: string; args: string[] };
}

const HOST_ENV = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" };

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Errors the runtime logged about itself (it logs nothing for a container's own failure). */
async function runtimeErrors(logFile: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(logFile, "utf8");
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const rec = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if ((rec.level === "error" || rec.level === "fatal") && typeof rec.msg === "string") out.push(rec.msg);
    } catch {
      out.push(line);
    }
  }
  return out;
}

/**
 * Runs `prepared` with an OCI runtime: writes a bundle, runs it in the foreground, and deletes
 * the container and the bundle afterwards.
 *
 * @example
 * ```ts
 * const result = await runOciBundle(runcCli, prepareRun(spec), { stdout: "pipe" })
 * ```
 * @throws CairnError `E_RUNTIME` when the runtime reports its own failure, `E_ABORTED`
 */
export async function runOciBundle(cli: OciCli, prepared: PreparedRun, io: RunIo): Promise<RunResult> {
  const bundle = await fs.mkdtemp(path.join(os.tmpdir(), `cairn-${cli.name}-`));
  const id = `cairn-${randomBytes(8).toString("hex")}`;
  const logFile = path.join(bundle, "runtime.log");
  const spec = buildOciSpec({
    rootfs: prepared.rootfs,
    args: prepared.args,
    env: prepared.env,
    cwd: prepared.cwd,
    user: prepared.user,
    hostname: prepared.hostname,
    mounts: prepared.mounts,
    network: prepared.network,
  });
  await fs.writeFile(path.join(bundle, "config.json"), JSON.stringify(spec, null, 2), { mode: 0o600 });
  const run = cli.command([...cli.logArgs(logFile), "run", "--bundle", bundle, id]);
  let exited = false;
  return launch(prepared, io, {
    runtime: cli.name,
    file: run.file,
    args: run.args,
    env: HOST_ENV,
    onSpawn(child) {
      child.once("exit", () => {
        exited = true;
      });
    },
    async kill(child) {
      // The container may still be being created: keep asking until `run` has returned.
      for (let i = 0; i < 100 && !exited; i++) {
        await runTool(cli.binary, ["kill", id, "KILL"]);
        await sleep(100);
      }
      // Never created (or the runtime hangs): stop the runtime; cleanup deletes what is left.
      if (!exited) child.kill("SIGKILL");
    },
    async check(raw) {
      if (raw.code === 0) return undefined;
      const errors = await runtimeErrors(logFile);
      if (errors.length === 0) return undefined;
      return new CairnError("E_RUNTIME", `${cli.name} failed to run the container: ${errors.join("; ")}`, {
        details: { runtime: cli.name, exitCode: raw.code, errors },
      });
    },
    async cleanup() {
      const del = cli.command(["delete", "--force", id]);
      await runTool(del.file, del.args);
      await fs.rm(bundle, { recursive: true, force: true });
    },
  });
}
