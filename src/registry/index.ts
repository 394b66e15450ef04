/**
 * `cairn-oci/registry`: the OCI distribution API over undici, as a source and a sink of the
 * image model: pull, push, copy, tags, catalog, referrers, delete, and authentication as docker
 * and podman do it (config files, credential helpers, Basic and Bearer tokens).
 */
import { registryWrite } from "./sink.js";
import { registryGet, registryImage, registryIndex } from "./source.js";

export { type AuthOption, type CredentialProvider, clearTokenCache } from "./auth.js";
export { type Challenge, formatChallenge, parseChallenges } from "./challenge.js";
export {
  type CallOptions,
  type FetchedManifest,
  type ListOptions,
  type ManifestInfo,
  type OpenBlobOptions as RegistryOpenBlobOptions,
  type PutManifestResult,
  type Referrers,
  RegistryClient,
  type RegistryClientOptions,
  type RegistryRequest,
  referrersTag,
} from "./client.js";
export {
  type CopyOptions,
  type CopyResult,
  copy,
  type ImageEndpoint,
  openImage,
  type PullOptions,
  type PullResult,
  pull,
  push,
} from "./copy.js";
export {
  authFiles,
  type CredentialStoreOptions,
  type Credentials,
  dockerConfigFile,
  findCredentials,
  removeLogin,
  type SavedLogin,
  saveLogin,
} from "./credentials.js";
export type { RetryEvent } from "./http.js";
export { type LoginOptions, login, logout } from "./login.js";
export { clientFor, type RegistryOptions, toReference } from "./options.js";
export type { ProgressEvent, ProgressListener } from "./progress.js";
export { catalog, deleteManifest, fetchManifest, listReferrers, listTags, resolveDigest } from "./remote.js";
export type { RetryOptions } from "./retry.js";
export { type RegistryWriteOptions, registryWrite, type WriteResult } from "./sink.js";
export {
  type BlobOrigin,
  type RegistrySourceOptions,
  registryBlobReader,
  registryGet,
  registryImage,
  registryIndex,
  registryOrigin,
} from "./source.js";
export { closeRegistryConnections, type RegistryTlsOptions } from "./tls.js";
export type { UploadOptions, UploadOutcome, UploadSource } from "./upload.js";

/**
 * The registry as a source and a sink of images, in the shape of `ImageLayout`:
 * `registry.image(ref)`, `registry.index(ref)`, `registry.get(ref)`, `registry.write(ref, x)`.
 *
 * @example
 * ```ts
 * const image = await registry.image("localhost:5000/acme/app:1.0");
 * await registry.write("localhost:5000/acme/copy:1.0", image);
 * ```
 */
export const registry = {
  image: registryImage,
  index: registryIndex,
  get: registryGet,
  write: registryWrite,
} as const;
