import { describe, expect, it } from "vitest";
import { digestBytes } from "../src/digest/index.js";
import { type CairnError, isCairnError } from "../src/errors/index.js";
import {
  type Descriptor,
  decodeBase64Strict,
  detectMediaType,
  EMPTY_CONFIG_BYTES,
  EMPTY_CONFIG_DESCRIPTOR,
  isMediaTypeSyntax,
  isRfc3339DateTime,
  isUriSyntax,
  MAX_MANIFEST_BYTES,
  MediaType,
  manifestKindOf,
  parseDescriptor,
  parseDockerManifest,
  parseDockerManifestList,
  parseImageConfig,
  parseImageLayoutHeader,
  parseManifest,
  parseOciIndex,
  parseOciManifest,
  validateDescriptor,
  validatePlatform,
} from "../src/manifest/index.js";

const enc = new TextEncoder();
const D1 = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270";
const D2 = "sha256:c86f7763873b6c0aae22d963bab59b4f5debbed6685761b5951584f6efb0633b";

function desc(mediaType: string, extra: Partial<Descriptor> = {}): Descriptor {
  return { mediaType, digest: D1, size: 7682, ...extra };
}

function ociManifest(extra: Record<string, unknown> = {}) {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: desc(MediaType.ociConfig, { digest: D2, size: 1470 }),
    layers: [desc(MediaType.ociLayerGzip), desc(MediaType.ociLayerGzip, { digest: D2 })],
    ...extra,
  };
}

function dockerManifest() {
  return {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: desc(MediaType.dockerConfig),
    layers: [desc(MediaType.dockerLayerGzip)],
  };
}

function ociIndex(
  manifests: Descriptor[] = [
    desc(MediaType.ociManifest, { platform: { os: "linux", architecture: "amd64" } }),
  ],
) {
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
}

const config = {
  architecture: "amd64",
  os: "linux",
  config: { Env: ["PATH=/usr/bin"], Cmd: ["sh"] },
  rootfs: { type: "layers", diff_ids: [D1] },
};

function caught(run: () => unknown): CairnError {
  try {
    run();
  } catch (err) {
    if (isCairnError(err)) return err;
    throw err;
  }
  throw new Error("expected a CairnError, nothing was thrown");
}

describe("typed parsers accept bytes, strings and objects", () => {
  it("parses the same manifest from each input form", () => {
    const obj = ociManifest();
    const json = JSON.stringify(obj);
    expect(parseOciManifest(json)).toEqual(obj);
    expect(parseOciManifest(enc.encode(json))).toEqual(obj);
    expect(parseOciManifest(obj)).toBe(obj);
  });

  it("keeps unknown fields (extensions) in the returned value", () => {
    const m = parseOciManifest({ ...ociManifest(), "x-extra": 1 }) as unknown as Record<string, unknown>;
    expect(m["x-extra"]).toBe(1);
  });

  it("parses every kind", () => {
    expect(parseOciIndex(ociIndex()).manifests).toHaveLength(1);
    expect(parseOciIndex({ schemaVersion: 2, manifests: [] }).manifests).toEqual([]);
    expect(parseDockerManifest(dockerManifest()).mediaType).toBe(MediaType.dockerManifest);
    expect(
      parseDockerManifestList({
        schemaVersion: 2,
        mediaType: MediaType.dockerManifestList,
        manifests: [
          desc(MediaType.dockerManifest, { platform: { os: "linux", architecture: "arm", variant: "v7" } }),
        ],
      }).manifests[0]?.platform?.variant,
    ).toBe("v7");
    expect(parseImageConfig(config).rootfs.diff_ids).toEqual([D1]);
    expect(parseImageLayoutHeader('{"imageLayoutVersion":"1.0.0"}').imageLayoutVersion).toBe("1.0.0");
    expect(parseDescriptor(JSON.stringify(desc("text/plain"))).size).toBe(7682);
  });

  it("parses OCI 1.1 artifacts with the empty config and a subject", () => {
    const m = parseOciManifest({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      artifactType: "application/vnd.example.sbom.v1",
      config: EMPTY_CONFIG_DESCRIPTOR,
      layers: [{ ...EMPTY_CONFIG_DESCRIPTOR, data: "e30=" }],
      subject: desc(MediaType.ociManifest),
      annotations: { "org.opencontainers.image.created": "2024-01-01T00:00:00Z" },
    });
    expect(m.artifactType).toBe("application/vnd.example.sbom.v1");
    expect(digestBytes(EMPTY_CONFIG_BYTES)).toBe(EMPTY_CONFIG_DESCRIPTOR.digest);
    expect(EMPTY_CONFIG_BYTES.byteLength).toBe(EMPTY_CONFIG_DESCRIPTOR.size);
  });
});

