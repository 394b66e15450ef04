/**
 * Checking a {@link RunSpec} and turning it into what every adapter needs: ids resolved from the
 * rootfs, the final environment, mount points created safely inside the rootfs. Doing this once,
 * here, is what makes the adapters behave alike.
 */
import fs from "node:fs";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import { ensureDirInRoot, ensureFileInRoot, findExecutableInRoot, resolveInRoot } from "./rootfs-path.js";
import type { ContainerMount, NetworkMode, RunSpec, RunUser } from "./types.js";
import { MAX_ID, resolveUser } from "./users.js";

/** The `PATH` a container gets when its environment has none (Docker's and runc's default). */
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The hostname a container gets unless the spec names one. */
export const DEFAULT_HOSTNAME = "cairn";

/** The mount points every adapter sets up itself. */
export const SYSTEM_MOUNT_POINTS = ["/proc", "/dev", "/sys"] as const;

/** A mount with its target resolved (symlinks followed inside the rootfs) and created. */
export type PreparedMount = ContainerMount & {
  /** The target inside the container, without symlinks. */
  target: string;
  /** The target's path on the host. */
  hostTarget: string;
  /** For binds: whether the source is a directory. */
  directory: boolean;
};

/** A {@link RunSpec} checked and resolved. */
export interface PreparedRun {
  /** The real path of the rootfs. */
  rootfs: string;
  args: string[];
  /** `K=V` entries, defaults added. */
  env: string[];
  cwd: string;
  user: RunUser;
  hostname: string;
  mounts: PreparedMount[];
  network: NetworkMode;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
}

function usage(message: string, details?: Record<string, unknown>): CairnError {
  return new CairnError("E_USAGE", message, details === undefined ? {} : { details });
}

/**
 * Normalizes an environment (list of `K=V` or a record) into `K=V` entries, later entries
 * replacing earlier ones of the same name in place.
 *
 * @example
 * ```ts
 * normalizeEnv(["A=1", "B=2", "A=3"]) // ["A=3", "B=2"]
 * ```
 * @throws CairnError `E_USAGE` for an entry without `=` or with an empty name or a NUL byte
 */
export function normalizeEnv(
  env: readonly string[] | Readonly<Record<string, string>> | undefined,
): string[] {
  const pairs: [string, string][] = Array.isArray(env)
    ? (env as readonly string[]).map((e) => {
        const eq = e.indexOf("=");
        if (eq <= 0) throw usage(`invalid environment entry ${JSON.stringify(e)}: expected NAME=VALUE`);
        return [e.slice(0, eq), e.slice(eq + 1)];
      })
    : Object.entries(env ?? {});
  const merged = new Map<string, string>();
  for (const [k, v] of pairs) {
    if (k === "" || k.includes("=") || k.includes("\0") || v.includes("\0"))
      throw usage(`invalid environment variable ${JSON.stringify(k)}`);
    merged.set(k, v);
  }
  return [...merged].map(([k, v]) => `${k}=${v}`);
}

/**
 * The value of `name` in `K=V` entries.
 *
 * @example
 * ```ts
 * envValue(["PATH=/bin", "A=1"], "PATH") // "/bin"
 * ```
 */
export function envValue(env: readonly string[], name: string): string | undefined {
  const prefix = `${name}=`;
  return env.find((e) => e.startsWith(prefix))?.slice(prefix.length);
}

function checkId(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) throw usage(`${what} ${n} is not an id in 0..${MAX_ID}`);
  return n;
}

function containerPath(p: string, what: string): string {
  if (typeof p !== "string" || !p.startsWith("/") || p.includes("\0"))
    throw usage(`${what} ${JSON.stringify(p)} must be an absolute path`);
  return path.posix.normalize(p).replace(/(.)\/$/, "$1");
}

function isUnder(p: string, dir: string): boolean {
  return dir === "/" || p === dir || p.startsWith(`${dir}/`);
}

function prepareMount(rootfs: string, m: ContainerMount, earlier: PreparedMount[]): PreparedMount {
  const target = containerPath(m.target, "mount target");
  for (const s of SYSTEM_MOUNT_POINTS)
    if (isUnder(target, s)) throw usage(`mount target ${target} is under ${s}, which the runtime mounts`);
  let directory = true;
  if (m.type === "bind") {
    if (!path.isAbsolute(m.source)) throw usage(`bind source ${JSON.stringify(m.source)} must be absolute`);
    let st: fs.Stats;
    try {
      st = fs.statSync(m.source);
    } catch (err) {
      throw new CairnError("E_NOT_FOUND", `bind source ${m.source} does not exist`, {
        path: m.source,
        cause: err,
      });
    }
    directory = st.isDirectory();
  } else if (m.type === "tmpfs") {
    if (m.sizeBytes !== undefined && !(Number.isInteger(m.sizeBytes) && m.sizeBytes > 0))
      throw usage(`tmpfs size ${m.sizeBytes} must be a positive integer`);
    if (m.mode !== undefined && !(Number.isInteger(m.mode) && m.mode >= 0 && m.mode <= 0o7777))
      throw usage(`tmpfs mode ${m.mode} must be a permission number`);
  } else {
    throw usage(`unknown mount type ${JSON.stringify((m as { type: unknown }).type)}`);
  }
  const resolved = resolveInRoot(rootfs, target, true);
  const real = path.posix.join("/", ...resolved.found, ...resolved.missing);
  if (real === "/") throw usage(`mount target ${target} is the root itself`);
  for (const s of SYSTEM_MOUNT_POINTS)
    if (isUnder(real, s)) throw usage(`mount target ${target} resolves to ${real}, under ${s}`);
  for (const e of earlier) {
    if (isUnder(real, e.target) || isUnder(e.target, real))
      throw usage(`mount targets ${e.target} and ${real} nest; nested mounts are not supported`);
  }
  const hostTarget = directory ? ensureDirInRoot(rootfs, real) : ensureFileInRoot(rootfs, real);
  // runc gives a tmpfs the mode of the directory under it: a mount point made here gets the
  // tmpfs's mode, so every adapter shows the same.
  if (m.type === "tmpfs" && resolved.stat === undefined) fs.chmodSync(hostTarget, m.mode ?? 0o755);
  return { ...m, target: real, hostTarget, directory };
}

