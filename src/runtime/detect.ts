/**
 * Choosing an adapter: by name, or the first one that works here.
 */
import { CairnError } from "../errors/index.js";
import { BwrapRuntime } from "./bwrap.js";
import { ChrootRuntime } from "./chroot.js";
import { CrunRuntime } from "./crun.js";
import { RuncRuntime } from "./runc.js";
import { RUNTIME_NAMES, type Runtime, type RuntimeName } from "./types.js";

/**
 * True when `name` is one of cairn's adapters.
 *
 * @example
 * ```ts
 * isRuntimeName("crun") // true
 * ```
 */
export function isRuntimeName(name: string): name is RuntimeName {
  return (RUNTIME_NAMES as readonly string[]).includes(name);
}

/**
 * The adapter called `name` (not checked for availability: see `available()`).
 *
 * @example
 * ```ts
 * const rt = getRuntime("bwrap");
 * ```
 * @throws CairnError `E_USAGE` for an unknown name
 */
export function getRuntime(name: string): Runtime {
  switch (name) {
    case "runc":
      return new RuncRuntime();
    case "crun":
      return new CrunRuntime();
    case "bwrap":
      return new BwrapRuntime();
    case "chroot":
      return new ChrootRuntime();
    default:
      throw new CairnError(
        "E_USAGE",
        `unknown runtime ${JSON.stringify(name)}: expected one of ${RUNTIME_NAMES.join(", ")}`,
      );
  }
}

/** Options of {@link detectRuntime}. */
export interface DetectOptions {
  /** The names to try, in order (default: runc, crun, bwrap, chroot). */
  candidates?: readonly string[];
}

/**
 * The first adapter that works here, trying runc, crun, bwrap, then chroot.
 *
 * @example
 * ```ts
 * const rt = await detectRuntime();
 * console.log(rt.name);
 * ```
 * @throws CairnError `E_NO_RUNTIME` listing why each candidate cannot run
 */
export async function detectRuntime(options: DetectOptions = {}): Promise<Runtime> {
  const reasons: string[] = [];
  for (const name of options.candidates ?? RUNTIME_NAMES) {
    const rt = getRuntime(name);
    const a = await rt.available();
    if (a.ok) return rt;
    reasons.push(`${name}: ${a.reason ?? "unavailable"}`);
  }
  throw new CairnError("E_NO_RUNTIME", `no container runtime works here (${reasons.join("; ")})`, {
    details: { reasons },
  });
}

/**
 * The adapter called `name` if it works here, else an error saying why not.
 *
 * @example
 * ```ts
 * const rt = await requireRuntime("crun");
 * ```
 * @throws CairnError `E_NO_RUNTIME` with the adapter's reason, `E_USAGE` for an unknown name
 */
export async function requireRuntime(name: string): Promise<Runtime> {
  const rt = getRuntime(name);
  const a = await rt.available();
  if (!a.ok)
    throw new CairnError("E_NO_RUNTIME", `runtime ${name} cannot run here: ${a.reason ?? "unavailable"}`, {
      details: { runtime: name, reason: a.reason },
    });
  return rt;
}
