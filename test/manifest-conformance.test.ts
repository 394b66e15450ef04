import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { digestBytes } from "../src/digest/index.js";
import { isCairnError } from "../src/errors/index.js";
import {
  MediaType,
  parseDescriptor,
  parseImageConfig,
  parseImageLayoutHeader,
  parseManifest,
  parseOciIndex,
  parseOciManifest,
  toOciIndex,
  toOciManifest,
} from "../src/manifest/index.js";
import { conformanceDir } from "./helpers/conformance.js";

const root = conformanceDir("image-spec");
const notes = readFileSync(path.join(root, "NOTES.md"), "utf8");

/** `file -> media type` from the NOTES.md tables (cases: 2nd column; spec-examples: 4th column). */
function mediaTypesFromNotes(section: string, column: number): Map<string, string> {
  const start = notes.indexOf(section);
  const end = notes.indexOf("\n## ", start + section.length);
  const out = new Map<string, string>();
  for (const line of notes.slice(start, end < 0 ? undefined : end).split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const file = cells[1];
    const mediaType = cells[column];
    if (file?.endsWith(".json") && mediaType) out.set(file, mediaType);
  }
  return out;
}

const parsers: Record<string, (body: Uint8Array) => unknown> = {
  [MediaType.ociDescriptor]: (b) => parseDescriptor(b),
  [MediaType.ociManifest]: (b) => parseOciManifest(b),
  [MediaType.ociIndex]: (b) => parseOciIndex(b),
  [MediaType.ociConfig]: (b) => parseImageConfig(b),
  [MediaType.ociLayoutHeader]: (b) => parseImageLayoutHeader(b),
};

// NOTES.md: compat bodies are Docker documents validated after plain string replacement.
const COMPAT_REPLACEMENTS: [string, string][] = [
  [MediaType.dockerManifestList, MediaType.ociIndex],
  [MediaType.dockerManifest, MediaType.ociManifest],
  [MediaType.dockerLayerGzip, MediaType.ociLayerGzip],
  [MediaType.dockerConfig, MediaType.ociConfig],
];

const COMPAT_DIGESTS: Record<string, string> = {
  "valid-compat-index-01.json": "sha256:4ffd0883f25635999f04ea543240a27c9a4341979ff7d46a9774f71512eebb1f",
  "valid-compat-manifest-02.json": "sha256:888206c77cd2811ec47e752ba291e5b7734e3ef137dfd222daadaca39a9f17bc",
  "valid-compat-config-03.json": "sha256:a059ea7356d5b5a9e0f6352bfa463e7bd4721c2ade3ef168603826e0de6fe54b",
  "valid-compat-config-04.json": "sha256:a20665eb1fe2912accb3d5dadaed360430df0d1aa46874875886947d61d3d4ee",
};

// The JSON path each invalid case is rejected at: proves it fails for the reason the case is about
// (configs 04-06 also carry `"os": 123`, which fails first, as it does upstream).
const INVALID_PATHS: Record<string, string> = {
  "invalid-config-01.json": "$.os",
  "invalid-config-02.json": "$.variant",
  "invalid-config-03.json": "$.config.User",
  "invalid-config-04.json": "$.os",
  "invalid-config-05.json": "$.os",
  "invalid-config-06.json": "$.os",
  "invalid-config-07.json": "$",
  "invalid-config-10.json": "$.config.Env[0]",
  "invalid-descriptor-03.json": "$.mediaType",
  "invalid-descriptor-04.json": "$.mediaType",
  "invalid-descriptor-05.json": "$.mediaType",
  "invalid-descriptor-06.json": "$.mediaType",
  "invalid-descriptor-08.json": "$.mediaType",
  "invalid-descriptor-09.json": "$.mediaType",
  "invalid-descriptor-10.json": "$.size",
  "invalid-descriptor-11.json": "$.size",
  "invalid-descriptor-12.json": "$.digest",
  "invalid-descriptor-13.json": "$.digest",
  "invalid-descriptor-14.json": "$.digest",
  "invalid-descriptor-15.json": "$.digest",
  "invalid-descriptor-16.json": "$.digest",
  "invalid-descriptor-18.json": "$.urls[0]",
  "invalid-descriptor-20.json": "$.artifactType",
  "invalid-descriptor-27.json": "$.digest",
  "invalid-descriptor-30.json": "$.data",
  "invalid-descriptor-31.json": "$.size",
  "invalid-index-01.json": "$.manifests[0].mediaType",
  "invalid-index-02.json": "$.manifests[0].size",
  "invalid-index-03.json": "$.manifests[0].digest",
  "invalid-index-04.json": "$.manifests[0].platform.architecture",
  "invalid-index-05.json": "$.manifests[0].mediaType",
  "invalid-index-06.json": "$.manifests[0].mediaType",
  "invalid-index-12.json": "$.subject",
  "invalid-layout-01.json": "$",
  "invalid-manifest-01.json": "$.config.mediaType",
  "invalid-manifest-02.json": "$",
  "invalid-manifest-03.json": "$.layers[0].size",
  "invalid-manifest-06.json": "$.layers",
  "invalid-manifest-09.json": "$.subject",
  "invalid-manifest-10.json": "$.layers[0].digest",
};

