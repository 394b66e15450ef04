/**
 * Image references: the distribution grammar (`[domain/]path[:tag][@digest]`) and docker's
 * normalization (`ubuntu` -> `docker.io/library/ubuntu:latest`).
 */
export {
  isValidTag,
  MAX_NAME_LENGTH,
  MAX_TAG_LENGTH,
  type ReferencePart,
} from "./grammar.js";
export {
  DEFAULT_DOMAIN,
  DOCKER_HUB_REGISTRY_URL,
  isLoopbackHost,
  LEGACY_DEFAULT_DOMAIN,
  normalizeDomain,
} from "./host.js";
export { type ParseReferenceOptions, parseReference, tryParseReference } from "./parse.js";
export { DEFAULT_TAG, OFFICIAL_REPO_PREFIX, Reference, type ReferenceParts } from "./reference.js";
