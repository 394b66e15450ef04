/**
 * Generic manifest parsing: decide what a body is (from the declared media type or the body
 * itself), validate it as that, and keep the exact bytes with their digest.
 */
import { type Digest, digestBytes } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { field, isObject, Problem, validating } from "./check.js";
import { checkImageConfig } from "./config.js";
import { checkBodySize, type ParseOptions, readJson, utf8Bytes } from "./json.js";
import { MediaType } from "./media-types.js";
import {
  checkDockerManifest,
  checkDockerManifestList,
  checkOciIndex,
  checkOciManifest,
  rejectSchema1,
} from "./parse.js";
import type { DockerManifest, DockerManifestList, ImageConfig, OciIndex, OciManifest } from "./types.js";

/** What {@link parseManifest} found a body to be. */
export type ManifestKind = ParsedManifest["kind"];

interface Parsed<K extends string, V> {
  kind: K;
  /** The media type the body was validated as. */
  mediaType: string;
  /** The validated document. */
  value: V;
  /** sha256 of the exact bytes. */
  digest: Digest;
  /** Length of the exact bytes. */
  size: number;
  /** The exact bytes (digests are of these, never of a re-serialisation). */
  bytes: Uint8Array;
}

/** A parsed manifest, index or config, discriminated by `kind`. */
export type ParsedManifest =
  | Parsed<"oci-manifest", OciManifest>
  | Parsed<"oci-index", OciIndex>
  | Parsed<"docker-manifest", DockerManifest>
  | Parsed<"docker-manifest-list", DockerManifestList>
  | Parsed<"image-config", ImageConfig>;

const KIND_BY_MEDIA_TYPE: Readonly<Record<string, ManifestKind>> = {
  [MediaType.ociManifest]: "oci-manifest",
  [MediaType.ociIndex]: "oci-index",
  [MediaType.dockerManifest]: "docker-manifest",
  [MediaType.dockerManifestList]: "docker-manifest-list",
  [MediaType.ociConfig]: "image-config",
  [MediaType.dockerConfig]: "image-config",
};

const KIND_LABEL: Readonly<Record<ManifestKind, string>> = {
  "oci-manifest": "OCI image manifest",
  "oci-index": "OCI image index",
  "docker-manifest": "Docker image manifest",
  "docker-manifest-list": "Docker manifest list",
  "image-config": "image config",
};

/**
 * The {@link ManifestKind} a media type denotes, or undefined.
 *
 * @example
 * ```ts
 * manifestKindOf("application/vnd.oci.image.index.v1+json") // "oci-index"
 * ```
 */
export function manifestKindOf(mediaType: string): ManifestKind | undefined {
  return Object.hasOwn(KIND_BY_MEDIA_TYPE, mediaType) ? KIND_BY_MEDIA_TYPE[mediaType] : undefined;
}

/**
 * Guesses the media type of a decoded document: its `mediaType` field if it is a string;
 * otherwise `schemaVersion: 1` means Docker schema 1, `manifests` an OCI index, `config` and
 * `layers` an OCI manifest, `rootfs` an OCI image config, `imageLayoutVersion` a layout header.
 * Returns undefined when nothing fits.
 *
 * @example
 * ```ts
 * detectMediaType({ schemaVersion: 2, manifests: [] }) // "application/vnd.oci.image.index.v1+json"
 * ```
 */
export function detectMediaType(obj: unknown): string | undefined {
  if (!isObject(obj)) return undefined;
  const declared = field(obj, "mediaType");
  if (typeof declared === "string") return declared;
  if (field(obj, "schemaVersion") === 1) {
    return field(obj, "signatures") === undefined
      ? MediaType.dockerManifestSchema1
      : MediaType.dockerManifestSchema1Signed;
  }
  if (field(obj, "manifests") !== undefined) return MediaType.ociIndex;
  if (field(obj, "config") !== undefined && field(obj, "layers") !== undefined) return MediaType.ociManifest;
  if (field(obj, "rootfs") !== undefined) return MediaType.ociConfig;
  if (field(obj, "imageLayoutVersion") !== undefined) return MediaType.ociLayoutHeader;
  return undefined;
}

