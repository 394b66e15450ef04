/**
 * Media types cairn knows, by their spec names.
 *
 * @example
 * ```ts
 * desc.mediaType === MediaType.ociManifest
 * ```
 */
export const MediaType = {
  ociDescriptor: "application/vnd.oci.descriptor.v1+json",
  ociLayoutHeader: "application/vnd.oci.layout.header.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociEmpty: "application/vnd.oci.empty.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  ociLayerNonDistributable: "application/vnd.oci.image.layer.nondistributable.v1.tar",
  ociLayerNonDistributableGzip: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  ociLayerNonDistributableZstd: "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifestSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerManifestSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  dockerLayerForeignGzip: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar",
  /** Not in Docker's schema 2 spec; containerd and BuildKit write it for zstd layers. */
  dockerLayerZstd: "application/vnd.docker.image.rootfs.diff.tar.zstd",
  dockerPluginConfig: "application/vnd.docker.plugin.v1+json",
} as const;

/** One of the {@link MediaType} values. */
export type KnownMediaType = (typeof MediaType)[keyof typeof MediaType];

/**
 * The `Accept` header value listing every manifest media type cairn can read.
 *
 * @example
 * ```ts
 * headers.accept = MANIFEST_ACCEPT.join(", ")
 * ```
 */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.ociManifest,
  MediaType.ociIndex,
  MediaType.dockerManifest,
  MediaType.dockerManifestList,
];

/**
 * The largest manifest cairn will parse (4 MiB, as the distribution spec recommends).
 *
 * @example
 * ```ts
 * if (size > MAX_MANIFEST_BYTES) throw new CairnError("E_MANIFEST_TOO_LARGE", "…")
 * ```
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * True for media types of image manifests (OCI or Docker schema 2).
 *
 * @example
 * ```ts
 * isImageManifestMediaType("application/vnd.docker.distribution.manifest.v2+json") // true
 * ```
 */
export function isImageManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/**
 * True for media types of indexes (OCI image index or Docker manifest list).
 *
 * @example
 * ```ts
 * isIndexMediaType("application/vnd.oci.image.index.v1+json") // true
 * ```
 */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/**
 * True for media types of image configs (OCI or Docker).
 *
 * @example
 * ```ts
 * isConfigMediaType("application/vnd.oci.image.config.v1+json") // true
 * ```
 */
export function isConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;
}
