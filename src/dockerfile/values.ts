/**
 * Checks for instruction values: Go durations (HEALTHCHECK), signal names and numbers
 * (STOPSIGNAL), port specs (EXPOSE) and file modes (`--chmod`). Each throws a {@link ValueError}
 * saying what was expected.
 */

/** A bad value; callers add the instruction and its location. */
export class ValueError extends Error {
  constructor(
    message: string,
    readonly expected: string,
  ) {
    super(message);
  }
}

const UNITS: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1000n],
  ["\u00b5s", 1000n],
  ["\u03bcs", 1000n],
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);
const MAX_DURATION = (1n << 63n) - 1n;
const DURATION_SYNTAX = 'a Go duration such as "30s", "1m30s" or "500ms"';

function durationError(s: string, why: string): ValueError {
  return new ValueError(`time: ${why} ${JSON.stringify(s)}`, DURATION_SYNTAX);
}

/**
 * Parses a Go duration (`time.ParseDuration`) into nanoseconds.
 *
 * @example
 * ```ts
 * parseGoDuration("1m30s") // 90_000_000_000
 * parseGoDuration("1.5h")  // 5_400_000_000_000
 * ```
 * @throws ValueError for malformed or out-of-range durations
 */
export function parseGoDuration(input: string): number {
  let s = input;
  let neg = false;
  if (s[0] === "-" || s[0] === "+") {
    neg = s[0] === "-";
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw durationError(input, "invalid duration");
  let total = 0n;
  while (s !== "") {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s) as RegExpExecArray;
    const intPart = m[1] ?? "";
    const fracPart = m[2];
    if (intPart === "" && (fracPart === undefined || fracPart === "")) {
      throw durationError(input, "invalid duration");
    }
    s = s.slice(m[0].length);
    let u = 0;
    while (u < s.length && s[u] !== "." && !/[0-9]/.test(s[u] as string)) u++;
    if (u === 0) throw durationError(input, "missing unit in duration");
    const unitName = s.slice(0, u);
    s = s.slice(u);
    const unit = UNITS.get(unitName);
    if (unit === undefined) {
      throw durationError(input, `unknown unit ${JSON.stringify(unitName)} in duration`);
    }
    let v = BigInt(intPart === "" ? "0" : intPart);
    if (v > (1n << 63n) / unit) throw durationError(input, "invalid duration");
    v *= unit;
    if (fracPart !== undefined && fracPart !== "") {
      const scale = 10n ** BigInt(fracPart.length);
      v += (BigInt(fracPart) * unit) / scale;
    }
    total += v;
    if (total > 1n << 63n) throw durationError(input, "invalid duration");
  }
  if (neg) return -Number(total);
  if (total > MAX_DURATION) throw durationError(input, "invalid duration");
  return Number(total);
}

const LINUX_SIGNALS: ReadonlyMap<string, number> = new Map([
  ["HUP", 1],
  ["INT", 2],
  ["QUIT", 3],
  ["ILL", 4],
  ["TRAP", 5],
  ["ABRT", 6],
  ["IOT", 6],
  ["BUS", 7],
  ["FPE", 8],
  ["KILL", 9],
  ["USR1", 10],
  ["SEGV", 11],
  ["USR2", 12],
  ["PIPE", 13],
  ["ALRM", 14],
  ["TERM", 15],
  ["STKFLT", 16],
  ["CHLD", 17],
  ["CLD", 17],
  ["CONT", 18],
  ["STOP", 19],
  ["TSTP", 20],
  ["TTIN", 21],
  ["TTOU", 22],
  ["URG", 23],
  ["XCPU", 24],
  ["XFSZ", 25],
  ["VTALRM", 26],
  ["PROF", 27],
  ["WINCH", 28],
  ["IO", 29],
  ["POLL", 29],
  ["PWR", 30],
  ["SYS", 31],
  ["RTMIN", 34],
  ["RTMAX", 64],
]);

/**
 * Checks a STOPSIGNAL value: a signal number (1–64) or a Linux signal name with or without
 * `SIG` (`SIGTERM`, `term`, `RTMIN+3`). Returns the signal number.
 *
 * @example
 * ```ts
 * parseStopSignal("SIGQUIT") // 3
 * parseStopSignal("9")       // 9
 * ```
 * @throws ValueError for unknown names and out-of-range numbers
 */
export function parseStopSignal(value: string): number {
  const expected = 'a signal name such as "SIGTERM" or a number from 1 to 64';
  if (/^[+-]?[0-9]+$/.test(value)) {
    const n = Number(value);
    if (n < 1 || n > 64) throw new ValueError(`Invalid signal: ${value}`, expected);
    return n;
  }
  const name = value.toUpperCase().replace(/^SIG/, "");
  const known = LINUX_SIGNALS.get(name);
  if (known !== undefined) return known;
  const rt = /^RT(MIN|MAX)([+-])([0-9]+)$/.exec(name);
  if (rt) {
    const offset = Number(rt[3]);
    if (rt[1] === "MIN" && rt[2] === "+" && offset >= 1 && offset <= 15) return 34 + offset;
    if (rt[1] === "MAX" && rt[2] === "-" && offset >= 1 && offset <= 14) return 64 - offset;
  }
  throw new ValueError(`Invalid signal: ${value}`, expected);
}

