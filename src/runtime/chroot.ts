/**
 * The chroot adapter (root only): `unshare` makes new mount, pid, ipc, uts (and network unless
 * `host`) namespaces; a small host shell script mounts /proc, a tmpfs /dev with the usual
 * device nodes, /sys and the requested mounts into the rootfs (inside the private mount
 * namespace, so nothing leaks to the host); then `setpriv` sets the gid, the supplementary
 * groups, Docker's default capability bounding set and no_new_privs, and `unshare --root
 * --wd --setuid` enters the rootfs and becomes the user. The command runs as pid 1.
 *
 * Every tool runs from the host before the root changes, so the rootfs needs none of them, and
 * no user or group name is looked up by the host's NSS inside the rootfs.
 *
 * It isolates less than runc/crun: no device cgroup, no masked /proc paths.
 */
import type { Readable } from "node:stream";
import { CairnError } from "../errors/index.js";
import { currentUid, findTool } from "./host.js";
import { launch } from "./launch.js";
import { DEFAULT_CAPABILITIES } from "./oci-spec.js";
import { type PreparedRun, prepareRun } from "./prepare.js";
import type { Availability, RunIo, RunResult, RunSpec, Runtime } from "./types.js";

const STATUS_FD = 3;

// Runs as pid 1 of the new namespaces, with the host's tools. Arguments: the rootfs, then
// operations ("sys", "bind SRC DST ro|rw", "tmpfs DST OPTIONS", "hostname NAME", "lo IP"),
// then "--" and the command to exec. Paths are host paths already resolved inside the rootfs.
const SETUP_SCRIPT = `
fail() { printf 'cairn-chroot: %s\\n' "$*" >&3; exit 125; }
read -r self rest < /proc/self/stat || fail "cannot read /proc/self/stat"
printf 'pid %s\\n' "$self" >&3
root=$1; shift
while [ "$#" -gt 0 ]; do
  op=$1; shift
  case $op in
  --) break ;;
  sys)
    mount -t proc -o nosuid,noexec,nodev proc "$root/proc" || fail "cannot mount /proc"
    mount -t tmpfs -o nosuid,strictatime,mode=755,size=65536k tmpfs "$root/dev" || fail "cannot mount /dev"
    for d in null zero full random urandom tty; do
      : > "$root/dev/$d" && mount --bind "/dev/$d" "$root/dev/$d" || fail "cannot bind /dev/$d"
    done
    mkdir "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue" || fail "cannot populate /dev"
    mount -t devpts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts" || fail "cannot mount /dev/pts"
    mount -t tmpfs -o nosuid,noexec,nodev,mode=1777,size=65536k shm "$root/dev/shm" || fail "cannot mount /dev/shm"
    mount -t mqueue -o nosuid,noexec,nodev mqueue "$root/dev/mqueue" || fail "cannot mount /dev/mqueue"
    ln -s pts/ptmx "$root/dev/ptmx" && ln -s /proc/self/fd "$root/dev/fd" &&
      ln -s /proc/self/fd/0 "$root/dev/stdin" && ln -s /proc/self/fd/1 "$root/dev/stdout" &&
      ln -s /proc/self/fd/2 "$root/dev/stderr" || fail "cannot link /dev entries"
    mount -t sysfs -o nosuid,noexec,nodev,ro sysfs "$root/sys" || fail "cannot mount /sys"
    ;;
  bind)
    mount --rbind "$1" "$2" || fail "cannot bind $1 on $2"
    if [ "$3" = ro ]; then mount -o remount,bind,ro "$2" || fail "cannot make $2 read-only"; fi
    shift 3 ;;
  tmpfs)
    mount -t tmpfs -o "$2" tmpfs "$1" || fail "cannot mount a tmpfs on $1"
    shift 2 ;;
  hostname)
    printf '%s' "$1" > /proc/sys/kernel/hostname || fail "cannot set the hostname"
    shift ;;
  lo)
    "$1" link set lo up || fail "cannot bring up loopback"
    shift ;;
  *) fail "unknown setup operation $op" ;;
  esac
done
exec 3>&-
exec "$@"
`;

const HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Options of {@link ChrootRuntime}. */
export interface ChrootRuntimeOptions {
  /** Paths of the host tools, when not found by name. */
  tools?: Partial<Record<"unshare" | "setpriv" | "env" | "sh" | "mount" | "ip", string>>;
}

/**
 * Runs containers with `unshare` + chroot (root only): namespaces and mounts like the other
 * adapters, without a container runtime installed.
 *
 * @example
 * ```ts
 * const r = await new ChrootRuntime().run({ rootfs, args: ["pwd"], cwd: "/tmp" });
 * r.stdout?.toString() // "/tmp\n"
 * ```
 */
export class ChrootRuntime implements Runtime {
  readonly name = "chroot" as const;
  private readonly tools: Record<"unshare" | "setpriv" | "env" | "sh" | "mount", string | undefined> & {
    ip: string | undefined;
  };

