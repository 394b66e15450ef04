import { isCairnError } from "../errors/index.js";
import type { ReferenceProblem } from "./grammar.js";
import { DEFAULT_DOMAIN, looksLikeDomain } from "./host.js";
import {
  DEFAULT_TAG,
  findProblem,
  normalizeParts,
  Reference,
  type ReferenceParts,
  referenceError,
} from "./reference.js";

/** Options for {@link parseReference}. */
export interface ParseReferenceOptions {
  /** Add the tag `latest` when the input names neither a tag nor a digest (default true, as docker). */
  defaultTag?: boolean;
}

const IMAGE_ID = /^[a-f0-9]{64}$/;

function reject(input: string, part: ReferenceProblem["part"], message: string): never {
  throw referenceError({ part, message }, input);
}

/** Splits the text into domain, path, tag and digest without validating them. */
function split(input: string): ReferenceParts {
  const at = input.indexOf("@");
  const nameAndTag = at < 0 ? input : input.slice(0, at);
  const digest = at < 0 ? undefined : input.slice(at + 1);
  if (nameAndTag === "") reject(input, "path", 'expected a repository name before "@", found nothing');

  // The tag is what follows the first ':' after the last '/'; earlier colons belong to the domain.
  const lastSlash = nameAndTag.lastIndexOf("/");
  if (lastSlash < 0 && nameAndTag.startsWith("[")) {
    reject(input, "path", 'expected a repository path after the registry host, as in "[::1]:5000/name"');
  }
  const colon = nameAndTag.indexOf(":", lastSlash + 1);
  const name = colon < 0 ? nameAndTag : nameAndTag.slice(0, colon);
  const tag = colon < 0 ? undefined : nameAndTag.slice(colon + 1);
  if (name === "") reject(input, "path", 'expected a repository name before ":", found nothing');

  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  if (slash >= 0 && looksLikeDomain(first)) {
    return { domain: first, repository: name.slice(slash + 1), tag, digest };
  }
  return { domain: DEFAULT_DOMAIN, repository: name, tag, digest };
}

/**
 * Parses an image reference with the distribution grammar and normalizes it as the docker CLI
 * does: `ubuntu` becomes `docker.io/library/ubuntu:latest`, `user/repo` becomes
 * `docker.io/user/repo:latest`, `index.docker.io` becomes `docker.io`. The first path component
 * is a registry host when it is `localhost` or contains `.` or `:`; otherwise the name is on
 * docker.io. A tag and a digest may both be given. The `latest` tag is added only when neither is.
 *
 * @example
 * ```ts
 * parseReference("ubuntu").toString() // "docker.io/library/ubuntu:latest"
 * parseReference("localhost:5000/app:dev").registryUrl // "http://localhost:5000"
 * parseReference("ghcr.io/acme/app@sha256:…").identifier // "sha256:…"
 * ```
 * @throws CairnError `E_REFERENCE_INVALID` naming the bad part (`details.part`)
 */
export function parseReference(input: string, options: ParseReferenceOptions = {}): Reference {
  if (typeof input !== "string") {
    const found = input === null ? "null" : typeof input;
    throw referenceError({ part: "reference", message: `expected a string, found ${found}` });
  }
  if (input === "") {
    reject(input, "reference", 'expected an image reference such as "ubuntu:24.04", found an empty string');
  }
  const space = /\s/.exec(input);
  if (space) {
    reject(
      input,
      "reference",
      `expected no whitespace, found ${JSON.stringify(space[0])} at offset ${space.index}`,
    );
  }
  if (input.includes("://")) {
    reject(
      input,
      "reference",
      'expected a reference without a URL scheme, such as "example.com/app:1.0", found "://"',
    );
  }
  if (IMAGE_ID.test(input)) {
    reject(
      input,
      "path",
      'a 64-character hex string is an image ID, not a repository name (to pin a digest, write "name@sha256:<hex>")',
    );
  }
  const parts = split(input);
  if (parts.tag === undefined && parts.digest === undefined && options.defaultTag !== false) {
    parts.tag = DEFAULT_TAG;
  }
  const problem = findProblem(normalizeParts(parts));
  if (problem !== undefined) throw referenceError(problem, input);
  return new Reference(parts);
}

/**
 * Like {@link parseReference} but returns undefined for invalid input instead of throwing.
 *
 * @example
 * ```ts
 * tryParseReference("Not/Valid") // undefined
 * tryParseReference("alpine")?.toString() // "docker.io/library/alpine:latest"
 * ```
 */
export function tryParseReference(input: string, options: ParseReferenceOptions = {}): Reference | undefined {
  try {
    return parseReference(input, options);
  } catch (err) {
    if (isCairnError(err, "E_REFERENCE_INVALID")) return undefined;
    throw err;
  }
}
