import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./conformance.js";

const CHILD = path.join(repoRoot, "test", "helpers", "content-child.ts");

/** A running content-child process, with its output lines as they arrive. */
export interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the exit code (null when killed) and signal once the process is gone and reaped. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/**
 * Starts `node --import tsx SCRIPT …args` (a test child script); `onLine` sees each stdout line
 * (and may kill the child).
 *
 * @example
 * ```ts
 * const child = spawnTsChild(path.join(repoRoot, "test/helpers/union-child.ts"), ["prepare", dir]);
 * await child.exited
 * ```
 */
export function spawnTsChild(
  script: string,
  args: string[],
  onLine?: (line: string, child: Child) => void,
): Child {
  const proc = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const child: Child = {
    proc,
    lines: [],
    exited: new Promise((resolve, reject) => {
      proc.on("error", reject);
      proc.on("close", (code, signal) => resolve({ code, signal, stderr }));
    }),
  };
  if (proc.stdout) {
    createInterface({ input: proc.stdout }).on("line", (line) => {
      child.lines.push(line);
      onLine?.(line, child);
    });
  }
  return child;
}

/**
 * Starts `node --import tsx test/helpers/content-child.ts …args`; `onLine` sees each stdout line
 * (and may kill the child).
 *
 * @example
 * ```ts
 * const child = spawnContentChild(["put-large", dir, "64"], (line, c) => line === "end" && c.proc.kill("SIGKILL"))
 * await child.exited
 * ```
 */
export function spawnContentChild(args: string[], onLine?: (line: string, child: Child) => void): Child {
  return spawnTsChild(CHILD, args, onLine);
}