function rejection(
  run: () => unknown,
): { code: string; path: string | undefined; message: string } | undefined {
  try {
    run();
    return undefined;
  } catch (err) {
    if (!isCairnError(err)) throw err;
    return { code: err.code, path: err.path, message: err.message };
  }
}

describe("image-spec conformance: cases/", () => {
  const dir = path.join(root, "cases");
  const table = mediaTypesFromNotes("## cases/", 2);
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

  it("NOTES.md lists every case file and every listed file exists", () => {
    expect(files.length).toBeGreaterThan(60);
    expect([...table.keys()].sort()).toEqual([...files].sort());
  });

  for (const file of files.sort()) {
    const mediaType = table.get(file) ?? "";
    const valid = file.startsWith("valid-");
    it(`${file} is ${valid ? "valid" : "rejected"} as ${mediaType}`, () => {
      const raw = readFileSync(path.join(dir, file));
      const parse = parsers[mediaType];
      expect(parse, `no parser for ${mediaType}`).toBeDefined();
      let body = new Uint8Array(raw);
      if (file.startsWith("valid-compat-")) {
        expect(digestBytes(body)).toBe(COMPAT_DIGESTS[file]);
        let text = raw.toString("utf8");
        for (const [from, to] of COMPAT_REPLACEMENTS) text = text.replaceAll(from, to);
        body = new TextEncoder().encode(text);
      }
      const result = rejection(() => parse?.(body));
      if (valid) {
        expect(result).toBeUndefined();
      } else {
        expect(result?.code).toBe("E_MANIFEST_INVALID");
        expect(result?.path).toBe(INVALID_PATHS[file]);
        expect(result?.message).toContain(`at ${INVALID_PATHS[file]}:`);
      }
    });
  }

  it("invalid-config-04/05/06 also fail at their own field once `os` is fixed", () => {
    const fixed = (file: string) =>
      readFileSync(path.join(dir, file), "utf8").replace('"os": 123', '"os": "linux"');
    expect(rejection(() => parseImageConfig(fixed("invalid-config-04.json")))?.path).toBe("$.history");
    expect(rejection(() => parseImageConfig(fixed("invalid-config-05.json")))?.path).toBe("$.config.Env[0]");
    expect(rejection(() => parseImageConfig(fixed("invalid-config-06.json")))?.path).toBe("$.config.Volumes");
  });

  it("compat Docker documents parse as Docker, keep their exact digests, and convert like the replacement", () => {
    const read = (f: string) => new Uint8Array(readFileSync(path.join(dir, f)));
    const list = parseManifest(read("valid-compat-index-01.json"));
    expect(list.kind).toBe("docker-manifest-list");
    expect(list.digest).toBe(COMPAT_DIGESTS["valid-compat-index-01.json"]);
    if (list.kind !== "docker-manifest-list") return;
    const index = toOciIndex(list.value);
    expect(parseOciIndex(index)).toBe(index);
    expect(index.manifests.every((m) => m.mediaType === MediaType.ociManifest)).toBe(true);

    const manifest = parseManifest(read("valid-compat-manifest-02.json"));
    expect(manifest.kind).toBe("docker-manifest");
    expect(manifest.digest).toBe(COMPAT_DIGESTS["valid-compat-manifest-02.json"]);
    expect(manifest.size).toBe(readFileSync(path.join(dir, "valid-compat-manifest-02.json")).length);
    if (manifest.kind !== "docker-manifest") return;
    const oci = toOciManifest(manifest.value);
    expect(parseOciManifest(oci).layers.map((l) => l.mediaType)).toEqual(
      manifest.value.layers.map(() => MediaType.ociLayerGzip),
    );
    // The legacy octet-stream config type becomes the OCI config type.
    expect(oci.config.mediaType).toBe(MediaType.ociConfig);

    for (const f of ["valid-compat-config-03.json", "valid-compat-config-04.json"]) {
      const config = parseManifest(read(f), MediaType.dockerConfig);
      expect(config.kind).toBe("image-config");
      expect(config.digest).toBe(COMPAT_DIGESTS[f]);
    }
  });
});

describe("image-spec conformance: spec-examples/", () => {
  const dir = path.join(root, "spec-examples");
  const table = mediaTypesFromNotes("## spec-examples/", 4);
  const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

  it("NOTES.md lists every example file", () => {
    expect(files.length).toBeGreaterThan(10);
    expect([...table.keys()].sort()).toEqual([...files].sort());
  });

  for (const file of files.sort()) {
    const mediaType = table.get(file) ?? "";
    it(`${file} is valid as ${mediaType}`, () => {
      const parse = parsers[mediaType];
      expect(parse, `no parser for ${mediaType}`).toBeDefined();
      expect(rejection(() => parse?.(new Uint8Array(readFileSync(path.join(dir, file)))))).toBeUndefined();
    });
  }
});
