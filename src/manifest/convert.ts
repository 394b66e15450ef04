/**
 * Docker schema 2 ⇄ OCI conversion of manifests, indexes and the media types inside them.
 * Conversions never touch blobs: layer and config digests stay the same. Converting an index
 * does not convert the manifests it points to; convert those too and update the digests.
 */
import { CairnError } from "../errors/index.js";
import { MediaType } from "./media-types.js";
import type { Descriptor, DockerManifest, DockerManifestList, OciIndex, OciManifest } from "./types.js";

const OCI_LAYER_OF_DOCKER: Readonly<Record<string, string>> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerLayer]: MediaType.ociLayer,
  [MediaType.dockerLayerForeignGzip]: MediaType.ociLayerNonDistributableGzip,
  [MediaType.dockerLayerZstd]: MediaType.ociLayerZstd,
};

// Docker schema 2 has no zstd layer type and no uncompressed foreign layer type.
const DOCKER_LAYER_OF_OCI: Readonly<Record<string, string | undefined>> = {
  [MediaType.ociLayerGzip]: MediaType.dockerLayerGzip,
  [MediaType.ociLayer]: MediaType.dockerLayer,
  [MediaType.ociLayerNonDistributableGzip]: MediaType.dockerLayerForeignGzip,
  [MediaType.ociLayerZstd]: undefined,
  [MediaType.ociLayerNonDistributable]: undefined,
  [MediaType.ociLayerNonDistributableZstd]: undefined,
};

const COMPRESSION: Readonly<Record<string, LayerCompression>> = {
  [MediaType.ociLayer]: "none",
  [MediaType.ociLayerGzip]: "gzip",
  [MediaType.ociLayerZstd]: "zstd",
  [MediaType.ociLayerNonDistributable]: "none",
  [MediaType.ociLayerNonDistributableGzip]: "gzip",
  [MediaType.ociLayerNonDistributableZstd]: "zstd",
  [MediaType.dockerLayer]: "none",
  [MediaType.dockerLayerGzip]: "gzip",
  [MediaType.dockerLayerForeignGzip]: "gzip",
  [MediaType.dockerLayerZstd]: "zstd",
};

/** How a layer blob is compressed. */
export type LayerCompression = "gzip" | "zstd" | "none";

/** Options for conversions to Docker formats. */
export interface ToDockerOptions {
  /** Drop manifest/index-level annotations (Docker schema 2 has no field for them) instead of failing. */
  dropAnnotations?: boolean;
}

function own<T>(table: Readonly<Record<string, T>>, key: string): boolean {
  return Object.hasOwn(table, key);
}

/**
 * True for the layer media types cairn knows (OCI and Docker, any compression, including
 * non-distributable / foreign layers).
 *
 * @example
 * ```ts
 * isLayerMediaType("application/vnd.oci.image.layer.v1.tar+zstd") // true
 * isLayerMediaType("application/vnd.oci.image.config.v1+json") // false
 * ```
 */
export function isLayerMediaType(mediaType: string): boolean {
  return own(COMPRESSION, mediaType);
}

/**
 * The compression of a layer media type. Unknown types (artifact layers) are judged by their
 * suffix (`+gzip`/`.gzip`, `+zstd`/`.zstd`), else `"none"`.
 *
 * @example
 * ```ts
 * layerCompression("application/vnd.docker.image.rootfs.diff.tar.gzip") // "gzip"
 * layerCompression("application/vnd.oci.image.layer.v1.tar") // "none"
 * ```
 */
export function layerCompression(mediaType: string): LayerCompression {
  const known = own(COMPRESSION, mediaType) ? COMPRESSION[mediaType] : undefined;
  if (known !== undefined) return known;
  if (/[+.]gzip$/.test(mediaType)) return "gzip";
  if (/[+.]zstd$/.test(mediaType)) return "zstd";
  return "none";
}

/**
 * The OCI layer media type for a Docker one; OCI layer types map to themselves; undefined for
 * anything that is not a known layer type.
 *
 * @example
 * ```ts
 * ociLayerMediaType("application/vnd.docker.image.rootfs.diff.tar.gzip")
 * // "application/vnd.oci.image.layer.v1.tar+gzip"
 * ```
 */
