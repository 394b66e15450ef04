/**
 * OCI runtime-spec `config.json` generation, and the image spec's conversion rules
 * (conversion.md) from an image config to it:
 *
 * - `process.args` = `Entrypoint` followed by `Cmd`; `process.env` = `Env` (defaults for `PATH`
 *   and `HOME` only when missing); `process.cwd` = `WorkingDir`, default `/`;
 * - `process.user` from `User`, resolved with the rootfs's /etc/passwd and /etc/group;
 * - annotations `org.opencontainers.image.{os,architecture,variant,os.version,os.features,
 *   author,created,stopSignal,exposedPorts}`, with `Labels` taking precedence;
 * - `Volumes` become tmpfs mounts when asked (`volumes: "tmpfs"`), else they stay part of the
 *   container's writable rootfs.
 *
 * Everything else (namespaces, default mounts, capabilities, masked paths) is cairn's default,
 * close to Docker's.
 */
import { CairnError } from "../errors/index.js";
import type { ImageConfig } from "../manifest/index.js";
import { DEFAULT_HOSTNAME, DEFAULT_PATH, envValue, normalizeEnv } from "./prepare.js";
import type { ContainerMount, NetworkMode, RunUser } from "./types.js";
import { resolveUser } from "./users.js";

/** The runtime-spec version cairn writes. */
export const OCI_RUNTIME_VERSION = "1.0.2";

/** Docker's default capability set: what a container's root keeps. */
export const DEFAULT_CAPABILITIES: readonly string[] = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE",
];

/** Paths hidden from the container's /proc and /sys (as runc's and Docker's defaults). */
export const MASKED_PATHS: readonly string[] = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
];

/** Paths made read-only in the container's /proc. */
export const READONLY_PATHS: readonly string[] = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger",
];

/** One OCI mount. */
export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

