/**
 * Build arguments: the automatic platform ARGs, the predefined proxy ARGs, and how global ARGs
 * (before the first FROM) get their values.
 */
import type { Platform } from "../manifest/index.js";
import { formatPlatform } from "../manifest/index.js";
import type { ArgInstruction } from "./instructions.js";

/** ARGs Docker defines for every build, usable in FROM lines and re-declarable in stages. */
export const PLATFORM_ARG_NAMES = [
  "BUILDPLATFORM",
  "BUILDOS",
  "BUILDARCH",
  "BUILDVARIANT",
  "TARGETPLATFORM",
  "TARGETOS",
  "TARGETARCH",
  "TARGETVARIANT",
] as const;

/** Proxy ARGs usable without declaring them; kept out of the image history and cache key. */
export const PROXY_ARG_NAMES = [
  "HTTP_PROXY",
  "http_proxy",
  "HTTPS_PROXY",
  "https_proxy",
  "FTP_PROXY",
  "ftp_proxy",
  "NO_PROXY",
  "no_proxy",
  "ALL_PROXY",
  "all_proxy",
] as const;

/**
 * The automatic platform ARGs for a build running on `build` and producing `target`.
 *
 * @example
 * ```ts
 * platformArgs({ os: "linux", architecture: "amd64" }, { os: "linux", architecture: "arm", variant: "v7" }).TARGETVARIANT // "v7"
 * ```
 */
export function platformArgs(build: Platform, target: Platform): Record<string, string> {
  const short = (p: Platform) =>
    formatPlatform({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) });
  return {
    BUILDPLATFORM: short(build),
    BUILDOS: build.os,
    BUILDARCH: build.architecture,
    BUILDVARIANT: build.variant ?? "",
    TARGETPLATFORM: short(target),
    TARGETOS: target.os,
    TARGETARCH: target.architecture,
    TARGETVARIANT: target.variant ?? "",
  };
}

/** The proxy build args among `buildArgs`. */
export function proxyArgs(buildArgs: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PROXY_ARG_NAMES) {
    if (Object.hasOwn(buildArgs, name)) out[name] = buildArgs[name] as string;
  }
  return out;
}

/**
 * Resolves the global ARGs in order: each default is expanded with the ARGs before it (platform
 * ARGs included), and a `--build-arg` of the same name replaces it. An ARG without a default
 * and without a build arg stays unset.
 *
 * @example
 * ```ts
 * resolveGlobalArgs(stages.globalArgs, { VERSION: "3.20" }, platformArgs(host, host), expand)
 * ```
 */
export function resolveGlobalArgs(
  globalArgs: readonly ArgInstruction[],
  buildArgs: Readonly<Record<string, string>>,
  automatic: Readonly<Record<string, string>>,
  expand: (word: string, env: ReadonlyMap<string, string>, ins: ArgInstruction) => string,
): { values: Map<string, string>; declared: Set<string> } {
  const values = new Map<string, string>(Object.entries(automatic));
  const declared = new Set<string>();
  for (const ins of globalArgs) {
    for (const arg of ins.args) {
      declared.add(arg.key);
      if (Object.hasOwn(buildArgs, arg.key)) {
        values.set(arg.key, buildArgs[arg.key] as string);
      } else if (arg.value !== undefined) {
        values.set(arg.key, expand(arg.value, values, ins));
      }
    }
  }
  return { values, declared };
}
