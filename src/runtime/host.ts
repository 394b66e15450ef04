/**
 * What the host offers: tool lookup, the caller's ids, the cgroup layout, user namespaces.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const SEARCH_PATH = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

/**
 * Finds an executable by name in `PATH` and the usual system directories; undefined when absent.
 *
 * @example
 * ```ts
 * findTool("runc") // "/usr/sbin/runc"
 * ```
 */
export function findTool(name: string): string | undefined {
  if (name.includes("/")) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? "").split(":").filter((d) => d.startsWith("/")), ...SEARCH_PATH];
  for (const d of dirs) {
    const p = path.join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

function isExecutable(p: string): boolean {
  try {
    const st = fs.statSync(p);
    return st.isFile() && (st.mode & 0o111) !== 0;
  } catch {
    return false;
  }
}

/**
 * The effective uid of this process (0 = root).
 *
 * @example
 * ```ts
 * if (currentUid() !== 0) console.log("not root")
 * ```
 */
export function currentUid(): number {
  return typeof process.geteuid === "function" ? process.geteuid() : -1;
}

/**
 * The effective gid of this process.
 *
 * @example
 * ```ts
 * const gid = currentGid()
 * ```
 */
export function currentGid(): number {
  return typeof process.getegid === "function" ? process.getegid() : -1;
}

/** How cgroups are mounted: `unified` (v2 only), `hybrid` (v1 plus a v2 at .../unified), `legacy`, `none`. */
export type CgroupLayout = "unified" | "hybrid" | "legacy" | "none";

/**
 * Reads the cgroup layout from /proc/self/mountinfo.
 *
 * @example
 * ```ts
 * if (cgroupLayout() === "hybrid") console.log("crun needs /sys/fs/cgroup/unified hidden")
 * ```
 */
export function cgroupLayout(mountinfo = "/proc/self/mountinfo"): CgroupLayout {
  let text: string;
  try {
    text = fs.readFileSync(mountinfo, "utf8");
  } catch {
    return "none";
  }
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const sep = line.indexOf(" - ");
    if (sep < 0) continue;
    const mountPoint = line.slice(0, sep).split(" ")[4];
    const fsType = line.slice(sep + 3).split(" ")[0];
    if (mountPoint !== undefined && fsType !== undefined) types.set(mountPoint, fsType);
  }
  if (types.get("/sys/fs/cgroup") === "cgroup2") return "unified";
  const v1 = [...types.entries()].some(([m, t]) => t === "cgroup" && m.startsWith("/sys/fs/cgroup/"));
  if (types.get("/sys/fs/cgroup/unified") === "cgroup2") return v1 ? "hybrid" : "unified";
  return v1 ? "legacy" : "none";
}

/**
 * Why unprivileged users cannot create user namespaces here, or undefined when they can (as far
 * as the kernel's switches say).
 *
 * @example
 * ```ts
 * const why = userNamespacesBlocked(); if (why) console.log(why)
 * ```
 */
export function userNamespacesBlocked(): string | undefined {
  const read = (p: string): string | undefined => {
    try {
      return fs.readFileSync(p, "utf8").trim();
    } catch {
      return undefined;
    }
  };
  if (!fs.existsSync("/proc/self/ns/user")) return "the kernel has no user namespaces";
  if (read("/proc/sys/user/max_user_namespaces") === "0") return "user.max_user_namespaces is 0";
  if (read("/proc/sys/kernel/unprivileged_userns_clone") === "0")
    return "kernel.unprivileged_userns_clone is 0";
  if (read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") === "1")
    return "kernel.apparmor_restrict_unprivileged_userns is 1";
  return undefined;
}

/** Result of {@link runTool}. */
export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a host tool to completion, never throwing for a non-zero exit.
 *
 * @example
 * ```ts
 * const r = await runTool("/usr/sbin/runc", ["--version"])
 * ```
 */
export function runTool(file: string, args: readonly string[], timeoutMs = 30_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { timeout: timeoutMs, encoding: "utf8", maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr: stderr || (err && code === null ? err.message : "") });
      },
    );
  });
}
