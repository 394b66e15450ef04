import { describe, expect, it } from "vitest";
import { digestBytes } from "../src/digest/index.js";
import { type CairnError, isCairnError } from "../src/errors/index.js";
import {
  canonicalManifestBytes,
  type Descriptor,
  type DockerManifest,
  type DockerManifestList,
  dockerConfigMediaType,
  dockerLayerMediaType,
  EMPTY_CONFIG_DESCRIPTOR,
  isConfigMediaType,
  isImageManifestMediaType,
  isIndexMediaType,
  isLayerMediaType,
  layerCompression,
  MediaType,
  type OciIndex,
  type OciManifest,
  ociConfigMediaType,
  ociLayerMediaType,
  parseDockerManifest,
  parseDockerManifestList,
  parseManifest,
  parseOciIndex,
  parseOciManifest,
  toDockerManifest,
  toDockerManifestList,
  toOciIndex,
  toOciManifest,
} from "../src/manifest/index.js";

const D1 = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
const D2 = "sha256:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b";

function desc(mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: D1, size: 10, ...extra };
}

const docker: DockerManifest = {
  schemaVersion: 2,
  mediaType: MediaType.dockerManifest,
  config: desc(MediaType.dockerConfig, { digest: D2 }),
  layers: [
    desc(MediaType.dockerLayerGzip),
    desc(MediaType.dockerLayerForeignGzip, { urls: ["https://example.com/layer"] }),
    desc(MediaType.dockerLayer),
  ],
};

const oci: OciManifest = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: desc(MediaType.ociConfig, { digest: D2 }),
  layers: [
    desc(MediaType.ociLayerGzip),
    desc(MediaType.ociLayerNonDistributableGzip, { urls: ["https://example.com/layer"] }),
    desc(MediaType.ociLayer),
  ],
};

