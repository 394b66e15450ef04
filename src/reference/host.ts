/** The registry host short names resolve to: `ubuntu` means `docker.io/library/ubuntu`. */
export const DEFAULT_DOMAIN = "docker.io";

/** The old name of Docker Hub; references using it are normalized to {@link DEFAULT_DOMAIN}. */
export const LEGACY_DEFAULT_DOMAIN = "index.docker.io";

/** Docker Hub's registry API base URL (`docker.io` itself serves the website, not the API). */
export const DOCKER_HUB_REGISTRY_URL = "https://registry-1.docker.io";

/**
 * The canonical spelling of a registry domain: `index.docker.io` becomes `docker.io`, everything
 * else is returned unchanged (as the docker CLI does; the comparison is exact, ports included).
 *
 * @example
 * ```ts
 * normalizeDomain("index.docker.io") // "docker.io"
 * normalizeDomain("ghcr.io") // "ghcr.io"
 * ```
 */
export function normalizeDomain(domain: string): string {
  return domain === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : domain;
}

/**
 * True when the first component of a name is a registry host rather than a path component:
 * `localhost`, or anything with a `.` (a DNS name or IPv4), a `:` (a port) or a `[` (IPv6).
 *
 * @example
 * ```ts
 * looksLikeDomain("ghcr.io") // true
 * looksLikeDomain("library") // false
 * ```
 */
export function looksLikeDomain(component: string): boolean {
  return component === "localhost" || /[.:[]/.test(component);
}

/**
 * Parses the text of an IPv6 address (without brackets, without a zone) into its eight 16-bit
 * groups, or returns undefined when it is not one. Embedded IPv4 forms are not accepted, as in
 * the distribution reference grammar.
 *
 * @example
 * ```ts
 * parseIPv6("::1") // [0, 0, 0, 0, 0, 0, 0, 1]
 * ```
 */
export function parseIPv6(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(text)) return undefined;
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (part: string | undefined): number[] | undefined => {
    if (part === undefined || part === "") return [];
    const out: number[] = [];
    for (const g of part.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]);
  if (head === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const tail = groups(halves[1]);
  if (tail === undefined || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * Parses a dotted-decimal IPv4 address into its four octets, or returns undefined.
 *
 * @example
 * ```ts
 * parseIPv4("127.0.0.1") // [127, 0, 0, 1]
 * ```
 */
export function parseIPv4(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  return octets.every((o) => o <= 255) ? octets : undefined;
}

/**
 * Splits a registry domain (`host`, `host:port`, `[v6]`, `[v6]:port`) into its host (brackets
 * removed) and port text. A bare IPv6 address (several colons, no brackets) is taken as a host.
 *
 * @example
 * ```ts
 * splitHostPort("[::1]:5000") // { host: "::1", port: "5000" }
 * ```
 */
export function splitHostPort(domain: string): { host: string; port: string | undefined } {
  if (domain.startsWith("[")) {
    const close = domain.indexOf("]");
    if (close < 0) return { host: domain, port: undefined };
    const rest = domain.slice(close + 1);
    return { host: domain.slice(1, close), port: rest.startsWith(":") ? rest.slice(1) : undefined };
  }
  const first = domain.indexOf(":");
  if (first < 0 || domain.indexOf(":", first + 1) >= 0) return { host: domain, port: undefined };
  return { host: domain.slice(0, first), port: domain.slice(first + 1) };
}

/**
 * True for hosts that talk to this machine: `localhost`, `127.0.0.0/8` and `::1`, with or without
 * a port and IPv6 brackets. Registries on these hosts default to plain `http`, as in docker.
 *
 * @example
 * ```ts
 * isLoopbackHost("localhost:5000") // true
 * isLoopbackHost("[::1]:5000") // true
 * isLoopbackHost("127.1.2.3") // true
 * isLoopbackHost("ghcr.io") // false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const bare = splitHostPort(host).host;
  if (bare.toLowerCase() === "localhost") return true;
  const v4 = parseIPv4(bare);
  if (v4 !== undefined) return v4[0] === 127;
  const v6 = parseIPv6(bare);
  return v6?.every((g, i) => g === (i === 7 ? 1 : 0)) === true;
}