  constructor(options: ChrootRuntimeOptions = {}) {
    const t = options.tools ?? {};
    this.tools = {
      unshare: t.unshare ?? findTool("unshare"),
      setpriv: t.setpriv ?? findTool("setpriv"),
      env: t.env ?? findTool("env"),
      sh: t.sh ?? findTool("sh"),
      mount: t.mount ?? findTool("mount"),
      ip: t.ip ?? findTool("ip"),
    };
  }

  async available(): Promise<Availability> {
    if (currentUid() !== 0) return { ok: false, reason: "the chroot adapter needs root" };
    const missing = (["unshare", "setpriv", "env", "sh", "mount"] as const).filter((k) => !this.tools[k]);
    if (missing.length > 0)
      return {
        ok: false,
        reason: `the chroot adapter needs ${missing.join(", ")} on the host (Debian: util-linux, coreutils)`,
      };
    if (this.tools.ip === undefined)
      return {
        ok: true,
        notes: ["ip(8) is missing (Debian: iproute2): with network none, loopback stays down"],
      };
    return { ok: true };
  }

  async run(spec: RunSpec, io: RunIo = {}): Promise<RunResult> {
    const prepared = prepareRun(spec);
    const t = this.tools;
    const need = (k: "unshare" | "setpriv" | "env" | "sh"): string => {
      const p = t[k];
      if (p === undefined) throw new CairnError("E_NO_RUNTIME", `the chroot adapter needs ${k} on the host`);
      return p;
    };
    const unshare = need("unshare");
    const ns = ["--mount", "--propagation", "private", "--pid", "--ipc", "--uts", "--fork", "--kill-child"];
    if (prepared.network === "none") ns.push("--net");
    const args = [...ns, "--", need("sh"), "-c", SETUP_SCRIPT, "cairn-chroot", ...this.setupOps(prepared)];
    args.push("--", ...this.execLine(prepared, need("env"), need("setpriv"), unshare));

    let pid: number | undefined;
    let status = "";
    let statusDone: Promise<void> = Promise.resolve();
    return launch(prepared, io, {
      runtime: "chroot",
      file: unshare,
      args,
      env: { PATH: HOST_PATH },
      extraPipes: 1,
      onSpawn(child) {
        const fd = child.stdio[STATUS_FD] as Readable | null;
        if (!fd) return;
        fd.setEncoding("utf8");
        statusDone = new Promise((resolve) => {
          fd.on("data", (d: string) => {
            status += d;
            const m = /^pid (\d+)$/m.exec(status);
            if (m && pid === undefined) {
              pid = Number(m[1]);
              resolve();
            }
          });
          fd.on("end", () => resolve());
          fd.on("error", () => resolve());
        });
      },
      async kill(child) {
        // unshare(1) cannot pass SIGKILL on (it prints an error and exits 1), so it is stopped
        // (keeping pid 1 of the namespace a zombie, so its pid cannot be reused), pid 1 is
        // killed, which kills everything in the namespace, then unshare itself. The script
        // reports pid 1's host pid first thing, so it is known or about to be.
        child.kill("SIGSTOP");
        await Promise.race([statusDone, new Promise((r) => setTimeout(r, 2000))]);
        if (pid !== undefined) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // Already gone.
          }
        }
        child.kill("SIGKILL");
      },
      async check() {
        const failure = status
          .split("\n")
          .filter((l) => l.startsWith("cairn-chroot: "))
          .map((l) => l.slice("cairn-chroot: ".length));
        if (failure.length === 0) return undefined;
        return new CairnError(
          "E_RUNTIME",
          `chroot setup failed in ${prepared.rootfs}: ${failure.join("; ")}`,
          {
            details: { runtime: "chroot", errors: failure },
          },
        );
      },
    });
  }

  private setupOps(p: PreparedRun): string[] {
    const ops = [p.rootfs, "sys", "hostname", p.hostname];
    if (p.network === "none" && this.tools.ip !== undefined) ops.push("lo", this.tools.ip);
    for (const m of p.mounts) {
      if (m.type === "bind") ops.push("bind", m.source, m.hostTarget, m.readonly ? "ro" : "rw");
      else {
        const opts = ["nosuid", "nodev", `mode=${(m.mode ?? 0o755).toString(8).padStart(4, "0")}`];
        if (m.sizeBytes !== undefined) opts.push(`size=${m.sizeBytes}`);
        ops.push("tmpfs", m.hostTarget, opts.join(","));
      }
    }
    return ops;
  }

  private execLine(p: PreparedRun, env: string, setpriv: string, unshare: string): string[] {
    const { uid, gid, additionalGids } = p.user;
    const caps = DEFAULT_CAPABILITIES.map((c) => `+${c.slice("CAP_".length).toLowerCase()}`).join(",");
    const groups = additionalGids.length > 0 ? ["--groups", additionalGids.join(",")] : ["--clear-groups"];
    return [
      env,
      "-i",
      "--",
      ...p.env,
      setpriv,
      "--regid",
      String(gid),
      ...groups,
      "--bounding-set",
      `-all,${caps}`,
      "--no-new-privs",
      "--",
      unshare,
      "--root",
      p.rootfs,
      "--wd",
      p.cwd,
      ...(uid !== 0 ? ["--setuid", String(uid)] : []),
      "--",
      ...p.args,
    ];
  }
}
