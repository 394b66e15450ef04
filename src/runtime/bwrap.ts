/**
 * The bubblewrap adapter: the rootfs bound on `/`, a fresh /proc and /dev, new pid, ipc and uts
 * namespaces (and network unless `host`), the command as pid 1. bwrap cannot switch users
 * itself, so:
 *
 * - as root, for a root container user: `setpriv` sets the supplementary groups, then bwrap runs
 *   without a user namespace, with Docker's default capabilities;
 * - as root, for another user: `setpriv` becomes that user (uid, gid, groups), then bwrap makes a
 *   user namespace that cairn maps 1:1 onto the host's ids (through `--userns-block-fd`), so the
 *   container sees its real ids and groups and its files get the right owners on the host;
 * - unprivileged: bwrap's own user namespace maps the caller to the container user (one uid and
 *   one gid; supplementary groups cannot be set, and files belong to the caller on the host).
 *
 * Differences from runc/crun: no /sys, no device cgroup, no masked /proc paths, and bwrap sets
 * `PWD` in the environment.
 */
import type { ChildProcess } from "node:child_process";
import fs from "node:fs/promises";
import type { Readable, Writable } from "node:stream";
import { currentUid, findTool, runTool, userNamespacesBlocked } from "./host.js";
import { launch } from "./launch.js";
import { DEFAULT_CAPABILITIES } from "./oci-spec.js";
import { type PreparedRun, prepareRun } from "./prepare.js";
import type { Availability, RunIo, RunResult, RunSpec, Runtime } from "./types.js";

/** Options of {@link BwrapRuntime}. */
export interface BwrapRuntimeOptions {
  /** The bwrap binary (default: looked up). */
  binary?: string;
}

/** How the sandbox gets its user. */
type UserMode = "root-direct" | "root-mapped" | "unprivileged";

const INFO_FD = 3;
const BLOCK_FD = 4;

function readAll(stream: Readable): Promise<string> {
  return new Promise((resolve) => {
    let text = "";
    stream.setEncoding("utf8");
    stream.on("data", (d: string) => {
      text += d;
    });
    stream.on("end", () => resolve(text));
    stream.on("error", () => resolve(text));
  });
}

