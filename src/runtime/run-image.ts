/**
 * Running an image: a writable union mount over the image's shared snapshots (each layer is
 * unpacked once, whatever the number of containers), the process its config describes, and
 * the mount removed afterwards unless kept.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";
import path from "node:path";
import type { Image } from "../image/index.js";
import { type Mount, mount, type SnapshotStore, unmount } from "../unionfs/index.js";
import { detectRuntime, requireRuntime } from "./detect.js";
import { type ImageRunOverrides, imageProcess, volumeMounts } from "./oci-spec.js";
import type { ContainerMount, NetworkMode, RunIo, RunResult, Runtime, RuntimeName } from "./types.js";

/** Options of {@link runImage}: `docker run`'s, roughly. */
export interface RunImageOptions extends ImageRunOverrides {
  /** An adapter, or its name; default: the first that works here ({@link detectRuntime}). */
  runtime?: Runtime | RuntimeName;
  network?: NetworkMode;
  hostname?: string;
  mounts?: readonly ContainerMount[];
  /** `tmpfs` puts a tmpfs on each of the image's `Volumes`; default `rootfs` (no mount). */
  volumes?: "rootfs" | "tmpfs";
  timeoutMs?: number;
  signal?: AbortSignal;
  io?: RunIo;
  /** Keep the container's mount (and its changes) after the run; the result then carries it. */
  keep?: boolean;
  /** The snapshot store (default: the default store's). */
  store?: SnapshotStore;
  /** How to mount: overlayfs where it works (default), or a copy. */
  mountMethod?: "auto" | "overlay" | "copy";
  /** Where to mount the container's rootfs (an empty or missing directory); default: a temp dir. */
  rootfs?: string;
}

/** How the container ended, which adapter ran it, and the mount when kept. */
export interface RunImageResult extends RunResult {
  /** The name of the adapter that ran it. */
  runtime: string;
  /** The container's mount, when `keep` was set: unmount it with `unionfs.unmount`. */
  mount?: Mount;
}

async function pickRuntime(r: RunImageOptions["runtime"]): Promise<Runtime> {
  if (r === undefined) return detectRuntime();
  if (typeof r === "string") return requireRuntime(r);
  return r;
}

/**
 * Runs `image` as its config says (Entrypoint + Cmd, Env, WorkingDir, User), with overrides,
 * on a writable mount over its shared snapshots; unmounts afterwards unless `keep`.
 *
 * @example
 * ```ts
 * const r = await runImage(image, { cmd: ["echo", "hi"], io: { stdout: "inherit" } });
 * process.exitCode = shellExitStatus(r);
 * ```
 * @throws CairnError `E_NO_RUNTIME`, `E_USAGE` (no command), `E_NOT_FOUND` (user, executable),
 * what the mount and the adapter throw
 */
export async function runImage(image: Image, options: RunImageOptions = {}): Promise<RunImageResult> {
  const config = await image.config();
  const proc = imageProcess(config, options);
  const runtime = await pickRuntime(options.runtime);
  // A fresh name that `mount` creates, and so `unmount` removes, also when the mount is kept.
  const target = options.rootfs ?? path.join(os.tmpdir(), `cairn-run-${randomBytes(8).toString("hex")}`);
  let m: Mount | undefined;
  let kept = false;
  try {
    m = await mount(image, target, {
      writable: true,
      ...(options.store ? { store: options.store } : {}),
      ...(options.mountMethod ? { method: options.mountMethod } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const mounts = [...(options.mounts ?? [])];
    if (options.volumes === "tmpfs")
      for (const v of volumeMounts(config)) if (!mounts.some((x) => x.target === v.target)) mounts.push(v);
    const result = await runtime.run(
      {
        rootfs: m.target,
        args: proc.args,
        env: proc.env,
        cwd: proc.cwd,
        ...(proc.user !== undefined ? { user: proc.user } : {}),
        ...(options.hostname !== undefined ? { hostname: options.hostname } : {}),
        mounts,
        network: options.network ?? "none",
        ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      },
      options.io ?? {},
    );
    kept = options.keep === true;
    return { ...result, runtime: runtime.name, ...(kept ? { mount: m } : {}) };
  } finally {
    if (!kept && m) await cleanUp(m);
  }
}

async function cleanUp(m: Mount): Promise<void> {
  const failure = await unmount(m)
    .catch(() => unmount(m, { lazy: true }))
    .then(
      () => undefined,
      (e: unknown) => e as Error,
    );
  // The run's own result or error matters more; the mount stays recorded in the store.
  if (failure) process.emitWarning(`cairn: cannot unmount container rootfs ${m.target}: ${failure.message}`);
}