function resolveRunUser(rootfs: string, user: RunSpec["user"]): { user: RunUser; home: string } {
  if (typeof user === "object" && user !== null) {
    const ids: RunUser = {
      uid: checkId(user.uid, "uid"),
      gid: checkId(user.gid, "gid"),
      additionalGids: (user.additionalGids ?? []).map((g) => checkId(g, "gid")),
    };
    return { user: ids, home: resolveUser(rootfs, String(ids.uid)).home };
  }
  const r = resolveUser(rootfs, user);
  return { user: { uid: r.uid, gid: r.gid, additionalGids: r.additionalGids }, home: r.home };
}

/**
 * Checks `spec` against its rootfs and resolves it. Creates missing mount points (/proc, /dev,
 * /sys, mount targets, the working directory) inside the rootfs, as runtimes do.
 *
 * @example
 * ```ts
 * const p = prepareRun({ rootfs: "/tmp/rootfs", args: ["sh", "-c", "id"], user: "nobody" })
 * p.user // { uid: 65534, gid: 65534, additionalGids: [] }
 * ```
 * @throws CairnError `E_USAGE` for a malformed spec, `E_NOT_FOUND` for a missing rootfs, user,
 * group, bind source or executable, `E_LAYER_UNSAFE_PATH` when the rootfs's links lead astray
 */
export function prepareRun(spec: RunSpec): PreparedRun {
  let rootfs: string;
  try {
    rootfs = fs.realpathSync(spec.rootfs);
    if (!fs.statSync(rootfs).isDirectory()) throw new Error("not a directory");
  } catch (err) {
    throw new CairnError("E_NOT_FOUND", `rootfs ${spec.rootfs} is not a directory`, {
      path: spec.rootfs,
      cause: err,
    });
  }
  const args = [...(spec.args ?? [])];
  if (args.length === 0 || args[0] === "") throw usage("no command to run: args is empty");
  if (args.some((a) => typeof a !== "string" || a.includes("\0")))
    throw usage("arguments must be strings without NUL bytes");
  const cwd = containerPath(spec.cwd ?? "/", "working directory");
  const hostname = spec.hostname ?? DEFAULT_HOSTNAME;
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname))
    throw usage(`invalid hostname ${JSON.stringify(hostname)}: expected letters, digits, dots and dashes`);
  const network = spec.network ?? "none";
  if (network !== "none" && network !== "host")
    throw usage(`invalid network ${JSON.stringify(network)}: expected "none" or "host"`);
  const timeoutMs = spec.timeoutMs;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0))
    throw usage(`timeoutMs ${timeoutMs} must be a positive number`);

  const { user, home } = resolveRunUser(rootfs, spec.user);
  const env = normalizeEnv(spec.env);
  if (envValue(env, "PATH") === undefined) env.push(`PATH=${DEFAULT_PATH}`);
  if (envValue(env, "HOME") === undefined) env.push(`HOME=${home}`);

  for (const p of SYSTEM_MOUNT_POINTS) {
    const r = resolveInRoot(rootfs, p, false);
    if (r.stat?.isSymbolicLink())
      throw new CairnError(
        "E_LAYER_UNSAFE_PATH",
        `${p} in ${rootfs} is a symlink; the runtime mounts there`,
        {
          path: p,
        },
      );
    ensureDirInRoot(rootfs, p);
  }
  const mounts: PreparedMount[] = [];
  for (const m of spec.mounts ?? []) mounts.push(prepareMount(rootfs, m, mounts));
  ensureDirInRoot(rootfs, cwd);

  const exe = args[0] as string;
  if (!findExecutableInRoot(rootfs, exe, envValue(env, "PATH") ?? DEFAULT_PATH, cwd)) {
    const mounted = exe.startsWith("/") && mounts.some((m) => isUnder(exe, m.target));
    if (!mounted)
      throw new CairnError(
        "E_NOT_FOUND",
        `executable ${JSON.stringify(exe)} not found in ${rootfs} (PATH=${envValue(env, "PATH")})`,
        { details: { executable: exe, rootfs } },
      );
  }
  return {
    rootfs,
    args,
    env,
    cwd,
    user,
    hostname,
    mounts,
    network,
    timeoutMs,
    signal: spec.signal,
  };
}
