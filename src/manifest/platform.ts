/**
 * Platforms: the `os/arch[/variant][:osversion]` syntax, normalization as containerd does it,
 * the host's platform, and compatibility (which images a platform can run, best first).
 */
import { CairnError } from "../errors/index.js";
import type { Platform } from "./types.js";

const COMPONENT = /^[A-Za-z0-9_.-]+$/;
// containerd's `os(osversion)` form of the first component, accepted for compatibility.
const OS_WITH_VERSION = /^([A-Za-z0-9_-]+)\(([A-Za-z0-9_.-]*)\)$/;
const SYNTAX = "os/arch[/variant][:osversion]";

function invalid(spec: string, why: string): never {
  throw new CairnError("E_PLATFORM_INVALID", `invalid platform ${JSON.stringify(spec)}: ${why}`, {
    details: { platform: spec },
  });
}

function normalizeArch(arch: string, variant: string): [string, string] {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case "i386":
    case "i686":
      return ["386", ""];
    case "x86_64":
    case "x86-64":
    case "amd64":
      return ["amd64", v === "v1" ? "" : v];
    case "aarch64":
    case "arm64":
      if (v === "8" || v === "v8" || v === "v8.0") return ["arm64", ""];
      if (v === "9" || v === "9.0" || v === "v9.0") return ["arm64", "v9"];
      return ["arm64", v];
    case "armhf":
      return ["arm", "v7"];
    case "armel":
      return ["arm", "v6"];
    case "arm":
      if (v === "" || v === "7") return ["arm", "v7"];
      if (v === "5" || v === "6" || v === "8") return ["arm", `v${v}`];
      return ["arm", v];
    default:
      return [a, v];
  }
}

function normalizeOs(os: string): string {
  const o = os.toLowerCase();
  return o === "macos" ? "darwin" : o;
}

/**
 * The canonical form of a platform, as containerd normalizes it: OS and architecture
 * lowercased; `macos`→`darwin`; `x86_64`/`x86-64`→`amd64` (variant `v1` dropped);
 * `i386`/`i686`→`386`; `aarch64`→`arm64` (variant `v8` dropped, `9`→`v9`); `armhf`→`arm/v7`;
 * `armel`→`arm/v6`; `arm` without variant→`arm/v7`, `arm/7`→`arm/v7`. Other fields are kept.
 *
 * @example
 * ```ts
 * normalizePlatform({ os: "Linux", architecture: "aarch64", variant: "v8" }) // { architecture: "arm64", os: "linux" }
 * ```
 */
export function normalizePlatform(p: Platform): Platform {
  const [architecture, variant] = normalizeArch(
    p.architecture,
    typeof p.variant === "string" ? p.variant : "",
  );
  const out: Platform = { architecture, os: normalizeOs(p.os) };
  if (p["os.version"] !== undefined && p["os.version"] !== "") out["os.version"] = p["os.version"];
  if (p["os.features"] !== undefined) out["os.features"] = p["os.features"];
  if (variant !== "") out.variant = variant;
  if (p.features !== undefined) out.features = p.features;
  return out;
}

/**
 * Parses `os/arch[/variant][:osversion]` (also containerd's `os(osversion)/arch`) into a
 * normalized {@link Platform}.
 *
 * @example
 * ```ts
 * parsePlatform("linux/arm64/v8")            // { architecture: "arm64", os: "linux" }
 * parsePlatform("windows/amd64:10.0.17763")  // { architecture: "amd64", os: "windows", "os.version": "10.0.17763" }
 * ```
 * @throws CairnError `E_PLATFORM_INVALID`
 */
export function parsePlatform(spec: string): Platform {
  if (typeof spec !== "string") invalid(String(spec), `expected a string "${SYNTAX}"`);
  let body = spec;
  let osVersion: string | undefined;
  const colon = spec.indexOf(":");
  if (colon >= 0) {
    osVersion = spec.slice(colon + 1);
    body = spec.slice(0, colon);
    if (!COMPONENT.test(osVersion)) {
      invalid(
        spec,
        `expected an OS version of letters, digits, "_", "." or "-" after ":", found ${JSON.stringify(osVersion)}`,
      );
    }
  }
  const parts = body.split("/");
  if (parts.length < 2 || parts.length > 3) {
    invalid(
      spec,
      `expected "${SYNTAX}", found ${parts.length} "/"-separated part${parts.length === 1 ? "" : "s"}`,
    );
  }
  let os = parts[0] ?? "";
  const withVersion = OS_WITH_VERSION.exec(os);
  if (withVersion) {
    if (osVersion !== undefined) invalid(spec, "the OS version is given twice");
    os = withVersion[1] ?? "";
    osVersion = withVersion[2] || undefined;
  }
  const names = ["os", "architecture", "variant"];
  [os, ...parts.slice(1)].forEach((part, i) => {
    if (!COMPONENT.test(part)) {
      invalid(
        spec,
        `expected the ${names[i]} to be letters, digits, "_", "." or "-", found ${JSON.stringify(part)}`,
      );
    }
  });
  const p: Platform = { architecture: parts[1] ?? "", os };
  if (parts[2] !== undefined) p.variant = parts[2];
  if (osVersion !== undefined) p["os.version"] = osVersion;
  return normalizePlatform(p);
}