export function ociLayerMediaType(dockerType: string): string | undefined {
  if (own(OCI_LAYER_OF_DOCKER, dockerType)) return OCI_LAYER_OF_DOCKER[dockerType];
  return own(DOCKER_LAYER_OF_OCI, dockerType) ? dockerType : undefined;
}

/**
 * The Docker schema 2 layer media type for an OCI one; Docker schema 2 types map to themselves;
 * undefined when Docker has no equivalent (zstd, uncompressed non-distributable) or the type is
 * not a layer type.
 *
 * @example
 * ```ts
 * dockerLayerMediaType("application/vnd.oci.image.layer.v1.tar+gzip")
 * // "application/vnd.docker.image.rootfs.diff.tar.gzip"
 * dockerLayerMediaType("application/vnd.oci.image.layer.v1.tar+zstd") // undefined
 * ```
 */
export function dockerLayerMediaType(ociType: string): string | undefined {
  if (own(DOCKER_LAYER_OF_OCI, ociType)) return DOCKER_LAYER_OF_OCI[ociType];
  return own(OCI_LAYER_OF_DOCKER, ociType) && ociType !== MediaType.dockerLayerZstd ? ociType : undefined;
}

/**
 * The OCI config media type for a Docker image config type (or the OCI one); else undefined.
 *
 * @example
 * ```ts
 * ociConfigMediaType("application/vnd.docker.container.image.v1+json")
 * // "application/vnd.oci.image.config.v1+json"
 * ```
 */
export function ociConfigMediaType(dockerType: string): string | undefined {
  return dockerType === MediaType.dockerConfig || dockerType === MediaType.ociConfig
    ? MediaType.ociConfig
    : undefined;
}

/**
 * The Docker config media type for an OCI image config type (or the Docker one); else undefined.
 *
 * @example
 * ```ts
 * dockerConfigMediaType("application/vnd.oci.image.config.v1+json")
 * // "application/vnd.docker.container.image.v1+json"
 * ```
 */
export function dockerConfigMediaType(ociType: string): string | undefined {
  return ociType === MediaType.ociConfig || ociType === MediaType.dockerConfig
    ? MediaType.dockerConfig
    : undefined;
}

function cannot(what: string, path: string): never {
  throw new CairnError("E_MANIFEST_UNSUPPORTED", `cannot convert to Docker schema 2 at ${path}: ${what}`, {
    path,
  });
}

function withoutOciOnlyFields(d: Descriptor): Descriptor {
  const out: Descriptor = { ...d };
  delete out.data;
  delete out.artifactType;
  return out;
}

/**
 * Converts a Docker schema 2 manifest to an OCI image manifest: the config becomes
 * `application/vnd.oci.image.config.v1+json` (also from the legacy `application/octet-stream`),
 * known layer types their OCI equivalents; other fields of descriptors are kept.
 *
 * @example
 * ```ts
 * const oci = toOciManifest(parseDockerManifest(body))
 * const bytes = canonicalManifestBytes(oci)
 * ```
 */
export function toOciManifest(docker: DockerManifest): OciManifest {
  const configType = docker.config.mediaType;
  const legacy = configType === "application/octet-stream";
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: {
      ...docker.config,
      mediaType: legacy ? MediaType.ociConfig : (ociConfigMediaType(configType) ?? configType),
    },
    layers: docker.layers.map((l) => ({ ...l, mediaType: ociLayerMediaType(l.mediaType) ?? l.mediaType })),
  };
}

/**
 * Converts an OCI image manifest to Docker schema 2. Fails with `E_MANIFEST_UNSUPPORTED` for
 * what Docker cannot represent: artifacts (non-image config, `artifactType`), `subject`,
 * zstd or uncompressed non-distributable layers, non-layer blobs, and manifest annotations
 * (unless `dropAnnotations`). Embedded `data` is dropped (the blobs exist anyway).
 *
 * @example
 * ```ts
 * const docker = toDockerManifest(parseOciManifest(body))
 * docker.mediaType // "application/vnd.docker.distribution.manifest.v2+json"
 * ```
 * @throws CairnError `E_MANIFEST_UNSUPPORTED` with the JSON path of the offending field
 */