describe("errors carry a JSON path in `path` and in the message", () => {
  const cases: [string, () => unknown, string][] = [
    [
      "layer digest",
      () =>
        parseOciManifest(
          ociManifest({
            layers: [
              desc(MediaType.ociLayerGzip),
              desc(MediaType.ociLayerGzip, { digest: "sha256:abc" as never }),
            ],
          }),
        ),
      "$.layers[1].digest",
    ],
    [
      "config size",
      () => parseOciManifest(ociManifest({ config: desc(MediaType.ociConfig, { size: 1.5 }) })),
      "$.config.size",
    ],
    ["schemaVersion", () => parseOciManifest(ociManifest({ schemaVersion: 3 })), "$.schemaVersion"],
    [
      "missing layers",
      () => parseOciManifest({ schemaVersion: 2, config: desc(MediaType.ociConfig) }),
      "$.layers",
    ],
    [
      "OCI manifest with a Docker media type",
      () => parseOciManifest({ ...ociManifest(), mediaType: MediaType.dockerManifest }),
      "$.mediaType",
    ],
    [
      "OCI index with a manifest media type",
      () => parseOciIndex({ ...ociIndex(), mediaType: MediaType.ociManifest }),
      "$.mediaType",
    ],
    [
      "Docker manifest without mediaType",
      () => parseDockerManifest({ ...dockerManifest(), mediaType: undefined }),
      "$.mediaType",
    ],
    [
      "Docker list entry",
      () =>
        parseDockerManifestList({
          schemaVersion: 2,
          mediaType: MediaType.dockerManifestList,
          manifests: [{}],
        }),
      "$.manifests[0].mediaType",
    ],
    [
      "platform os.version",
      () =>
        parseOciIndex(
          ociIndex([
            desc(MediaType.ociManifest, {
              platform: { os: "windows", architecture: "amd64", "os.version": 10 as never },
            }),
          ]),
        ),
      '$.manifests[0].platform["os.version"]',
    ],
    [
      "annotation value",
      () => parseOciManifest(ociManifest({ annotations: { "com.example.n": 1 } })),
      '$.annotations["com.example.n"]',
    ],
    ["subject", () => parseOciManifest(ociManifest({ subject: desc("nope") })), "$.subject.mediaType"],
    ["artifactType", () => parseOciManifest(ociManifest({ artifactType: "not a type" })), "$.artifactType"],
    ["urls not an array", () => validateDescriptor(desc("a/b", { urls: "https://x" as never })), "$.urls"],
    ["unsafe size", () => validateDescriptor(desc("a/b", { size: 2 ** 53 })), "$.size"],
    ["platform without os", () => validatePlatform({ architecture: "amd64" }), "$.os"],
    ["root not an object", () => parseOciIndex("[]"), "$"],
    ["layout version", () => parseImageLayoutHeader({ imageLayoutVersion: "1.1.0" }), "$.imageLayoutVersion"],
  ];
  for (const [name, run, path] of cases) {
    it(`${name} -> ${path}`, () => {
      const err = caught(run);
      expect(err.code).toBe("E_MANIFEST_INVALID");
      expect(err.path).toBe(path);
      expect(err.message).toContain(` at ${path}: expected`);
    });
  }

  it("says what was expected and what was found", () => {
    const err = caught(() =>
      parseOciManifest(ociManifest({ config: desc(MediaType.ociConfig, { size: "12" as never }) })),
    );
    expect(err.message).toBe(
      'invalid OCI image manifest at $.config.size: expected a non-negative integer size in bytes, found "12"',
    );
  });

  it("explains malformed registered digests", () => {
    const err = caught(() => validateDescriptor(desc("a/b", { digest: "sha256:abcd" as never })));
    expect(err.message).toMatch(/sha256 needs 64 hex characters, found 4/);
  });
});