/**
 * Formats a platform as `os/arch[/variant][:osversion]` (the inverse of {@link parsePlatform}
 * for normalized platforms).
 *
 * @example
 * ```ts
 * formatPlatform({ os: "linux", architecture: "arm", variant: "v7" }) // "linux/arm/v7"
 * ```
 * @throws CairnError `E_PLATFORM_INVALID` when a field cannot be written in that syntax
 */
export function formatPlatform(p: Platform): string {
  const s = describePlatform(p);
  const parts: [string, unknown][] = [
    ["os", p.os],
    ["architecture", p.architecture],
  ];
  if (p.variant) parts.push(["variant", p.variant]);
  if (p["os.version"]) parts.push(["os.version", p["os.version"]]);
  for (const [name, value] of parts) {
    if (typeof value !== "string" || !COMPONENT.test(value)) {
      invalid(s, `expected ${name} to be letters, digits, "_", "." or "-", found ${JSON.stringify(value)}`);
    }
  }
  return s;
}

/**
 * A human-readable `os/arch[/variant][:osversion]` for any platform-like value, never throwing;
 * for messages.
 *
 * @example
 * ```ts
 * describePlatform({ os: "linux", architecture: "amd64" }) // "linux/amd64"
 * ```
 */
export function describePlatform(p: Partial<Platform> | undefined): string {
  if (p === undefined || p === null || typeof p !== "object") return "(no platform)";
  const str = (v: unknown) => (typeof v === "string" ? v : "?");
  let s = `${str(p.os)}/${str(p.architecture)}`;
  if (p.variant) s += `/${str(p.variant)}`;
  if (p["os.version"]) s += `:${str(p["os.version"])}`;
  return s;
}

const NODE_OS: Readonly<Record<string, string>> = { win32: "windows", sunos: "solaris" };
const NODE_ARCH: Readonly<Record<string, string>> = {
  x64: "amd64",
  ia32: "386",
  mipsel: "mipsle",
  mips64el: "mips64le",
};

/**
 * The platform of a Node.js `process.platform` / `process.arch` pair (and, for 32-bit ARM,
 * the `arm_version` Node was built for), normalized.
 *
 * @example
 * ```ts
 * platformFromNode("linux", "x64") // { architecture: "amd64", os: "linux" }
 * platformFromNode("linux", "arm", "6") // { architecture: "arm", os: "linux", variant: "v6" }
 * ```
 */
export function platformFromNode(platform: string, arch: string, armVersion?: string): Platform {
  const os = Object.hasOwn(NODE_OS, platform) ? (NODE_OS[platform] as string) : platform;
  let architecture = Object.hasOwn(NODE_ARCH, arch) ? (NODE_ARCH[arch] as string) : arch;
  // Node runs little-endian ppc64 on Linux; big-endian ppc64 only on AIX.
  if (architecture === "ppc64" && os === "linux") architecture = "ppc64le";
  const p: Platform = { architecture, os };
  if (architecture === "arm" && armVersion) p.variant = `v${armVersion}`;
  return normalizePlatform(p);
}

/**
 * The platform this process runs on, from `process.platform` and `process.arch`.
 *
 * @example
 * ```ts
 * formatPlatform(hostPlatform()) // e.g. "linux/amd64"
 * ```
 */
export function hostPlatform(): Platform {
  const variables = process.config?.variables as Record<string, unknown> | undefined;
  const armVersion = variables?.["arm_version"];
  return platformFromNode(
    process.platform,
    process.arch,
    typeof armVersion === "string" ? armVersion : undefined,
  );
}

function variantNumber(variant: string | undefined, fallback: number): number | undefined {
  if (variant === undefined) return fallback;
  const m = /^v(\d+)$/.exec(variant);
  return m ? Number(m[1]) : undefined;
}

