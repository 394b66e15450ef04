import type { Digest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import {
  digestProblem,
  domainProblem,
  nameLengthProblem,
  pathProblem,
  quote,
  type ReferenceProblem,
  tagProblem,
} from "./grammar.js";
import {
  DEFAULT_DOMAIN,
  DOCKER_HUB_REGISTRY_URL,
  isLoopbackHost,
  looksLikeDomain,
  normalizeDomain,
} from "./host.js";

/** The tag a reference gets when it names neither a tag nor a digest. */
export const DEFAULT_TAG = "latest";

/** Docker Hub's namespace for official images: `ubuntu` is `docker.io/library/ubuntu`. */
export const OFFICIAL_REPO_PREFIX = "library/";

// A bare 64-hex name is an image ID to docker, never a repository name.
const IMAGE_ID = /^[a-f0-9]{64}$/;

/** The parts a {@link Reference} is built from. */
export interface ReferenceParts {
  /** Registry host with optional port; defaults to `docker.io`. `index.docker.io` is normalized. */
  domain?: string;
  /** Repository path, e.g. `library/ubuntu`; a one-component path on docker.io gets `library/`. */
  repository: string;
  tag?: string;
  digest?: string;
}

/** The parts after Docker Hub normalization, before validation. */
export interface NormalizedParts {
  domain: string;
  repository: string;
  tag: string | undefined;
  digest: string | undefined;
}

/**
 * Applies docker's normalization: the default domain, its legacy alias, and the `library/` prefix.
 *
 * @example
 * ```ts
 * normalizeParts({ repository: "ubuntu" }).repository // "library/ubuntu"
 * ```
 */
export function normalizeParts(parts: ReferenceParts): NormalizedParts {
  const domain = normalizeDomain(parts.domain ?? DEFAULT_DOMAIN);
  const single = parts.repository !== "" && !parts.repository.includes("/");
  const repository =
    domain === DEFAULT_DOMAIN && single ? OFFICIAL_REPO_PREFIX + parts.repository : parts.repository;
  return { domain, repository, tag: parts.tag, digest: parts.digest };
}

/**
 * The first problem with normalized parts, checked in order: domain, path, name length, tag, digest.
 *
 * @example
 * ```ts
 * findProblem(normalizeParts({ repository: "A" }))?.part // "path"
 * ```
 */
export function findProblem(parts: NormalizedParts): ReferenceProblem | undefined {
  return (
    domainProblem(parts.domain) ??
    pathProblem(parts.repository) ??
    nameLengthProblem(`${parts.domain}/${parts.repository}`) ??
    (parts.tag === undefined ? undefined : tagProblem(parts.tag)) ??
    (parts.digest === undefined ? undefined : digestProblem(parts.digest))
  );
}

/**
 * The `E_REFERENCE_INVALID` error for a problem, naming the input when there is one.
 *
 * @example
 * ```ts
 * throw referenceError({ part: "tag", message: "tag is too long" }, input)
 * ```
 */
export function referenceError(problem: ReferenceProblem, input?: string): CairnError {
  const subject = input === undefined ? "invalid reference" : `invalid reference ${quote(input)}`;
  const details: Record<string, unknown> = { part: problem.part };
  if (input !== undefined) details["input"] = input.length > 1024 ? `${input.slice(0, 1024)}…` : input;
  return new CairnError("E_REFERENCE_INVALID", `${subject}: ${problem.message}`, {
    details,
    cause: problem.cause,
  });
}

/**
 * A validated, normalized image reference: `domain/repository[:tag][@digest]`. Immutable; the
 * `with*` methods return new references. Build one with {@link parseReference} or from parts.
 *
 * @example
 * ```ts
 * const ref = new Reference({ domain: "ghcr.io", repository: "acme/app", tag: "1.0" })
 * ref.toString() // "ghcr.io/acme/app:1.0"
 * new Reference({ repository: "ubuntu" }).name // "docker.io/library/ubuntu"
 * ```
 * @throws CairnError `E_REFERENCE_INVALID` when a part breaks the grammar
 */
export class Reference {
  /** Registry host with optional port, e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path within the registry, e.g. `library/ubuntu`. */
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;

  constructor(parts: ReferenceParts) {
    const normalized = normalizeParts(parts);
    const problem = findProblem(normalized);
    if (problem !== undefined) throw referenceError(problem);
    this.domain = normalized.domain;
    this.repository = normalized.repository;
    if (normalized.tag !== undefined) this.tag = normalized.tag;
    if (normalized.digest !== undefined) this.digest = normalized.digest as Digest;
    Object.freeze(this);
  }

  /** `domain/repository`, e.g. `docker.io/library/ubuntu`. */
  get name(): string {
    return `${this.domain}/${this.repository}`;
  }

  /**
   * What a registry manifest URL names: the digest when there is one, else the tag, else `latest`
   * (a reference parsed with `defaultTag: false` may have neither).
   */
  get identifier(): string {
    return this.digest ?? this.tag ?? DEFAULT_TAG;
  }

  /** True when the registry is on a loopback host and so defaults to plain http. */
  get insecureDefault(): boolean {
    return isLoopbackHost(this.domain);
  }

  /** `http` for loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`), `https` otherwise. */
  get scheme(): "http" | "https" {
    return this.insecureDefault ? "http" : "https";
  }

  /** Base URL of the registry API: `https://registry-1.docker.io` for docker.io, else `scheme://domain`. */
  get registryUrl(): string {
    return this.domain === DEFAULT_DOMAIN ? DOCKER_HUB_REGISTRY_URL : `${this.scheme}://${this.domain}`;
  }

  /**
   * The name as docker prints it: `docker.io/` and `library/` dropped where that stays
   * unambiguous (`ubuntu`, `user/repo`); other registries keep their domain.
   */
  get familiarName(): string {
    if (this.domain !== DEFAULT_DOMAIN) return this.name;
    const path = this.repository;
    if (path.startsWith(OFFICIAL_REPO_PREFIX)) {
      const rest = path.slice(OFFICIAL_REPO_PREFIX.length);
      if (!rest.includes("/") && !IMAGE_ID.test(rest)) return rest;
    }
    // A first component like "foo.bar" or "localhost" would be read back as a registry host.
    const first = path.slice(0, path.indexOf("/"));
    return looksLikeDomain(first) ? this.name : path;
  }

  /** The full normalized form, `domain/repository[:tag][@digest]`. */
  toString(): string {
    return this.name + this.suffix();
  }

  /** The short form docker prints: `ubuntu:latest`, `user/repo@sha256:…`, `localhost:5000/x:y`. */
  familiar(): string {
    return this.familiarName + this.suffix();
  }

  /** The same as {@link Reference.toString}, so references serialize as strings. */
  toJSON(): string {
    return this.toString();
  }

  /**
   * A copy with `tag` in place of the current tag; the digest is kept.
   *
   * @example
   * ```ts
   * parseReference("ubuntu").withTag("24.04").toString() // "docker.io/library/ubuntu:24.04"
   * ```
   * @throws CairnError `E_REFERENCE_INVALID` for an invalid tag
   */
  withTag(tag: string): Reference {
    return new Reference({ ...this.parts(), tag });
  }

  /**
   * A copy pinned to `digest`; the tag is kept.
   *
   * @example
   * ```ts
   * parseReference("ubuntu:24.04").withDigest(digest).identifier === digest
   * ```
   * @throws CairnError `E_REFERENCE_INVALID` for a digest that is not valid sha256/sha512
   */
  withDigest(digest: string): Reference {
    return new Reference({ ...this.parts(), digest });
  }

  /**
   * A copy without a tag.
   *
   * @example
   * ```ts
   * parseReference("ubuntu:24.04").withoutTag().toString() // "docker.io/library/ubuntu"
   * ```
   */
  withoutTag(): Reference {
    return new Reference({ ...this.parts(), tag: undefined });
  }

  /**
   * A copy without a digest.
   *
   * @example
   * ```ts
   * parseReference(`ubuntu:24.04@${digest}`).withoutDigest().toString() // "docker.io/library/ubuntu:24.04"
   * ```
   */
  withoutDigest(): Reference {
    return new Reference({ ...this.parts(), digest: undefined });
  }

  /**
   * True when `other` is the same normalized reference.
   *
   * @example
   * ```ts
   * parseReference("ubuntu").equals(parseReference("docker.io/library/ubuntu:latest")) // true
   * ```
   */
  equals(other: Reference): boolean {
    return other instanceof Reference && other.toString() === this.toString();
  }

  private parts(): ReferenceParts {
    return { domain: this.domain, repository: this.repository, tag: this.tag, digest: this.digest };
  }

  private suffix(): string {
    return (
      (this.tag === undefined ? "" : `:${this.tag}`) + (this.digest === undefined ? "" : `@${this.digest}`)
    );
  }
}
