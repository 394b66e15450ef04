import { type Digest, isDigest } from "../digest/index.js";
import { MediaType } from "../manifest/media-types.js";

/** A blob a manifest points at, as far as the store needs to know. */
export interface BlobRef {
  digest: Digest;
  mediaType?: string;
}

/** The blobs one manifest-like document points at. */
export interface ManifestLinks {
  /** Config, layers, child manifests, artifact blobs. */
  children: BlobRef[];
  /** The manifest this one refers to (OCI 1.1 `subject`). */
  subject?: BlobRef;
}

const OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json";

const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifestSchema1,
  MediaType.dockerManifestSchema1Signed,
  OCI_ARTIFACT_MANIFEST,
]);

/**
 * True for media types whose blobs point at other blobs (manifests and indexes of every format).
 *
 * @example
 * ```ts
 * isManifestMediaType("application/vnd.oci.image.index.v1+json") // true
 * ```
 */
export function isManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && MANIFEST_MEDIA_TYPES.has(mediaType);
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === "object" && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

function toRef(v: unknown): BlobRef | undefined {
  const o = asRecord(v);
  if (!o || !isDigest(o.digest)) return undefined;
  return typeof o.mediaType === "string"
    ? { digest: o.digest, mediaType: o.mediaType }
    : { digest: o.digest };
}

function refsOf(list: unknown, into: BlobRef[]): void {
  if (!Array.isArray(list)) return;
  for (const item of list) {
    const ref = toRef(item);
    if (ref) into.push(ref);
  }
}

/**
 * The media type a parsed manifest-like JSON document declares, or the one its shape implies
 * (`manifests` means an index, `config` + `layers` an image manifest); `undefined` otherwise.
 *
 * @example
 * ```ts
 * sniffManifestMediaType({ schemaVersion: 2, manifests: [] }) // "application/vnd.oci.image.index.v1+json"
 * ```
 */
export function sniffManifestMediaType(doc: unknown): string | undefined {
  const o = asRecord(doc);
  if (!o) return undefined;
  if (typeof o.mediaType === "string") return isManifestMediaType(o.mediaType) ? o.mediaType : undefined;
  if (Array.isArray(o.manifests)) return MediaType.ociIndex;
  if (asRecord(o.config) && Array.isArray(o.layers)) return MediaType.ociManifest;
  if (Array.isArray(o.fsLayers)) return MediaType.dockerManifestSchema1;
  return undefined;
}

/**
 * The blobs a manifest-like document points at. Deliberately lenient: gc must keep what a
 * present-but-odd manifest references, so anything shaped like a descriptor counts, in any
 * format (OCI/Docker manifests and indexes, OCI artifact manifests, Docker schema 1).
 *
 * @example
 * ```ts
 * manifestLinks(JSON.parse(text)).children.map((r) => r.digest)
 * ```
 */
export function manifestLinks(doc: unknown): ManifestLinks {
  const o = asRecord(doc);
  const children: BlobRef[] = [];
  if (!o) return { children };
  const config = toRef(o.config);
  if (config) children.push(config);
  refsOf(o.layers, children);
  refsOf(o.manifests, children);
  refsOf(o.blobs, children);
  if (Array.isArray(o.fsLayers)) {
    for (const layer of o.fsLayers) {
      const sum = asRecord(layer)?.blobSum;
      if (isDigest(sum)) children.push({ digest: sum });
    }
  }
  const subject = toRef(o.subject);
  return subject ? { children, subject } : { children };
}

/**
 * Parses bytes as a manifest-like JSON document; `undefined` when they are not JSON (layers,
 * binary configs) or not an object.
 *
 * @example
 * ```ts
 * parseManifestLike(await layout.readAll(digest))
 * ```
 */
export function parseManifestLike(bytes: Uint8Array): Record<string, unknown> | undefined {
  // Skip binary blobs without decoding them: JSON objects start with "{" after optional whitespace.
  let i = 0;
  while (
    i < bytes.length &&
    (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)
  ) {
    i++;
  }
  if (bytes[i] !== 0x7b) return undefined;
  try {
    return asRecord(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)));
  } catch {
    return undefined;
  }
}
