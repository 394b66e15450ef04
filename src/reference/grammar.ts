import { parseDigest } from "../digest/index.js";
import { isCairnError } from "../errors/index.js";
import { looksLikeDomain, parseIPv6 } from "./host.js";

/** The longest repository name (`domain/path`, after normalization) distribution accepts. */
export const MAX_NAME_LENGTH = 255;

/** The longest tag distribution accepts. */
export const MAX_TAG_LENGTH = 128;

/** Which part of a reference a problem is in. */
export type ReferencePart = "reference" | "domain" | "path" | "name" | "tag" | "digest";

/** What is wrong with one part of a reference, in words for an error message. */
export interface ReferenceProblem {
  part: ReferencePart;
  message: string;
  cause?: unknown;
}

const TAG = /^\w[\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/**
 * JSON-quotes a value for a message, cutting long ones short.
 *
 * @example
 * ```ts
 * quote("ubuntu") // "\"ubuntu\""
 * ```
 */
export function quote(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * True when `tag` is a valid tag: a word character then up to 127 word characters, `.` or `-`.
 *
 * @example
 * ```ts
 * isValidTag("22.04") // true
 * isValidTag(".hidden") // false
 * ```
 */
export function isValidTag(tag: string): boolean {
  return typeof tag === "string" && TAG.test(tag);
}

/**
 * Describes what is wrong with a tag, or returns undefined when it is valid.
 *
 * @example
 * ```ts
 * tagProblem("x".repeat(129))?.message // "tag is too long: expected at most 128 characters, found 129"
 * ```
 */
export function tagProblem(tag: string): ReferenceProblem | undefined {
  const part = "tag";
  if (tag === "") return { part, message: 'expected a tag after ":", found nothing' };
  if (tag.length > MAX_TAG_LENGTH) {
    return {
      part,
      message: `tag is too long: expected at most ${MAX_TAG_LENGTH} characters, found ${tag.length}`,
    };
  }
  if (TAG.test(tag)) return undefined;
  const expected = "expected letters, digits, '_', '.' and '-', starting with a letter, digit or '_'";
  return { part, message: `tag ${quote(tag)} is invalid: ${expected}` };
}

function componentProblem(path: string, component: string): string | undefined {
  if (PATH_COMPONENT.test(component)) return undefined;
  if (PATH_COMPONENT.test(component.toLowerCase())) {
    return `repository path ${quote(path)} must be lowercase, found uppercase in ${quote(component)}`;
  }
  const where = `repository path component ${quote(component)}`;
  const bad = /[^a-z0-9._-]/.exec(component);
  if (bad) {
    return `${where} contains ${quote(bad[0])}: expected lowercase letters, digits, '.', '_' and '-'`;
  }
  if (!/^[a-z0-9]/.test(component) || !/[a-z0-9]$/.test(component)) {
    return `${where} must start and end with a lowercase letter or digit`;
  }
  return `${where} has an invalid separator: expected a single '.', '_' or '__', or a run of '-', between letters and digits`;
}

/**
 * Describes what is wrong with a repository path (`library/ubuntu`), or returns undefined.
 *
 * @example
 * ```ts
 * pathProblem("a//b")?.part // "path"
 * ```
 */
export function pathProblem(path: string): ReferenceProblem | undefined {
  const part = "path";
  if (path === "") return { part, message: "expected a repository path, found nothing" };
  const components = path.split("/");
  if (components.includes("")) {
    return {
      part,
      message: `repository path ${quote(path)} has an empty component: expected names separated by single '/'`,
    };
  }
  for (const component of components) {
    const message = componentProblem(path, component);
    if (message !== undefined) return { part, message };
  }
  return undefined;
}

function portProblem(domain: string, port: string): ReferenceProblem | undefined {
  if (/^[0-9]{1,5}$/.test(port) && Number(port) >= 1 && Number(port) <= 65535) return undefined;
  return {
    part: "domain",
    message: `registry port ${quote(port)} in ${quote(domain)} is invalid: expected a number from 1 to 65535`,
  };
}

function ipv6DomainProblem(domain: string): ReferenceProblem | undefined {
  const part = "domain";
  const close = domain.indexOf("]");
  if (close < 0) {
    return { part, message: `registry host ${quote(domain)} is missing the "]" closing its IPv6 address` };
  }
  const address = domain.slice(1, close);
  if (parseIPv6(address) === undefined) {
    return {
      part,
      message: `registry host ${quote(domain.slice(0, close + 1))} is not a valid IPv6 address: expected hex groups separated by ':' (no zone, no embedded IPv4)`,
    };
  }
  const rest = domain.slice(close + 1);
  if (rest === "") return undefined;
  if (!rest.startsWith(":")) {
    return {
      part,
      message: `expected ":port" after the IPv6 address in ${quote(domain)}, found ${quote(rest)}`,
    };
  }
  return portProblem(domain, rest.slice(1));
}

/**
 * Describes what is wrong with a registry domain (`host[:port]`, where host is a DNS name, an IPv4
 * address or a bracketed IPv6 address), or returns undefined. Uppercase letters are allowed.
 *
 * @example
 * ```ts
 * domainProblem("[::1]:5000") // undefined
 * domainProblem("example.com:http")?.message // "registry port \"http\" in … is invalid: …"
 * ```
 */
export function domainProblem(domain: string): ReferenceProblem | undefined {
  const part = "domain";
  if (domain === "") return { part, message: "expected a registry host, found nothing" };
  if (domain.startsWith("[")) return ipv6DomainProblem(domain);
  const colon = domain.indexOf(":");
  if (colon >= 0 && domain.indexOf(":", colon + 1) >= 0) {
    return {
      part,
      message: `registry host ${quote(domain)} is invalid: an IPv6 address must be in brackets, as in "[fc00::1]:5000"`,
    };
  }
  const host = colon < 0 ? domain : domain.slice(0, colon);
  const labels = host.split(".");
  if (labels.includes("")) {
    return {
      part,
      message: `registry host ${quote(host)} has an empty label: expected names separated by single '.'`,
    };
  }
  for (const label of labels) {
    if (!DOMAIN_LABEL.test(label)) {
      return {
        part,
        message: `registry host ${quote(host)} is invalid at ${quote(label)}: expected letters, digits and '-', starting and ending with a letter or digit`,
      };
    }
  }
  if (!looksLikeDomain(domain)) {
    return {
      part,
      message: `registry host ${quote(domain)} would be read as a repository path component: expected a host containing '.' or ':port', or "localhost"`,
    };
  }
  return colon < 0 ? undefined : portProblem(domain, domain.slice(colon + 1));
}

/**
 * Describes what is wrong with a digest (strictly sha256/sha512 via `parseDigest`), or returns undefined.
 *
 * @example
 * ```ts
 * digestProblem("sha256:short")?.part // "digest"
 * ```
 */
export function digestProblem(digest: string): ReferenceProblem | undefined {
  if (digest === "") return { part: "digest", message: 'expected a digest after "@", found nothing' };
  try {
    parseDigest(digest);
    return undefined;
  } catch (cause) {
    const reason = isCairnError(cause) ? cause.message : String(cause);
    return { part: "digest", message: `expected a sha256 or sha512 digest after "@": ${reason}`, cause };
  }
}

/**
 * Describes a name (`domain/path`) that is longer than distribution allows, or returns undefined.
 *
 * @example
 * ```ts
 * nameLengthProblem(`example.com/${"a".repeat(250)}`)?.part // "name"
 * ```
 */
export function nameLengthProblem(name: string): ReferenceProblem | undefined {
  if (name.length <= MAX_NAME_LENGTH) return undefined;
  return {
    part: "name",
    message: `repository name is too long: expected at most ${MAX_NAME_LENGTH} characters (registry host included), found ${name.length}`,
  };
}