function parsePortNumber(s: string, raw: string): number {
  if (!/^[0-9]+$/.test(s) || Number(s) > 65535) {
    throw new ValueError(
      `invalid port ${JSON.stringify(s)} in ${JSON.stringify(raw)}`,
      "a port number from 0 to 65535",
    );
  }
  return Number(s);
}

function parsePortRange(s: string, raw: string): [number, number] {
  if (s === "") throw new ValueError(`empty port in ${JSON.stringify(raw)}`, "a port or a port range");
  const dash = s.indexOf("-");
  if (dash < 0) {
    const p = parsePortNumber(s, raw);
    return [p, p];
  }
  const start = parsePortNumber(s.slice(0, dash), raw);
  const end = parsePortNumber(s.slice(dash + 1), raw);
  if (end < start) {
    throw new ValueError(
      `invalid range specified for port: ${s}`,
      "a range whose start is not above its end",
    );
  }
  return [start, end];
}

/** The ports of one EXPOSE word and whether it named a host part (ignored, as Docker does). */
export interface ExposeSpec {
  /** `port/protocol` keys, ranges expanded, protocol lower-cased. */
  ports: string[];
  hostPartIgnored: boolean;
}

/**
 * Parses an EXPOSE word: `port[-port][/tcp|udp|sctp]`, protocol case-insensitive, default tcp.
 * A `host:port:` prefix is accepted and ignored, as Docker does.
 *
 * @example
 * ```ts
 * parseExposePort("8000-8001/UDP").ports // ["8000/udp", "8001/udp"]
 * ```
 * @throws ValueError for bad ports, reversed ranges and unknown protocols
 */
export function parseExposePort(raw: string): ExposeSpec {
  const parts = raw.split(":");
  const containerPart = parts[parts.length - 1] as string;
  const hostPort = parts.length >= 2 ? (parts[parts.length - 2] as string) : "";
  const slash = containerPart.split("/");
  let proto = "tcp";
  let port = containerPart;
  if (slash.length > 1 && (slash[0] as string) !== "") {
    port = slash[0] as string;
    if ((slash[1] as string) !== "") proto = (slash[1] as string).toLowerCase();
  }
  if (proto !== "tcp" && proto !== "udp" && proto !== "sctp") {
    throw new ValueError(`invalid proto: ${proto}`, 'a protocol of "tcp", "udp" or "sctp"');
  }
  const [start, end] = parsePortRange(port, raw);
  if (hostPort !== "") parsePortRange(hostPort, raw);
  const ports: string[] = [];
  for (let p = start; p <= end; p++) ports.push(`${p}/${proto}`);
  return { ports, hostPartIgnored: parts.length > 1 };
}

const SYMBOLIC_CLAUSE = /^[ugoa]*(?:[-+=](?:[rwxXst]*|[ugo]))+$/;

/**
 * Checks a `--chmod` value: octal up to 7777 (`755`, `0644`) or symbolic clauses
 * (`u=rwx,go=rx`, `a+X`). Returns the octal mode, or undefined for a symbolic mode.
 *
 * @example
 * ```ts
 * parseChmod("0755")     // 493
 * parseChmod("u+x,g-w")  // undefined (symbolic)
 * ```
 * @throws ValueError for anything else
 */
export function parseChmod(value: string): number | undefined {
  if (/^[0-7]+$/.test(value)) {
    const mode = Number.parseInt(value, 8);
    if (mode <= 0o7777) return mode;
  } else if (value !== "" && value.split(",").every((c) => SYMBOLIC_CLAUSE.test(c))) {
    return undefined;
  }
  throw new ValueError(
    `invalid chmod parameter: ${value}. it should be octal string and between 0 and 07777`,
    'an octal mode from 0 to 7777 (e.g. "755") or a symbolic mode (e.g. "u=rwx,go=rx")',
  );
}

/**
 * Checks a HEALTHCHECK `--retries` value: a non-negative 32-bit integer.
 *
 * @example
 * ```ts
 * parseRetries("3") // 3
 * ```
 * @throws ValueError
 */
export function parseRetries(value: string): number {
  if (!/^[+-]?[0-9]+$/.test(value) || Math.abs(Number(value)) > 2147483647) {
    throw new ValueError(`invalid --retries value ${JSON.stringify(value)}`, "a whole number");
  }
  const n = Number(value);
  if (n < 0) throw new ValueError(`--retries cannot be negative (${n})`, "zero or more retries");
  return n;
}
