import type { Readable, Writable } from "node:stream";

/** The adapters cairn ships. */
export type RuntimeName = "runc" | "crun" | "bwrap" | "chroot";

/** Every adapter name, in the order {@link detectRuntime} tries them. */
export const RUNTIME_NAMES: readonly RuntimeName[] = ["runc", "crun", "bwrap", "chroot"];

/**
 * Whether an adapter can run containers here. `reason` says why not (or, when `ok`, any
 * workaround in use); `notes` lists limits that do not stop it from working.
 */
export interface Availability {
  ok: boolean;
  reason?: string;
  notes?: string[];
}

/** A user already resolved to numeric ids. */
export interface RunUser {
  uid: number;
  gid: number;
  /** Supplementary groups, exactly as the process gets them (setgroups); [] clears them. */
  additionalGids: number[];
}

/** A host directory or file bound into the container. Build cache and secret mounts are binds. */
export interface BindMount {
  type: "bind";
  /** Absolute host path. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readonly?: boolean;
}

/** A fresh tmpfs inside the container. */
export interface TmpfsMount {
  type: "tmpfs";
  /** Absolute path inside the container. */
  target: string;
  /** Size limit in bytes. */
  sizeBytes?: number;
  /** Permission bits of the tmpfs root (default 0o755). */
  mode?: number;
}

/** A mount a run asks for, on top of the default /proc, /dev and /sys. */
export type ContainerMount = BindMount | TmpfsMount;

/** `none` (default): a new network namespace holding only loopback. `host`: the host's network. */
export type NetworkMode = "none" | "host";

/** What to run, and where. */
export interface RunSpec {
  /** A prepared root filesystem directory (e.g. a writable union mount); written to in place. */
  rootfs: string;
  /** The command and its arguments; `args[0]` is looked up in the container's `PATH` when bare. */
  args: readonly string[];
  /**
   * The environment (`"K=V"` strings or a record). `PATH` and `HOME` get the usual defaults when
   * missing, as Docker and runc set them.
   */
  env?: readonly string[] | Readonly<Record<string, string>>;
  /** Absolute working directory inside the container (default `/`); created when missing. */
  cwd?: string;
  /**
   * A user as an image config writes it (`name`, `uid`, `uid:gid`, `name:group`...), resolved
   * against the rootfs's /etc/passwd and /etc/group; or already resolved ids. Default: root.
   */
  user?: string | RunUser;
  /** The container's hostname (default `cairn`). */
  hostname?: string;
  mounts?: readonly ContainerMount[];
  network?: NetworkMode;
  /** Kill the whole container after this many milliseconds (the result says `timedOut`). */
  timeoutMs?: number;
  /** Aborting kills the whole container; `run` then rejects with `E_ABORTED`. */
  signal?: AbortSignal;
}

/** Where a stream comes from: a stream, bytes, the caller's own, or nothing (the default). */
export type StdinSource = Readable | Buffer | Uint8Array | "inherit" | "ignore";

/** Where output goes: a stream (left open), the caller's own, captured into the result, or dropped. */
export type OutputSink = Writable | "inherit" | "pipe" | "ignore";

/** The container's standard streams. Defaults: no stdin, stdout and stderr captured. */
export interface RunIo {
  stdin?: StdinSource;
  stdout?: OutputSink;
  stderr?: OutputSink;
}

/**
 * How a container ended. Exactly one of `exitCode` and `signal` is set. Runtimes report death by
 * signal N as status 128+N (the shell's convention), so such statuses are read as `signal`;
 * the CLI turns them back into 128+N.
 */
export interface RunResult {
  exitCode: number | null;
  /** Signal name, e.g. `SIGTERM`. */
  signal: string | null;
  /** Captured output, when the sink was `"pipe"`. */
  stdout?: Buffer;
  stderr?: Buffer;
  durationMs: number;
  /** True when `timeoutMs` ran out and the container was killed. */
  timedOut: boolean;
}

/**
 * A way to run a command in a root filesystem.
 *
 * `available()` answers `{ ok, reason }` rather than a bare boolean so that callers (and tests
 * under CI) can say why an adapter cannot run here.
 *
 * @example
 * ```ts
 * const rt = await detectRuntime();
 * const r = await rt.run({ rootfs: "/tmp/rootfs", args: ["echo", "hi"] });
 * console.log(r.exitCode, r.stdout?.toString());
 * ```
 */
export interface Runtime {
  /** The adapter's name (cairn's own are {@link RuntimeName}s). */
  readonly name: string;
  available(): Promise<Availability>;
  run(spec: RunSpec, io?: RunIo): Promise<RunResult>;
}
