import { isManifestMediaType } from "../content/index.js";
import { CairnError } from "../errors/index.js";
import {
  type BlobReader,
  type Image,
  type ImageIndex,
  imageFromManifest,
  indexFromManifest,
  isImageIndex,
  type Layer,
} from "../image/index.js";
import { hostPlatform, isIndexMediaType, type Platform } from "../manifest/index.js";
import type { Reference } from "../reference/index.js";
import type { RegistryClient } from "./client.js";
import { clientFor, type RegistryOptions, toReference } from "./options.js";
import type { ProgressListener } from "./progress.js";

/** Where blobs read from a registry came from: the sink mounts them from there. */
export interface BlobOrigin {
  registry: string;
  repository: string;
}

const origins = new WeakMap<object, BlobOrigin>();

/**
 * The registry repository an image, index or layer was read from, when it came from a
 * registry source (layers keep it through mutations that reuse them).
 *
 * @example
 * ```ts
 * registryOrigin(layer) // { registry: "localhost:5000", repository: "acme/base" }
 * ```
 */
export function registryOrigin(x: Image | ImageIndex | Layer): BlobOrigin | undefined {
  return origins.get(x);
}

/** Options for reading images from a registry. */
export interface RegistrySourceOptions extends RegistryOptions {
  /** The platform to choose from an index (default: this host's). */
  platform?: Platform | string;
}

/**
 * A {@link BlobReader} over a registry repository: child manifests are fetched from
 * `/manifests/`, other blobs from `/blobs/` (streamed, resumable).
 *
 * @example
 * ```ts
 * const reader = registryBlobReader(client, "acme/app");
 * ```
 */
export function registryBlobReader(
  client: RegistryClient,
  repository: string,
  options: { signal?: AbortSignal; onProgress?: ProgressListener } = {},
): BlobReader {
  const sig = (s?: AbortSignal) => {
    const both = [s, options.signal].filter((x): x is AbortSignal => x !== undefined);
    if (both.length === 0) return {};
    return { signal: both.length === 1 || both[0] === both[1] ? (both[0] as AbortSignal) : anySignal(both) };
  };
  const progress = options.onProgress ? { onProgress: options.onProgress } : {};
  return {
    // the image model verifies what it reads, so the stream is not hashed twice
    open: (d, o) => client.openBlob(repository, d, { verify: false, ...progress, ...sig(o?.signal) }),
    readAll: async (d, maxBytes, o) => {
      if (isManifestMediaType(d.mediaType))
        return (await client.getManifest(repository, d.digest, sig(o?.signal))).bytes;
      return client.readBlob(repository, d, maxBytes, { ...progress, ...sig(o?.signal) });
    },
  };
}

/** A signal that aborts when any of `signals` does (`AbortSignal.any` where Node has it). */
function anySignal(signals: AbortSignal[]): AbortSignal {
  if (typeof AbortSignal.any === "function") return AbortSignal.any(signals);
  const controller = new AbortController();
  for (const s of signals) {
    if (s.aborted) controller.abort(s.reason);
    else s.addEventListener("abort", () => controller.abort(s.reason), { once: true });
  }
  return controller.signal;
}

function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= fn();
    return p;
  };
}

function withOrigin(image: Image, origin: BlobOrigin): Image {
  const layers = once(async () => {
    const list = await image.layers();
    for (const l of list) origins.set(l, origin);
    return list;
  });
  const out: Image = { ...image, layers };
  origins.set(out, origin);
  return out;
}

function indexWithOrigin(index: ImageIndex, origin: BlobOrigin): ImageIndex {
  const out: ImageIndex = {
    ...index,
    image: async (which) => withOrigin(await index.image(which), origin),
    index: async (which) => indexWithOrigin(await index.index(which), origin),
  };
  origins.set(out, origin);
  return out;
}

/**
 * The image or index a reference names on its registry, as a lazy {@link Image} or
 * {@link ImageIndex}: only the manifest is fetched now; configs and layers when asked, each
 * verified against its digest.
 *
 * @example
 * ```ts
 * const x = await registryGet("localhost:5000/acme/app:1.0");
 * ```
 * @throws CairnError `E_NOT_FOUND`, `E_AUTH`, `E_REGISTRY`, `E_MANIFEST_INVALID`
 */
export async function registryGet(
  ref: string | Reference,
  options: RegistrySourceOptions = {},
): Promise<Image | ImageIndex> {
  const r = toReference(ref);
  const client = clientFor(r.domain, options, r.repository);
  const m = await client.getManifest(
    r.repository,
    r.identifier,
    options.signal ? { signal: options.signal } : {},
  );
  const reader = registryBlobReader(client, r.repository, options);
  const where = `docker://${r.toString()}`;
  const origin: BlobOrigin = { registry: r.domain, repository: r.repository };
  if (isIndexMediaType(m.mediaType)) {
    return indexWithOrigin(indexFromManifest(m.bytes, reader, { mediaType: m.mediaType, where }), origin);
  }
  return withOrigin(imageFromManifest(m.bytes, reader, { mediaType: m.mediaType, where }), origin);
}

/**
 * The image a reference names; when it names an index, the image for `platform` (default:
 * this host's) is chosen from it.
 *
 * @example
 * ```ts
 * const image = await registryImage("docker.io/library/alpine:3.20", { platform: "linux/arm64" });
 * console.log((await image.config()).architecture);
 * ```
 * @throws CairnError `E_PLATFORM_NOT_FOUND` when the index has no suitable image
 */
export async function registryImage(
  ref: string | Reference,
  options: RegistrySourceOptions = {},
): Promise<Image> {
  const got = await registryGet(ref, options);
  if (!isImageIndex(got)) return got;
  return got.image(options.platform ?? hostPlatform());
}

/**
 * The index a reference names.
 *
 * @example
 * ```ts
 * const index = await registryIndex("localhost:5000/acme/app:multi");
 * ```
 * @throws CairnError `E_MANIFEST_INVALID` when the reference names a single image
 */
export async function registryIndex(
  ref: string | Reference,
  options: RegistrySourceOptions = {},
): Promise<ImageIndex> {
  const got = await registryGet(ref, options);
  if (isImageIndex(got)) return got;
  throw new CairnError(
    "E_MANIFEST_INVALID",
    `${toReference(ref).toString()} is a single image, not an index`,
  );
}