/** `Content-Type` value without parameters, lowercased: `a/b; charset=utf-8` → `a/b`. */
function bareMediaType(contentType: string | undefined): string | undefined {
  if (contentType === undefined) return undefined;
  const bare = contentType.split(";")[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}

const SCHEMA1_TYPES: ReadonlySet<string> = new Set([
  MediaType.dockerManifestSchema1,
  MediaType.dockerManifestSchema1Signed,
]);

function rejectSchema1MediaType(mediaType: string): void {
  if (SCHEMA1_TYPES.has(mediaType)) {
    throw new CairnError(
      "E_MANIFEST_UNSUPPORTED",
      `Docker image manifest schema 1 is not supported (declared media type ${JSON.stringify(mediaType)}); ` +
        "push the image again as Docker schema 2 or OCI",
      { path: "$", details: { mediaType } },
    );
  }
}

/**
 * Parses a manifest, index or image config from its exact bytes. The kind comes from
 * `mediaType` (e.g. a `Content-Type` header; parameters are ignored) when it names a known type,
 * else from the body ({@link detectMediaType}). A body whose own `mediaType` contradicts a
 * declared known type is refused. Bodies over 4 MiB are refused before parsing.
 *
 * @example
 * ```ts
 * const p = parseManifest(bytes, res.headers["content-type"])
 * if (p.kind === "oci-index") p.value.manifests
 * p.digest // sha256 of the exact bytes
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`, `E_MANIFEST_UNSUPPORTED` (schema 1, unknown kinds),
 *   `E_MANIFEST_TOO_LARGE`
 */
export function parseManifest(
  bytes: Uint8Array | string,
  mediaType?: string,
  options: ParseOptions = {},
): ParsedManifest {
  if (typeof bytes === "string") checkBodySize(bytes.length, "manifest", options.maxBytes);
  const raw = typeof bytes === "string" ? utf8Bytes(bytes) : bytes;
  checkBodySize(raw.byteLength, "manifest", options.maxBytes);
  const declared = bareMediaType(mediaType);
  if (declared !== undefined) rejectSchema1MediaType(declared);
  const value = validating("manifest", () => readJson(raw, "manifest", options));
  rejectSchema1(value);
  const bodyType = detectMediaType(value);

  let chosen: string;
  if (declared !== undefined && manifestKindOf(declared) !== undefined) {
    const own = isObject(value) ? field(value, "mediaType") : undefined;
    if (typeof own === "string" && own !== declared) {
      const kind = KIND_LABEL[manifestKindOf(declared) as ManifestKind];
      validating(kind, () => {
        throw new Problem(
          "$.mediaType",
          `expected ${JSON.stringify(declared)} (the declared media type), found ${JSON.stringify(own)}`,
        );
      });
    }
    chosen = declared;
  } else if (bodyType !== undefined) {
    chosen = bodyType;
  } else {
    throw new CairnError(
      "E_MANIFEST_UNSUPPORTED",
      `cannot tell what this document is: declared media type ${
        declared === undefined ? "none" : JSON.stringify(declared)
      }, and the body has no mediaType field, no "manifests", no "config"+"layers" and no "rootfs"`,
      { path: "$", details: { mediaType: declared } },
    );
  }
  const kind = manifestKindOf(chosen);
  if (kind === undefined) {
    throw new CairnError(
      "E_MANIFEST_UNSUPPORTED",
      `unsupported media type ${JSON.stringify(chosen)}: expected an OCI or Docker schema 2 manifest, index or image config`,
      { path: "$.mediaType", details: { mediaType: chosen } },
    );
  }
  const label = KIND_LABEL[kind];
  const parsed = validating(label, () => checkAs(kind, value, options));
  return { ...parsed, mediaType: chosen, digest: digestBytes(raw), size: raw.byteLength, bytes: raw };
}

type KindAndValue = {
  [K in ManifestKind]: Pick<Extract<ParsedManifest, { kind: K }>, "kind" | "value">;
}[ManifestKind];

function checkAs(kind: ManifestKind, value: unknown, options: ParseOptions): KindAndValue {
  switch (kind) {
    case "oci-manifest":
      return { kind, value: checkOciManifest(value, options) };
    case "oci-index":
      return { kind, value: checkOciIndex(value) };
    case "docker-manifest":
      return { kind, value: checkDockerManifest(value) };
    case "docker-manifest-list":
      return { kind, value: checkDockerManifestList(value) };
    case "image-config":
      return { kind, value: checkImageConfig(value) };
  }
}
