/**
 * History entries as BuildKit's Dockerfile front end writes them: `created_by` in its exact
 * wording (Go `%q` / `%v` formatting included), the `buildkit.dockerfile.v0` comment, and
 * `empty_layer` on steps that made no layer.
 */
import { goQuote } from "../dockerfile/index.js";
import type { HistoryEntry } from "../manifest/index.js";

/** The comment BuildKit puts on Dockerfile history entries. *
 * @example
 * ```ts
 * entry.comment === HISTORY_COMMENT
 * ```
 */
export const HISTORY_COMMENT = "buildkit.dockerfile.v0";

/** Go's `%q` of a `[]string`: `["a" "b"]`. *
 * @example
 * ```ts
 * goQuoteList(["/bin/sh", "-c", "echo hi"]) // '["/bin/sh" "-c" "echo hi"]'
 * ```
 */
export function goQuoteList(items: readonly string[]): string {
  return `[${items.map(goQuote).join(" ")}]`;
}

/** Go's `%v` of a `[]string`: `[a b]`. *
 * @example
 * ```ts
 * goList(["/data", "/logs"]) // "[/data /logs]"
 * ```
 */
export function goList(items: readonly string[]): string {
  return `[${items.join(" ")}]`;
}

function fmtFrac(v: bigint, prec: number): { digits: string; rest: bigint } {
  let digits = "";
  let print = false;
  let rest = v;
  for (let i = 0; i < prec; i++) {
    const d = rest % 10n;
    print = print || d !== 0n;
    if (print) digits = `${d}${digits}`;
    rest /= 10n;
  }
  return { digits: print ? `.${digits}` : "", rest };
}

/**
 * Go's `time.Duration.String()` for a number of nanoseconds: `1h2m3s`, `1.5s`, `300ms`, `0s`.
 *
 * @example
 * ```ts
 * goDuration(90_000_000_000) // "1m30s"
 * ```
 */
export function goDuration(ns: number): string {
  let u = BigInt(Math.trunc(Math.abs(ns)));
  const neg = ns < 0;
  if (u === 0n) return "0s";
  let out: string;
  if (u < 1_000_000_000n) {
    let prec: number;
    let unit: string;
    if (u < 1_000n) return `${neg ? "-" : ""}${u}ns`;
    if (u < 1_000_000n) {
      prec = 3;
      unit = "µs";
    } else {
      prec = 6;
      unit = "ms";
    }
    const { digits, rest } = fmtFrac(u, prec);
    out = `${rest}${digits}${unit}`;
  } else {
    const { digits, rest } = fmtFrac(u, 9);
    u = rest;
    out = `${u % 60n}${digits}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

/** Go's `%q` of an integer (`strconv.QuoteRune`): `'A'`, `'\x03'`. *
 * @example
 * ```ts
 * goQuoteRune(3) // "'\\x03'"
 * ```
 */
export function goQuoteRune(n: number): string {
  const special: Record<number, string> = {
    7: "\\a",
    8: "\\b",
    9: "\\t",
    10: "\\n",
    11: "\\v",
    12: "\\f",
    13: "\\r",
  };
  if (n === 0x27) return "'\\''";
  if (n === 0x5c) return "'\\\\'";
  if (special[n]) return `'${special[n]}'`;
  if (n >= 0x20 && n < 0x7f) return `'${String.fromCharCode(n)}'`;
  if (n < 0x80) return `'\\x${n.toString(16).padStart(2, "0")}'`;
  if (n > 0x10ffff || (n >= 0xd800 && n <= 0xdfff)) return "'�'";
  const ch = String.fromCodePoint(n);
  if (/^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(ch)) return `'${ch}'`;
  return n < 0x10000 ? `'\\u${n.toString(16).padStart(4, "0")}'` : `'\\U${n.toString(16).padStart(8, "0")}'`;
}

/** The Healthcheck part of BuildKit's `HEALTHCHECK %q` history text. *
 * @example
 * ```ts
 * goHealthcheck({ Test: ["CMD", "true"], Interval: 30e9 })
 * // '&{["CMD" "true"] "30s" "0s" "0s" "0s" \'\\x00\'}'
 * ```
 */
export function goHealthcheck(hc: {
  Test?: string[] | null;
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}): string {
  const d = (v: number | undefined) => goQuote(goDuration(v ?? 0));
  return `&{${goQuoteList(hc.Test ?? [])} ${d(hc.Interval)} ${d(hc.Timeout)} ${d(hc.StartPeriod)} ${d(hc.StartInterval)} ${goQuoteRune(hc.Retries ?? 0)}}`;
}

/** Go's `%v` of a `map[nat.Port]struct{}`: `map[443/tcp:{} 80/tcp:{}]` (keys sorted). *
 * @example
 * ```ts
 * goPortMap(["80/tcp", "53/udp"]) // "map[53/udp:{} 80/tcp:{}]"
 * ```
 */
export function goPortMap(ports: readonly string[]): string {
  const keys = [...new Set(ports)].sort();
  return `map[${keys.map((k) => `${k}:{}`).join(" ")}]`;
}

/**
 * The `created_by` of a RUN step: the argv, prefixed with the stage's build args as
 * `|N K=V … ` when there are any (BuildKit's `runCommandString`).
 *
 * @example
 * ```ts
 * runCreatedBy(["/bin/sh", "-c", "make"], [["V", "1"]]) // "RUN |1 V=1 /bin/sh -c make # buildkit"
 * ```
 */
export function runCreatedBy(
  argv: readonly string[],
  buildArgs: ReadonlyArray<readonly [string, string]>,
): string {
  const prefix =
    buildArgs.length > 0 ? `|${buildArgs.length} ${buildArgs.map(([k, v]) => `${k}=${v}`).join(" ")} ` : "";
  return `RUN ${prefix}${argv.join(" ")} # buildkit`;
}

/**
 * One history entry.
 *
 * @example
 * ```ts
 * historyEntry("ENV A=b", false, "2024-01-01T00:00:00Z")
 * // { created: "2024-01-01T00:00:00Z", created_by: "ENV A=b", comment: "buildkit.dockerfile.v0", empty_layer: true }
 * ```
 */
export function historyEntry(createdBy: string, withLayer: boolean, created: string): HistoryEntry {
  const entry: HistoryEntry = { created, created_by: createdBy, comment: HISTORY_COMMENT };
  if (!withLayer) entry.empty_layer = true;
  return entry;
}