/** The part of the OCI runtime spec cairn writes. */
export interface OciRuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: {
      bounding: string[];
      effective: string[];
      permitted: string[];
      inheritable: string[];
      ambient: string[];
    };
    noNewPrivileges: boolean;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: OciMount[];
  annotations?: Record<string, string>;
  linux: {
    namespaces: { type: string }[];
    resources: { devices: { allow: boolean; access: string }[] };
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

/** What {@link buildOciSpec} needs: a process, a rootfs and the container's surroundings. */
export interface OciSpecInput {
  /** Absolute path of the rootfs. */
  rootfs: string;
  args: readonly string[];
  /** `K=V` entries, final. */
  env: readonly string[];
  cwd: string;
  user: RunUser;
  hostname?: string;
  mounts?: readonly ContainerMount[];
  network?: NetworkMode;
  annotations?: Record<string, string>;
  readonlyRootfs?: boolean;
}

const DEFAULT_MOUNTS: readonly OciMount[] = [
  { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
  {
    destination: "/dev",
    type: "tmpfs",
    source: "tmpfs",
    options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
  },
  {
    destination: "/dev/pts",
    type: "devpts",
    source: "devpts",
    options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
  },
  {
    destination: "/dev/shm",
    type: "tmpfs",
    source: "shm",
    options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
  },
  { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  {
    destination: "/sys/fs/cgroup",
    type: "cgroup",
    source: "cgroup",
    options: ["nosuid", "noexec", "nodev", "relatime", "ro"],
  },
];

/**
 * The default mounts of every container: /proc, /dev (tmpfs) with pts, shm and mqueue, /sys
 * and its cgroups read-only.
 *
 * @example
 * ```ts
 * defaultMounts().map((m) => m.destination) // ["/proc", "/dev", "/dev/pts", ...]
 * ```
 */
export function defaultMounts(): OciMount[] {
  return DEFAULT_MOUNTS.map((m) => ({ ...m, options: [...(m.options ?? [])] }));
}

/**
 * Turns a cairn mount into an OCI mount.
 *
 * @example
 * ```ts
 * ociMount({ type: "tmpfs", target: "/tmp", sizeBytes: 1 << 20 }) // { destination: "/tmp", type: "tmpfs", ... }
 * ```
 */
export function ociMount(m: ContainerMount): OciMount {
  if (m.type === "bind")
    return {
      destination: m.target,
      type: "bind",
      source: m.source,
      options: ["rbind", "rprivate", m.readonly ? "ro" : "rw"],
    };
  const options = ["nosuid", "nodev", `mode=${(m.mode ?? 0o755).toString(8).padStart(4, "0")}`];
  if (m.sizeBytes !== undefined) options.push(`size=${m.sizeBytes}`);
  return { destination: m.target, type: "tmpfs", source: "tmpfs", options };
}

/**
 * Builds an OCI runtime `config.json` for one process in one rootfs: `terminal: false`, the
 * default mounts, Docker's default capabilities, new pid/ipc/uts/mount namespaces and a new
 * network namespace unless `network` is `host`.
 *
 * @example
 * ```ts
 * const spec = buildOciSpec({ rootfs: "/tmp/rootfs", args: ["sh"], env: ["PATH=/bin"], cwd: "/", user: { uid: 0, gid: 0, additionalGids: [] } })
 * ```
 */
export function buildOciSpec(input: OciSpecInput): OciRuntimeSpec {
  const caps = [...DEFAULT_CAPABILITIES];
  const namespaces = ["pid", "ipc", "uts", "mount"];
  if ((input.network ?? "none") === "none") namespaces.push("network");
  const spec: OciRuntimeSpec = {
    ociVersion: OCI_RUNTIME_VERSION,
    process: {
      terminal: false,
      user: {
        uid: input.user.uid,
        gid: input.user.gid,
        ...(input.user.additionalGids.length > 0 ? { additionalGids: [...input.user.additionalGids] } : {}),
      },
      args: [...input.args],
      env: [...input.env],
      cwd: input.cwd,
      capabilities: {
        bounding: [...caps],
        effective: [...caps],
        permitted: [...caps],
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: true,
    },
    root: { path: input.rootfs, readonly: input.readonlyRootfs ?? false },
    hostname: input.hostname ?? DEFAULT_HOSTNAME,
    mounts: [...defaultMounts(), ...(input.mounts ?? []).map(ociMount)],
    linux: {
      namespaces: namespaces.map((type) => ({ type })),
      resources: { devices: [{ allow: false, access: "rwm" }] },
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  if (input.annotations && Object.keys(input.annotations).length > 0)
    spec.annotations = { ...input.annotations };
  return spec;
}

/** What a caller changes when running an image (as `docker run` flags do). */
export interface ImageRunOverrides {
  /** Replaces the image's `Cmd`. */
  cmd?: readonly string[];
  /** Replaces the image's `Entrypoint`; the image's `Cmd` is then dropped (Docker's rule). */
  entrypoint?: readonly string[];
  /** Added to the image's `Env`, replacing variables of the same name. */
  env?: readonly string[] | Readonly<Record<string, string>>;
  /** Replaces `WorkingDir`. */
  workdir?: string;
  /** Replaces `User`. */
  user?: string;
}

/** The process an image config describes, overrides applied; the user still unresolved. */
export interface ImageProcess {
  args: string[];
  /** `K=V` entries: the image's `Env` merged with the overrides (no defaults added). */
  env: string[];
  cwd: string;
  user: string | undefined;
}

/**
 * Applies conversion.md's process rules to an image config: args are `Entrypoint` + `Cmd`,
 * `Env` is kept (overrides replace by name), `WorkingDir` defaults to `/`.
 *
 * @example
 * ```ts
 * imageProcess({ ...config, config: { Entrypoint: ["/bin/sh", "-c"], Cmd: ["echo hi"] } }).args // ["/bin/sh", "-c", "echo hi"]
 * ```
 * @throws CairnError `E_USAGE` when neither the image nor the overrides give a command
 */
export function imageProcess(config: ImageConfig, overrides: ImageRunOverrides = {}): ImageProcess {
  const c = config.config ?? {};
  const entrypoint = overrides.entrypoint ?? c.Entrypoint ?? [];
  const cmd = overrides.cmd ?? (overrides.entrypoint !== undefined ? [] : (c.Cmd ?? []));
  const args = [...entrypoint, ...cmd];
  if (args.length === 0)
    throw new CairnError(
      "E_USAGE",
      "no command to run: the image has neither Entrypoint nor Cmd, and none was given",
    );
  const env = normalizeEnv([...(c.Env ?? []), ...normalizeEnv(overrides.env)]);
  const dir = overrides.workdir ?? c.WorkingDir ?? "";
  const cwd = dir === "" ? "/" : dir.startsWith("/") ? dir : `/${dir}`;
  const user = overrides.user ?? (c.User === "" ? undefined : c.User);
  return { args, env, cwd, user };
}

const ANNOTATION = "org.opencontainers.image.";

/**
 * The annotations conversion.md derives from an image config: platform, author, created, stop
 * signal, exposed ports, and `Labels` (which win over the derived ones).
 *
 * @example
 * ```ts
 * imageAnnotations(config)["org.opencontainers.image.exposedPorts"] // "80/tcp,53/udp"
 * ```
 */
export function imageAnnotations(config: ImageConfig): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (key: string, value: unknown): void => {
    if (typeof value === "string" && value !== "") out[ANNOTATION + key] = value;
  };
  set("os", config.os);
  set("architecture", config.architecture);
  set("variant", config.variant);
  set("os.version", config["os.version"]);
  if (Array.isArray(config["os.features"]) && config["os.features"].length > 0)
    set("os.features", config["os.features"].join(","));
  set("author", config.author);
  set("created", config.created);
  const c = config.config ?? {};
  set("stopSignal", c.StopSignal);
  const ports = Object.keys(c.ExposedPorts ?? {});
  if (ports.length > 0) set("exposedPorts", ports.join(","));
  for (const [k, v] of Object.entries(c.Labels ?? {})) if (typeof v === "string") out[k] = v;
  return out;
}

/** Options of {@link imageConfigToOciSpec}. */
export interface ImageToOciOptions {
  /** The unpacked rootfs: its /etc/passwd and /etc/group resolve `User`. */
  rootfs: string;
  overrides?: ImageRunOverrides;
  hostname?: string;
  mounts?: readonly ContainerMount[];
  network?: NetworkMode;
  /** `tmpfs` mounts a tmpfs on each of the image's `Volumes`; `rootfs` (default) leaves them be. */
  volumes?: "rootfs" | "tmpfs";
  readonlyRootfs?: boolean;
}

/**
 * The image spec's conversion: an image config (plus caller overrides) to an OCI runtime
 * `config.json`, with `User` resolved against the rootfs.
 *
 * @example
 * ```ts
 * const spec = imageConfigToOciSpec(await image.config(), { rootfs: "/tmp/bundle/rootfs" })
 * await writeFile("/tmp/bundle/config.json", JSON.stringify(spec))
 * ```
 * @throws CairnError `E_USAGE` without a command, `E_NOT_FOUND` for a user or group not in the rootfs
 */
export function imageConfigToOciSpec(config: ImageConfig, options: ImageToOciOptions): OciRuntimeSpec {
  const proc = imageProcess(config, options.overrides);
  const user = resolveUser(options.rootfs, proc.user);
  const env = [...proc.env];
  if (envValue(env, "PATH") === undefined) env.push(`PATH=${DEFAULT_PATH}`);
  if (envValue(env, "HOME") === undefined) env.push(`HOME=${user.home}`);
  const mounts = [...(options.mounts ?? [])];
  if (options.volumes === "tmpfs")
    for (const v of volumeMounts(config)) if (!mounts.some((m) => m.target === v.target)) mounts.push(v);
  return buildOciSpec({
    rootfs: options.rootfs,
    args: proc.args,
    env,
    cwd: proc.cwd,
    user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
    hostname: options.hostname ?? DEFAULT_HOSTNAME,
    mounts,
    network: options.network ?? "none",
    annotations: imageAnnotations(config),
    readonlyRootfs: options.readonlyRootfs ?? false,
  });
}

/**
 * The image's `Volumes` as tmpfs mounts, for callers who want conversion.md's "application data
 * not written to the rootfs".
 *
 * @example
 * ```ts
 * volumeMounts(config) // [{ type: "tmpfs", target: "/data" }]
 * ```
 */
export function volumeMounts(config: ImageConfig): ContainerMount[] {
  return Object.keys(config.config?.Volumes ?? {}).map((target) => ({ type: "tmpfs", target }));
}
