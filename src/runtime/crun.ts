/**
 * The crun adapter: an OCI bundle run by crun, as root.
 *
 * crun 1.8 refuses the "hybrid" cgroup layout (cgroup v1 controllers plus a cgroup2 mount at
 * /sys/fs/cgroup/unified): "cgroups in hybrid mode not supported, drop all controllers from
 * cgroupv2". There, every crun call runs in a private mount namespace with
 * /sys/fs/cgroup/unified unmounted, so crun sees a plain cgroup v1 host; the host's own mounts
 * are untouched.
 */
import { cgroupLayout, currentUid, findTool, runTool } from "./host.js";
import { type OciCli, runOciBundle } from "./oci-bundle.js";
import { prepareRun } from "./prepare.js";
import type { OciRuntimeOptions } from "./runc.js";
import type { Availability, RunIo, RunResult, RunSpec, Runtime } from "./types.js";

const HYBRID_WORKAROUND =
  'umount /sys/fs/cgroup/unified || { echo "cairn: cannot unmount /sys/fs/cgroup/unified for crun" >&2; exit 125; }; exec "$@"';

/**
 * Runs containers with crun (root only), hiding the cgroup2 mount from it on hybrid hosts.
 *
 * @example
 * ```ts
 * const crun = new CrunRuntime();
 * console.log(await crun.available()); // { ok: true, notes: ["hybrid cgroups: ..."] }
 * ```
 */
export class CrunRuntime implements Runtime {
  readonly name = "crun" as const;
  private readonly binary: string | undefined;
  private readonly unshare: string | undefined;
  private readonly sh: string | undefined;

  constructor(options: OciRuntimeOptions = {}) {
    this.binary = options.binary ?? findTool("crun");
    this.unshare = findTool("unshare");
    this.sh = findTool("sh");
  }

  /** True when crun must run with /sys/fs/cgroup/unified hidden. */
  needsHybridWorkaround(): boolean {
    return cgroupLayout() === "hybrid";
  }

  async available(): Promise<Availability> {
    if (this.binary === undefined)
      return { ok: false, reason: "crun is not installed (Debian: apt-get install crun)" };
    if (currentUid() !== 0)
      return {
        ok: false,
        reason: "the crun adapter runs containers as root only; use bwrap when unprivileged",
      };
    const v = await runTool(this.binary, ["--version"]);
    if (v.code !== 0) return { ok: false, reason: `${this.binary} --version failed: ${v.stderr.trim()}` };
    if (!this.needsHybridWorkaround()) return { ok: true };
    if (this.unshare === undefined || this.sh === undefined)
      return {
        ok: false,
        reason:
          "crun does not support this host's hybrid cgroup layout, and unshare(1) is missing to hide " +
          "/sys/fs/cgroup/unified from it (Debian: util-linux)",
      };
    return {
      ok: true,
      notes: [
        "hybrid cgroup layout: crun runs in a private mount namespace with /sys/fs/cgroup/unified unmounted",
      ],
    };
  }

  async run(spec: RunSpec, io: RunIo = {}): Promise<RunResult> {
    const prepared = prepareRun(spec);
    const binary = this.binary ?? "crun";
    const hybrid = this.needsHybridWorkaround() && this.unshare !== undefined && this.sh !== undefined;
    const cli: OciCli = {
      name: "crun",
      binary,
      logArgs: (file) => [`--log=file:${file}`, "--log-format=json"],
      command: (args) =>
        hybrid
          ? {
              file: this.unshare as string,
              args: [
                "--mount",
                "--propagation",
                "private",
                "--",
                this.sh as string,
                "-c",
                HYBRID_WORKAROUND,
                "crun",
                binary,
                ...args,
              ],
            }
          : { file: binary, args },
    };
    return runOciBundle(cli, prepared, io);
  }
}
