/**
 * Shared pieces of the runtime tests: a busybox rootfs with users and groups, availability that
 * fails (never skips) with the adapter's reason, and a look at the host's processes.
 */
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  symlinkSync,
} from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Runtime } from "../src/runtime/index.js";
import { makeBusyboxRootfs } from "./helpers/images.js";

/** Applets the runtime tests use beyond those of makeBusyboxRootfs. */
const EXTRA_APPLETS = [
  "tr",
  "ip",
  "hostname",
  "grep",
  "wc",
  "kill",
  "stat",
  "ps",
  "head",
  "cut",
  "tail",
  "ls",
];

/** A fresh temp directory, world-traversable (containers run as other users). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  chmodSync(d, 0o755);
  return d;
}

/**
 * A busybox rootfs with users: root (also in audio), app (1000, in staff and audio), nobody.
 */
export function makeTestRootfs(dir: string): string {
  makeBusyboxRootfs(dir);
  chmodSync(dir, 0o755);
  chmodSync(path.join(dir, "tmp"), 0o1777);
  for (const a of EXTRA_APPLETS) {
    if (!existsSync(path.join(dir, "bin", a))) symlinkSync("busybox", path.join(dir, "bin", a));
  }
  appendFileSync(path.join(dir, "etc/passwd"), "app:x:1000:1000:app:/home/app:/bin/sh\n");
  appendFileSync(path.join(dir, "etc/group"), "app:x:1000:\nstaff:x:50:app\naudio:x:29:root,app\n");
  return dir;
}

/**
 * Fails with the adapter's own reason when it cannot run here: an adapter missing under CI is
 * a failed test, never a skipped one.
 */
export async function requireAvailable(rt: Runtime): Promise<void> {
  const a = await rt.available();
  if (!a.ok) throw new Error(`runtime ${rt.name} is not available here: ${a.reason}`);
}

/** Host pids whose command line contains all of `words` (NUL-separated argv). */
export function hostProcesses(words: string[]): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (words.every((w) => argv.includes(w))) out.push(Number(name));
  }
  return out;
}