export function toDockerManifest(oci: OciManifest, options: ToDockerOptions = {}): DockerManifest {
  if (oci.artifactType !== undefined) {
    cannot(
      `an artifact manifest (artifactType ${JSON.stringify(oci.artifactType)}) is not an image`,
      "$.artifactType",
    );
  }
  if (oci.subject !== undefined) cannot("Docker schema 2 has no subject field", "$.subject");
  if (oci.annotations !== undefined && !options.dropAnnotations) {
    cannot(
      "Docker schema 2 has no manifest annotations (pass { dropAnnotations: true } to drop them)",
      "$.annotations",
    );
  }
  const configType = dockerConfigMediaType(oci.config.mediaType);
  if (configType === undefined) {
    cannot(
      `config media type ${JSON.stringify(oci.config.mediaType)} is not an image config (an OCI artifact?)`,
      "$.config.mediaType",
    );
  }
  const layers = oci.layers.map((l, i) => {
    const mediaType = dockerLayerMediaType(l.mediaType);
    if (mediaType === undefined) {
      const why = isLayerMediaType(l.mediaType)
        ? `Docker schema 2 has no layer media type for ${JSON.stringify(l.mediaType)}`
        : `${JSON.stringify(l.mediaType)} is not an image layer media type`;
      cannot(why, `$.layers[${i}].mediaType`);
    }
    return { ...withoutOciOnlyFields(l), mediaType };
  });
  return {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { ...withoutOciOnlyFields(oci.config), mediaType: configType },
    layers,
  };
}

/**
 * Converts a Docker manifest list to an OCI image index; entries' media types become the OCI
 * ones (digests unchanged: convert the child manifests separately).
 *
 * @example
 * ```ts
 * const index = toOciIndex(parseDockerManifestList(body))
 * ```
 */
export function toOciIndex(list: DockerManifestList): OciIndex {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: list.manifests.map((d) => {
      const mediaType =
        d.mediaType === MediaType.dockerManifest
          ? MediaType.ociManifest
          : d.mediaType === MediaType.dockerManifestList
            ? MediaType.ociIndex
            : d.mediaType;
      return { ...d, mediaType };
    }),
  };
}

/**
 * Converts an OCI image index to a Docker manifest list. Every entry must be an image manifest
 * with a platform; artifacts, nested indexes, `subject`, `artifactType` and index annotations
 * (unless `dropAnnotations`) fail with `E_MANIFEST_UNSUPPORTED`. Digests are unchanged: convert
 * the child manifests separately and update them.
 *
 * @example
 * ```ts
 * const list = toDockerManifestList(parseOciIndex(body))
 * ```
 * @throws CairnError `E_MANIFEST_UNSUPPORTED`
 */
export function toDockerManifestList(index: OciIndex, options: ToDockerOptions = {}): DockerManifestList {
  if (index.artifactType !== undefined) cannot("an artifact index is not a list of images", "$.artifactType");
  if (index.subject !== undefined) cannot("Docker manifest lists have no subject field", "$.subject");
  if (index.annotations !== undefined && !options.dropAnnotations) {
    cannot(
      "Docker manifest lists have no annotations (pass { dropAnnotations: true } to drop them)",
      "$.annotations",
    );
  }
  const manifests = index.manifests.map((d, i) => {
    const path = `$.manifests[${i}]`;
    if (d.mediaType !== MediaType.ociManifest && d.mediaType !== MediaType.dockerManifest) {
      cannot(
        `a Docker manifest list can only hold image manifests, found ${JSON.stringify(d.mediaType)}`,
        `${path}.mediaType`,
      );
    }
    if (d.artifactType !== undefined) cannot("an artifact manifest is not an image", `${path}.artifactType`);
    if (d.platform === undefined)
      cannot("every Docker manifest list entry needs a platform", `${path}.platform`);
    return { ...withoutOciOnlyFields(d), mediaType: MediaType.dockerManifest };
  });
  return { schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests };
}