describe("malformed input", () => {
  it("reports the line, column and offset of a JSON syntax error", () => {
    const err = caught(() => parseOciManifest('{\n  "schemaVersion": 2,\n  "layers": [1 2]\n}'));
    expect(err.code).toBe("E_MANIFEST_INVALID");
    expect(err.path).toBe("$");
    expect(err.message).toContain("malformed JSON at line 3 column 16 (offset 39)");
    expect(err.details).toMatchObject({ line: 3, column: 16, offset: 39 });
  });

  it.each([
    ["", "line 1 column 1", /end of the input/],
    ["{}x", "line 1 column 3", /unexpected data after the JSON value/],
    ['{"a":"\u0001"}', "line 1 column 7", /control character/],
    ['{"a":01}', "line 1 column 7", /expected ','/],
    ['{"a" 1}', "line 1 column 6", /expected ':'/],
    ["{'a':1}", "line 1 column 2", /expected a string key/],
    ['{"a":"\\x"}', "line 1 column 7", /bad escape/],
    ['{"a":-}', "line 1 column 6", /malformed number/],
    ['{"a":[tru]}', "line 1 column 7", /expected a value/],
    ['{"a":"abc', "line 1 column 10", /unterminated string/],
  ])("locates %j at %s", (text, where, reason) => {
    const err = caught(() => parseImageConfig(text));
    expect(err.message).toContain(where);
    expect(err.message).toMatch(reason);
  });

  it("locates errors in deeply nested input without overflowing the stack", () => {
    const text = `${"[".repeat(200_000)}}`;
    const err = caught(() => parseOciIndex(text));
    expect(err.message).toContain("offset 200000");
  });

  it("rejects bytes that are not UTF-8, and a BOM", () => {
    expect(caught(() => parseOciIndex(new Uint8Array([0x7b, 0xff, 0x7d]))).message).toMatch(
      /not valid UTF-8/,
    );
    expect(
      caught(() => parseOciIndex(enc.encode('\ufeff{"schemaVersion":2,"manifests":[]}'))).message,
    ).toMatch(/line 1 column 1/);
  });

  it("does not let __proto__ keys reach the prototype", () => {
    const m = parseOciManifest(`{"__proto__":{"polluted":true},${JSON.stringify(ociManifest()).slice(1)}`);
    expect(({} as Record<string, unknown>)["polluted"]).toBeUndefined();
    expect(Object.getPrototypeOf(m)).toBe(Object.prototype);
  });
});

