import type { Digest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { parseReference, type Reference } from "../reference/index.js";
import type { FetchedManifest, ListOptions, Referrers } from "./client.js";
import { clientFor, type RegistryOptions, toReference } from "./options.js";

function repoRef(ref: string | Reference): Reference {
  if (typeof ref !== "string") return ref;
  const text = ref.startsWith("docker://") ? ref.slice("docker://".length) : ref;
  return parseReference(text, { defaultTag: false });
}

function sig(options: RegistryOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/**
 * Every tag of a repository (`localhost:5000/acme/app`; a tag or digest in the reference is
 * ignored), following pagination.
 *
 * @example
 * ```ts
 * await listTags("localhost:5000/acme/app") // ["1.0", "latest"]
 * ```
 * @throws CairnError `E_NOT_FOUND` for an unknown repository
 */
export async function listTags(
  repository: string | Reference,
  options: RegistryOptions & Omit<ListOptions, "signal"> = {},
): Promise<string[]> {
  const r = repoRef(repository);
  const { pageSize, last, limit } = options;
  return clientFor(r.domain, options, r.repository).listTags(r.repository, {
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(last !== undefined ? { last } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...sig(options),
  });
}

/**
 * The repositories of a registry (`/v2/_catalog`), following pagination.
 *
 * @example
 * ```ts
 * await catalog("localhost:5000") // ["acme/app"]
 * ```
 */
export async function catalog(
  registry: string,
  options: RegistryOptions & Omit<ListOptions, "signal"> = {},
): Promise<string[]> {
  const host = registry.startsWith("docker://") ? registry.slice("docker://".length) : registry;
  const { pageSize, last, limit } = options;
  return clientFor(host.replace(/\/+$/, ""), options).catalog({
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(last !== undefined ? { last } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...sig(options),
  });
}

/**
 * The digest a reference names on its registry (`HEAD` on the manifest; a digest reference is
 * checked to exist).
 *
 * @example
 * ```ts
 * await resolveDigest("localhost:5000/acme/app:1.0") // "sha256:…"
 * ```
 * @throws CairnError `E_NOT_FOUND`
 */
export async function resolveDigest(ref: string | Reference, options: RegistryOptions = {}): Promise<Digest> {
  const r = toReference(ref);
  const info = await clientFor(r.domain, options, r.repository).headManifest(
    r.repository,
    r.identifier,
    sig(options),
  );
  if (!info)
    throw new CairnError("E_NOT_FOUND", `manifest ${r.toString()} not found on registry ${r.domain}`);
  return info.digest;
}

/**
 * The exact manifest bytes a reference names, with media type and digest (`cairn inspect --raw`).
 *
 * @example
 * ```ts
 * const { bytes, mediaType } = await fetchManifest("localhost:5000/acme/app:1.0");
 * ```
 */
export async function fetchManifest(
  ref: string | Reference,
  options: RegistryOptions = {},
): Promise<FetchedManifest> {
  const r = toReference(ref);
  return clientFor(r.domain, options, r.repository).getManifest(r.repository, r.identifier, sig(options));
}

/**
 * Deletes the manifest a reference names, as skopeo does: a tag is first resolved to its
 * digest, and the manifest is deleted by digest (every tag pointing at it goes with it).
 * Returns the digest deleted.
 *
 * @example
 * ```ts
 * await deleteManifest("localhost:5000/acme/app:old");
 * ```
 * @throws CairnError `E_NOT_FOUND`; `E_REGISTRY` when the registry does not allow deletion
 */
export async function deleteManifest(
  ref: string | Reference,
  options: RegistryOptions = {},
): Promise<Digest> {
  const r = toReference(ref);
  const client = clientFor(r.domain, options, r.repository);
  const digest = r.digest ?? (await resolveDigest(r, { ...options, clients: [client] }));
  await client.deleteManifest(r.repository, digest, sig(options));
  return digest;
}

/**
 * The manifests referring to the manifest a reference names (OCI 1.1 `subject`), from the
 * referrers API or its tag-schema fallback, optionally filtered by `artifactType`.
 *
 * @example
 * ```ts
 * const { manifests } = await listReferrers("localhost:5000/acme/app:1.0", { artifactType: "application/spdx+json" });
 * ```
 */
export async function listReferrers(
  ref: string | Reference,
  options: RegistryOptions & { artifactType?: string } = {},
): Promise<Referrers> {
  const r = toReference(ref);
  const client = clientFor(r.domain, options, r.repository);
  const digest = r.digest ?? (await resolveDigest(r, { ...options, clients: [client] }));
  return client.referrers(r.repository, digest, {
    ...sig(options),
    ...(options.artifactType ? { artifactType: options.artifactType } : {}),
  });
}