function caught(run: () => unknown): CairnError {
  try {
    run();
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error("expected a CairnError");
}

describe("layer and config media types", () => {
  it.each([
    [MediaType.dockerLayerGzip, MediaType.ociLayerGzip, "gzip"],
    [MediaType.dockerLayer, MediaType.ociLayer, "none"],
    [MediaType.dockerLayerForeignGzip, MediaType.ociLayerNonDistributableGzip, "gzip"],
  ] as const)("%s <-> %s", (dockerType, ociType, compression) => {
    expect(ociLayerMediaType(dockerType)).toBe(ociType);
    expect(dockerLayerMediaType(ociType)).toBe(dockerType);
    expect(ociLayerMediaType(ociType)).toBe(ociType);
    expect(dockerLayerMediaType(dockerType)).toBe(dockerType);
    expect(layerCompression(dockerType)).toBe(compression);
    expect(layerCompression(ociType)).toBe(compression);
    expect(isLayerMediaType(dockerType) && isLayerMediaType(ociType)).toBe(true);
  });

  it("has no Docker type for zstd and uncompressed non-distributable layers", () => {
    for (const t of [
      MediaType.ociLayerZstd,
      MediaType.ociLayerNonDistributableZstd,
      MediaType.ociLayerNonDistributable,
      MediaType.dockerLayerZstd,
    ]) {
      expect(dockerLayerMediaType(t), t).toBeUndefined();
    }
    expect(ociLayerMediaType(MediaType.dockerLayerZstd)).toBe(MediaType.ociLayerZstd);
    expect(layerCompression(MediaType.ociLayerZstd)).toBe("zstd");
    expect(layerCompression(MediaType.ociLayerNonDistributableZstd)).toBe("zstd");
  });

  it("knows what is not a layer", () => {
    for (const t of [
      MediaType.ociConfig,
      MediaType.ociManifest,
      "application/vnd.example+type",
      "constructor",
    ]) {
      expect(isLayerMediaType(t), t).toBe(false);
      expect(ociLayerMediaType(t), t).toBeUndefined();
      expect(dockerLayerMediaType(t), t).toBeUndefined();
    }
  });

  it("infers compression of unknown types from the suffix", () => {
    expect(layerCompression("application/vnd.example.data.v1.tar+gzip")).toBe("gzip");
    expect(layerCompression("application/x-foo.tar.zstd")).toBe("zstd");
    expect(layerCompression("application/vnd.example+type")).toBe("none");
  });

  it("converts config media types", () => {
    expect(ociConfigMediaType(MediaType.dockerConfig)).toBe(MediaType.ociConfig);
    expect(ociConfigMediaType(MediaType.ociConfig)).toBe(MediaType.ociConfig);
    expect(dockerConfigMediaType(MediaType.ociConfig)).toBe(MediaType.dockerConfig);
    expect(dockerConfigMediaType(MediaType.ociEmpty)).toBeUndefined();
    expect(ociConfigMediaType("application/vnd.example.config+json")).toBeUndefined();
  });

  it("classifies manifest, index and config types", () => {
    expect(isImageManifestMediaType(MediaType.dockerManifest)).toBe(true);
    expect(isImageManifestMediaType(MediaType.ociIndex)).toBe(false);
    expect(isIndexMediaType(MediaType.dockerManifestList)).toBe(true);
    expect(isConfigMediaType(MediaType.dockerConfig)).toBe(true);
  });
});

describe("manifest conversion", () => {
  it("Docker -> OCI -> Docker round-trips and validates at each step", () => {
    const o = parseOciManifest(toOciManifest(parseDockerManifest(docker)));
    expect(o).toEqual(oci);
    expect(parseDockerManifest(toDockerManifest(o))).toEqual(docker);
  });

  it("maps the legacy octet-stream config and keeps unknown types", () => {
    const legacy = {
      ...docker,
      config: desc("application/octet-stream"),
      layers: [desc("application/vnd.example+type")],
    };
    const o = toOciManifest(legacy);
    expect(o.config.mediaType).toBe(MediaType.ociConfig);
    expect(o.layers[0]?.mediaType).toBe("application/vnd.example+type");
  });

  it("does not alter its input", () => {
    const before = structuredClone(docker);
    toOciManifest(docker);
    expect(docker).toEqual(before);
  });

  it("drops embedded data and keeps urls and descriptor annotations when going to Docker", () => {
    const withData: OciManifest = {
      ...oci,
      layers: [desc(MediaType.ociLayerGzip, { data: "AAAA", annotations: { a: "b" } })],
    };
    const layer = toDockerManifest(withData).layers[0];
    expect(layer).toEqual({
      mediaType: MediaType.dockerLayerGzip,
      digest: D1,
      size: 10,
      annotations: { a: "b" },
    });
  });

  it.each([
    [
      "a zstd layer",
      { layers: [desc(MediaType.ociLayerZstd)] },
      "$.layers[0].mediaType",
      /no layer media type/,
    ],
    [
      "a non-layer blob",
      { layers: [desc("application/vnd.example+type")] },
      "$.layers[0].mediaType",
      /not an image layer/,
    ],
    [
      "an artifact (empty config)",
      { config: EMPTY_CONFIG_DESCRIPTOR },
      "$.config.mediaType",
      /not an image config/,
    ],
    ["an artifactType", { artifactType: "application/vnd.example+type" }, "$.artifactType", /artifact/],
    ["a subject", { subject: desc(MediaType.ociManifest) }, "$.subject", /subject/],
    ["annotations", { annotations: { a: "b" } }, "$.annotations", /dropAnnotations/],
  ])("refuses %s when going to Docker", (_name, patch, path, message) => {
    const err = caught(() => toDockerManifest({ ...oci, ...patch } as OciManifest));
    expect(err.code).toBe("E_MANIFEST_UNSUPPORTED");
    expect(err.path).toBe(path);
    expect(err.message).toMatch(message);
    expect(err.message).toContain(path);
  });

  it("drops manifest annotations on request", () => {
    const d = toDockerManifest({ ...oci, annotations: { a: "b" } }, { dropAnnotations: true });
    expect("annotations" in d).toBe(false);
  });
});

describe("index conversion", () => {
  const amd64 = { os: "linux", architecture: "amd64" };
  const list: DockerManifestList = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifestList,
    manifests: [
      desc(MediaType.dockerManifest, { platform: amd64 }),
      desc(MediaType.dockerManifest, {
        digest: D2,
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      }),
    ],
  };

  it("Docker list -> OCI index -> Docker list round-trips", () => {
    const index = parseOciIndex(toOciIndex(parseDockerManifestList(list)));
    expect(index.mediaType).toBe(MediaType.ociIndex);
    expect(index.manifests.map((m) => m.mediaType)).toEqual([MediaType.ociManifest, MediaType.ociManifest]);
    expect(index.manifests.map((m) => m.digest)).toEqual([D1, D2]);
    expect(parseDockerManifestList(toDockerManifestList(index))).toEqual(list);
  });

  const base: OciIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [desc(MediaType.ociManifest, { platform: amd64 })],
  };
  it.each([
    [
      "a nested index",
      { manifests: [desc(MediaType.ociIndex, { platform: amd64 })] },
      "$.manifests[0].mediaType",
    ],
    [
      "an artifact entry",
      { manifests: [desc(MediaType.ociManifest, { platform: amd64, artifactType: "a/b" })] },
      "$.manifests[0].artifactType",
    ],
    ["an entry without platform", { manifests: [desc(MediaType.ociManifest)] }, "$.manifests[0].platform"],
    ["index annotations", { annotations: { a: "b" } }, "$.annotations"],
    ["a subject", { subject: desc(MediaType.ociManifest) }, "$.subject"],
    ["an artifactType", { artifactType: "a/b" }, "$.artifactType"],
  ])("refuses %s when going to Docker", (_name, patch, path) => {
    const err = caught(() => toDockerManifestList({ ...base, ...patch } as OciIndex));
    expect(err.code).toBe("E_MANIFEST_UNSUPPORTED");
    expect(err.path).toBe(path);
  });
});

describe("canonicalManifestBytes", () => {
  it("writes compact JSON in the given field order, so digests are reproducible", () => {
    const bytes = canonicalManifestBytes(oci);
    const text = new TextDecoder().decode(bytes);
    expect(text).toBe(JSON.stringify(oci));
    expect(
      text.startsWith(
        '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{',
      ),
    ).toBe(true);
    expect(text).not.toMatch(/\n| {2}/);
    const parsed = parseManifest(bytes);
    expect(parsed.digest).toBe(digestBytes(bytes));
    expect(canonicalManifestBytes(parsed.value)).toEqual(bytes);
  });

  it("fails clearly for values that are not JSON", () => {
    expect(caught(() => canonicalManifestBytes({ n: 1n })).code).toBe("E_MANIFEST_INVALID");
    expect(caught(() => canonicalManifestBytes(undefined)).code).toBe("E_MANIFEST_INVALID");
  });
});