describe("size limit", () => {
  const padded = (n: number) => {
    const body = JSON.stringify(ociIndex());
    return body + " ".repeat(n - body.length);
  };

  it("refuses bodies over 4 MiB before parsing, for bytes and strings", () => {
    const big = padded(MAX_MANIFEST_BYTES + 1);
    for (const input of [big, enc.encode(big)]) {
      const err = caught(() => parseOciIndex(input));
      expect(err.code).toBe("E_MANIFEST_TOO_LARGE");
      expect(err.message).toContain(`at most ${MAX_MANIFEST_BYTES} bytes, found ${MAX_MANIFEST_BYTES + 1}`);
    }
    expect(caught(() => parseManifest(enc.encode(big))).code).toBe("E_MANIFEST_TOO_LARGE");
  });

  it("counts UTF-8 bytes, not UTF-16 units, for strings", () => {
    const body = JSON.stringify({ ...ociIndex(), annotations: { a: "é".repeat(MAX_MANIFEST_BYTES / 2) } });
    expect(body.length).toBeLessThan(MAX_MANIFEST_BYTES);
    expect(caught(() => parseOciIndex(body)).code).toBe("E_MANIFEST_TOO_LARGE");
  });

  it("accepts exactly the limit and honours a custom maxBytes", () => {
    expect(parseOciIndex(padded(MAX_MANIFEST_BYTES)).manifests).toHaveLength(1);
    expect(caught(() => parseOciIndex(padded(1000), { maxBytes: 999 })).code).toBe("E_MANIFEST_TOO_LARGE");
  });
});

describe("schema 1", () => {
  const schema1 = { schemaVersion: 1, name: "library/busybox", tag: "latest", fsLayers: [], history: [] };

  it("is recognised and refused by every manifest parser", () => {
    for (const run of [
      () => parseManifest(JSON.stringify(schema1)),
      () => parseOciManifest(schema1),
      () => parseOciIndex(schema1),
      () => parseDockerManifest(schema1),
      () => parseDockerManifestList(schema1),
    ]) {
      const err = caught(run);
      expect(err.code).toBe("E_MANIFEST_UNSUPPORTED");
      expect(err.message).toMatch(/schema 1 is not supported/);
      expect(err.path).toBe("$.schemaVersion");
    }
  });

  it("is refused by its media types, declared or in the body", () => {
    const signed = { ...schema1, signatures: [{}] };
    for (const mt of [MediaType.dockerManifestSchema1, MediaType.dockerManifestSchema1Signed]) {
      expect(caught(() => parseManifest("{}", mt)).code).toBe("E_MANIFEST_UNSUPPORTED");
      expect(caught(() => parseManifest(JSON.stringify({ schemaVersion: 2, mediaType: mt }))).code).toBe(
        "E_MANIFEST_UNSUPPORTED",
      );
    }
    expect(detectMediaType(schema1)).toBe(MediaType.dockerManifestSchema1);
    expect(detectMediaType(signed)).toBe(MediaType.dockerManifestSchema1Signed);
  });
});

describe("detectMediaType", () => {
  it.each([
    [{ mediaType: "application/x+json", manifests: [] }, "application/x+json"],
    [{ schemaVersion: 2, manifests: [] }, MediaType.ociIndex],
    [{ schemaVersion: 2, config: {}, layers: [] }, MediaType.ociManifest],
    [{ architecture: "amd64", rootfs: {} }, MediaType.ociConfig],
    [{ imageLayoutVersion: "1.0.0" }, MediaType.ociLayoutHeader],
    [{ mediaType: 5, manifests: [] }, MediaType.ociIndex],
    [{ config: {} }, undefined],
    [[], undefined],
    ["x", undefined],
    [null, undefined],
  ])("%j -> %s", (obj, want) => {
    expect(detectMediaType(obj)).toBe(want);
  });

  it("maps media types to kinds", () => {
    expect(manifestKindOf(MediaType.dockerConfig)).toBe("image-config");
    expect(manifestKindOf("toString")).toBeUndefined();
  });
});