function childPid(info: string): number | undefined {
  try {
    const pid = (JSON.parse(info) as Record<string, unknown>)["child-pid"];
    return typeof pid === "number" && Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs containers with bubblewrap, as root or as an unprivileged user (through a user namespace).
 *
 * @example
 * ```ts
 * const bwrap = new BwrapRuntime();
 * const r = await bwrap.run({ rootfs, args: ["id", "-u"], user: "nobody" });
 * ```
 */
export class BwrapRuntime implements Runtime {
  readonly name = "bwrap" as const;
  private readonly binary: string | undefined;
  private readonly setpriv: string | undefined;
  private probe: Promise<Availability> | undefined;

  constructor(options: BwrapRuntimeOptions = {}) {
    this.binary = options.binary ?? findTool("bwrap");
    this.setpriv = findTool("setpriv");
  }

  available(): Promise<Availability> {
    this.probe ??= this.check();
    return this.probe;
  }

  private async check(): Promise<Availability> {
    if (this.binary === undefined)
      return { ok: false, reason: "bubblewrap is not installed (Debian: apt-get install bubblewrap)" };
    const root = currentUid() === 0;
    const blocked = userNamespacesBlocked();
    if (!root && blocked)
      return { ok: false, reason: `bwrap needs user namespaces when not run as root, but ${blocked}` };
    const trueBin = findTool("true") ?? "/bin/true";
    const probeArgs = root
      ? ["--ro-bind", "/", "/", "--unshare-pid", trueBin]
      : ["--unshare-user", "--ro-bind", "/", "/", "--unshare-pid", trueBin];
    const r = await runTool(this.binary, probeArgs);
    if (r.code !== 0) return { ok: false, reason: `bwrap cannot create a sandbox here: ${r.stderr.trim()}` };
    const notes: string[] = [];
    if (root && this.setpriv === undefined)
      return {
        ok: false,
        reason: "the bwrap adapter needs setpriv(1) when run as root (Debian: util-linux)",
      };
    if (root && blocked) notes.push(`containers running as a non-root user will fail: ${blocked}`);
    if (!root)
      notes.push(
        "unprivileged: supplementary groups cannot be set and files written belong to the calling user",
      );
    return notes.length > 0 ? { ok: true, notes } : { ok: true };
  }

  async run(spec: RunSpec, io: RunIo = {}): Promise<RunResult> {
    const prepared = prepareRun(spec);
    const binary = this.binary ?? "bwrap";
    const root = currentUid() === 0;
    const mode: UserMode = !root ? "unprivileged" : prepared.user.uid === 0 ? "root-direct" : "root-mapped";
    const { uid, gid, additionalGids } = prepared.user;
    const groupArgs = additionalGids.length > 0 ? ["--groups", additionalGids.join(",")] : ["--clear-groups"];
    const setpriv = this.setpriv ?? "setpriv";

    let file = binary;
    let prefix: string[] = [];
    if (mode === "root-direct") {
      file = setpriv;
      prefix = [...(gid !== 0 ? ["--regid", String(gid)] : []), ...groupArgs, "--", binary];
    } else if (mode === "root-mapped") {
      file = setpriv;
      prefix = ["--reuid", String(uid), "--regid", String(gid), ...groupArgs, "--", binary];
    }
    const args = [...prefix, ...this.sandboxArgs(prepared, mode)];
    let pid: number | undefined;
    let outer: ChildProcess | undefined;
    let infoRead: Promise<void> = Promise.resolve();
    return launch(prepared, io, {
      runtime: "bwrap",
      file,
      args,
      env: Object.fromEntries(
        prepared.env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
      ),
      extraPipes: mode === "root-mapped" ? 2 : 1,
      onSpawn: (child) => {
        outer = child;
        const info = child.stdio[INFO_FD] as Readable | null;
        const block = child.stdio[BLOCK_FD] as Writable | null | undefined;
        block?.on("error", () => {});
        if (!info) return;
        const text = readAll(info);
        infoRead = text.then(() => {});
        void text.then(async (text) => {
          pid = childPid(text);
          if (mode !== "root-mapped" || !block) return;
          // Map every id onto itself, as root may: the container keeps its real ids and groups.
          if (pid !== undefined) {
            await fs.writeFile(`/proc/${pid}/uid_map`, "0 0 4294967295\n").catch(() => {});
            await fs.writeFile(`/proc/${pid}/gid_map`, "0 0 4294967295\n").catch(() => {});
          }
          block.end("1");
        });
      },
      async kill() {
        // bwrap reports the sandbox's pid 1 right after cloning it. Stopping bwrap then keeps
        // that process from being reaped (and its pid reused) before it is killed; its death
        // ends everything in its pid namespace.
        await Promise.race([infoRead, new Promise((r) => setTimeout(r, 2000))]);
        outer?.kill("SIGSTOP");
        if (pid !== undefined) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }
        outer?.kill("SIGKILL");
      },
    });
  }

  private sandboxArgs(p: PreparedRun, mode: UserMode): string[] {
    const a = ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--as-pid-1", "--die-with-parent"];
    if (p.network === "none") a.push("--unshare-net");
    a.push("--info-fd", String(INFO_FD));
    if (mode === "root-mapped") a.push("--unshare-user", "--userns-block-fd", String(BLOCK_FD));
    if (mode === "unprivileged")
      a.push("--unshare-user", "--uid", String(p.user.uid), "--gid", String(p.user.gid));
    if (mode === "root-direct" || (mode === "unprivileged" && p.user.uid === 0)) {
      a.push("--cap-drop", "ALL");
      for (const c of DEFAULT_CAPABILITIES) a.push("--cap-add", c);
    }
    a.push("--hostname", p.hostname, "--bind", p.rootfs, "/", "--proc", "/proc", "--dev", "/dev");
    for (const m of p.mounts) {
      if (m.type === "bind") a.push(m.readonly ? "--ro-bind" : "--bind", m.source, m.target);
      else {
        if (m.sizeBytes !== undefined) a.push("--size", String(m.sizeBytes));
        a.push("--perms", (m.mode ?? 0o755).toString(8).padStart(4, "0"), "--tmpfs", m.target);
      }
    }
    a.push("--chdir", p.cwd, "--", ...p.args);
    return a;
  }
}