function withArch(p: Platform, architecture: string, variant: string | undefined): Platform {
  const out: Platform = { architecture, os: p.os };
  if (p["os.version"] !== undefined) out["os.version"] = p["os.version"];
  if (variant) out.variant = variant;
  return out;
}

function arm64Variants(variant: string | undefined): string[] | undefined {
  const m = /^v([89])(?:\.(\d))?$/.exec(variant ?? "v8");
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2] ?? "0");
  const out: string[] = [];
  const down = (maj: number, from: number) => {
    for (let n = from; n >= 0; n--) out.push(n === 0 ? (maj === 8 ? "" : `v${maj}`) : `v${maj}.${n}`);
  };
  if (major === 9) {
    down(9, minor);
    down(8, Math.min(minor + 5, 9)); // v9.x implies the features of v8.(x+5)
  } else {
    down(8, minor);
  }
  return out;
}

/**
 * The platforms a (normalized) platform can run, best first, following containerd: itself; for
 * `amd64/vN` every lower amd64 level then `386`; for `arm/vN` every lower arm variant down to
 * `v5`; for `arm64` (and `v8.x`, `v9.x`) the lower arm64 levels, then `arm/v8` … `arm/v5`.
 *
 * @example
 * ```ts
 * compatiblePlatforms(parsePlatform("linux/arm/v7")).map(formatPlatform)
 * // ["linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]
 * ```
 */
export function compatiblePlatforms(platform: Platform): Platform[] {
  const p = normalizePlatform(platform);
  switch (p.architecture) {
    case "amd64": {
      const level = variantNumber(p.variant, 1);
      if (level === undefined) return [p];
      const out: Platform[] = [];
      for (let n = level; n >= 1; n--) out.push(withArch(p, "amd64", n === 1 ? undefined : `v${n}`));
      return [...out, withArch(p, "386", undefined)];
    }
    case "arm": {
      const level = variantNumber(p.variant, 7);
      if (level === undefined || level < 5) return [p];
      const out: Platform[] = [];
      for (let n = level; n >= 5; n--) out.push(withArch(p, "arm", `v${n}`));
      return out;
    }
    case "arm64": {
      const variants = arm64Variants(p.variant);
      if (variants === undefined) return [p];
      return [
        ...variants.map((v) => withArch(p, "arm64", v)),
        ...compatiblePlatforms(withArch(p, "arm", "v8")),
      ];
    }
    default:
      return [p];
  }
}

function samePlatform(a: Platform, b: Platform): boolean {
  return a.os === b.os && a.architecture === b.architecture && (a.variant ?? "") === (b.variant ?? "");
}

// Windows images run only on hosts of the same major.minor.build; elsewhere os.version is informative.
function osVersionCompatible(want: Platform, have: Platform): boolean {
  const w = want["os.version"];
  const h = have["os.version"];
  if (want.os !== "windows" || !w || !h) return true;
  const build = (v: string) => v.split(".").slice(0, 3).join(".");
  return build(w) === build(h);
}

function isPlatformLike(p: unknown): p is Platform {
  const o = p as Platform | undefined;
  return (
    typeof o === "object" && o !== null && typeof o.os === "string" && typeof o.architecture === "string"
  );
}

/**
 * How well `have` suits `want`: 0 for the same platform, higher for fallbacks (e.g. `arm/v6`
 * for an `arm/v7` host), undefined when `want` cannot run `have`.
 *
 * @example
 * ```ts
 * platformRank(parsePlatform("linux/arm/v7"), parsePlatform("linux/arm/v6")) // 1
 * ```
 */
export function platformRank(want: Platform, have: Platform): number | undefined {
  if (!isPlatformLike(have)) return undefined;
  const h = normalizePlatform(have);
  if (!osVersionCompatible(normalizePlatform(want), h)) return undefined;
  const rank = compatiblePlatforms(want).findIndex((c) => samePlatform(c, h));
  return rank < 0 ? undefined : rank;
}

/**
 * True when a host of platform `want` can run an image made for `have`, variant fallbacks
 * included (an `arm/v7` host runs `arm/v6` and `arm/v5`; `amd64/v3` runs `amd64/v2`, `amd64`
 * and `386`; `arm64/v8` and `arm64` are the same).
 *
 * @example
 * ```ts
 * platformMatches(parsePlatform("linux/arm/v7"), { os: "linux", architecture: "arm", variant: "v5" }) // true
 * platformMatches(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64", variant: "v2" }) // false
 * ```
 */
export function platformMatches(want: Platform | string, have: Platform): boolean {
  const w = typeof want === "string" ? parsePlatform(want) : want;
  return platformRank(w, have) !== undefined;
}