describe("parseManifest", () => {
  it("detects each kind from the body and keeps exact bytes, digest and size", () => {
    const bodies: [unknown, string, string][] = [
      [ociManifest({ mediaType: undefined }), "oci-manifest", MediaType.ociManifest],
      [ociIndex(), "oci-index", MediaType.ociIndex],
      [dockerManifest(), "docker-manifest", MediaType.dockerManifest],
      [
        { schemaVersion: 2, mediaType: MediaType.dockerManifestList, manifests: [] },
        "docker-manifest-list",
        MediaType.dockerManifestList,
      ],
      [config, "image-config", MediaType.ociConfig],
    ];
    for (const [obj, kind, mediaType] of bodies) {
      const bytes = enc.encode(`${JSON.stringify(obj, null, 3)}\n`);
      const p = parseManifest(bytes);
      expect(p.kind).toBe(kind);
      expect(p.mediaType).toBe(mediaType);
      expect(p.bytes).toBe(bytes);
      expect(p.size).toBe(bytes.byteLength);
      expect(p.digest).toBe(digestBytes(bytes));
    }
  });

  it("narrows value by kind", () => {
    const p = parseManifest(JSON.stringify(ociIndex()));
    if (p.kind !== "oci-index") throw new Error(`expected an index, got ${p.kind}`);
    expect(p.value.manifests[0]?.platform?.architecture).toBe("amd64");
  });

  it("uses a declared media type (ignoring parameters) and refuses a body that contradicts it", () => {
    const noType = JSON.stringify(ociManifest({ mediaType: undefined }));
    expect(parseManifest(noType, `${MediaType.ociManifest}; charset=utf-8`).kind).toBe("oci-manifest");
    const err = caught(() => parseManifest(JSON.stringify(dockerManifest()), MediaType.ociManifest));
    expect(err.code).toBe("E_MANIFEST_INVALID");
    expect(err.path).toBe("$.mediaType");
    expect(err.message).toContain("the declared media type");
  });

  it("falls back to the body for generic or unknown declared types", () => {
    expect(parseManifest(JSON.stringify(ociIndex()), "application/json").kind).toBe("oci-index");
    expect(parseManifest(JSON.stringify(dockerManifest()), "application/octet-stream").kind).toBe(
      "docker-manifest",
    );
  });

  it("validates as the declared kind", () => {
    const err = caught(() =>
      parseManifest(JSON.stringify({ schemaVersion: 2, manifests: [] }), MediaType.ociManifest),
    );
    expect(err.message).toMatch(/^invalid OCI image manifest at \$\.config/);
  });

  it("refuses bodies it cannot place and media types it does not parse", () => {
    expect(caught(() => parseManifest('{"hello":"world"}')).code).toBe("E_MANIFEST_UNSUPPORTED");
    const layer = caught(() => parseManifest(JSON.stringify({ mediaType: MediaType.ociLayerGzip })));
    expect(layer.code).toBe("E_MANIFEST_UNSUPPORTED");
    expect(layer.message).toContain(MediaType.ociLayerGzip);
    expect(caught(() => parseManifest("nope")).code).toBe("E_MANIFEST_INVALID");
  });

  it("honours allowEmptyLayers", () => {
    const body = JSON.stringify(ociManifest({ layers: [] }));
    expect(caught(() => parseManifest(body)).path).toBe("$.layers");
    expect(parseManifest(body, undefined, { allowEmptyLayers: true }).kind).toBe("oci-manifest");
    expect(parseOciManifest(body, { allowEmptyLayers: true }).layers).toEqual([]);
  });
});

describe("descriptors", () => {
  const text = "hello\n";
  const data = Buffer.from(text).toString("base64");
  const digest256 = digestBytes(text);
  const digest512 = digestBytes(text, "sha512");

  it("checks embedded data against sha256 and sha512 digests and the size", () => {
    expect(validateDescriptor({ mediaType: "text/plain", digest: digest256, size: 6, data }).data).toBe(data);
    expect(validateDescriptor({ mediaType: "text/plain", digest: digest512, size: 6, data }).size).toBe(6);
    const wrongSize = caught(() =>
      validateDescriptor({ mediaType: "text/plain", digest: digest256, size: 7, data }),
    );
    expect(wrongSize.path).toBe("$.data");
    expect(wrongSize.message).toMatch(/6 bytes but the descriptor size is 7/);
    const wrongDigest = caught(() =>
      validateDescriptor({ mediaType: "text/plain", digest: D1, size: 6, data }),
    );
    expect(wrongDigest.message).toMatch(/hashes to sha256:/);
  });

  it("does not verify data for algorithms it cannot compute", () => {
    expect(validateDescriptor({ mediaType: "text/plain", digest: "blake3:abcd", size: 99, data }).size).toBe(
      99,
    );
  });

  it("decodes strict base64 only", () => {
    expect(decodeBase64Strict("e30=")).toEqual(new Uint8Array([123, 125]));
    expect(decodeBase64Strict("")).toEqual(new Uint8Array());
    for (const bad of ["e30", "e31=", "e3 0=", "e30=\n", "e30==", "=e30", "e-0="]) {
      expect(decodeBase64Strict(bad), bad).toBeUndefined();
    }
  });

  it("checks media type, URI and date-time syntax", () => {
    expect(isMediaTypeSyntax(`${"a".repeat(127)}/${"b".repeat(127)}`)).toBe(true);
    expect(isMediaTypeSyntax(`${"a".repeat(128)}/b`)).toBe(false);
    expect(isMediaTypeSyntax("a/b c")).toBe(false);
    expect(isUriSyntax("https://example.com/a%20b?x=1#f")).toBe(true);
    expect(isUriSyntax("https://example.com/a b")).toBe(false);
    expect(isUriSyntax("https://example.com/%zz")).toBe(false);
    expect(isRfc3339DateTime("2015-10-31T22:22:56.015925234Z")).toBe(true);
    expect(isRfc3339DateTime("2015-10-31T22:22:56+02:00")).toBe(true);
    expect(isRfc3339DateTime("2015-13-31T22:22:56Z")).toBe(false);
    expect(isRfc3339DateTime("2015-10-31 22:22:56")).toBe(false);
  });
});

describe("image config", () => {
  it("accepts the nulls Docker writes", () => {
    const c = parseImageConfig({
      ...config,
      config: {
        Env: null,
        Cmd: null,
        Entrypoint: null,
        Volumes: null,
        Labels: null,
        OnBuild: null,
        Healthcheck: null,
      },
    });
    expect(c.config?.Env).toBeNull();
  });

  it.each([
    [{ created: "yesterday" }, "$.created"],
    [{ rootfs: { type: "tar", diff_ids: [] } }, "$.rootfs.type"],
    [{ rootfs: { type: "layers" } }, "$.rootfs.diff_ids"],
    [{ rootfs: { type: "layers", diff_ids: [D1, "sha256:nope"] } }, "$.rootfs.diff_ids[1]"],
    [{ "os.features": "x" }, '$["os.features"]'],
    [{ config: { Env: ["=x"] } }, "$.config.Env[0]"],
    [{ config: { ExposedPorts: { "80/tcp": true } } }, '$.config.ExposedPorts["80/tcp"]'],
    [{ config: { Labels: { a: 1 } } }, "$.config.Labels.a"],
    [{ config: { ArgsEscaped: "yes" } }, "$.config.ArgsEscaped"],
    [{ config: { Healthcheck: { Interval: "30s" } } }, "$.config.Healthcheck.Interval"],
    [{ config: { Shell: "sh" } }, "$.config.Shell"],
    [{ config: null }, "$.config"],
    [{ history: [{ empty_layer: "true" }] }, "$.history[0].empty_layer"],
    [{ history: [{ created: "never" }] }, "$.history[0].created"],
  ])("rejects %j at %s", (patch, path) => {
    const err = caught(() => parseImageConfig({ ...config, ...patch }));
    expect(err.path).toBe(path);
  });

  it("allows newlines in Env values", () => {
    expect(parseImageConfig({ ...config, config: { Env: ["A=line1\nline2"] } }).config?.Env).toHaveLength(1);
  });
});
