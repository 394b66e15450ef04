/**
 * Typed parsers for OCI manifests and indexes, Docker schema 2 manifests and manifest lists,
 * and the image-layout header. Each accepts bytes, a JSON string or a decoded object.
 */
import { CairnError } from "../errors/index.js";
import { arrayAt, child, expected, field, type JsonObject, objectAt, Problem, validating } from "./check.js";
import { checkAnnotations, checkDescriptor, checkMediaType } from "./descriptor.js";
import { type JsonInput, type ParseOptions, readJson } from "./json.js";
import { MediaType } from "./media-types.js";
import type {
  DockerManifest,
  DockerManifestList,
  ImageLayoutHeader,
  OciIndex,
  OciManifest,
} from "./types.js";

/**
 * Throws `E_MANIFEST_UNSUPPORTED` when `obj` is a Docker schema 1 manifest.
 *
 * @example
 * ```ts
 * rejectSchema1({ schemaVersion: 1 }) // throws E_MANIFEST_UNSUPPORTED
 * ```
 */
export function rejectSchema1(obj: unknown): void {
  if (typeof obj !== "object" || obj === null) return;
  const o = obj as JsonObject;
  const mediaType = field(o, "mediaType");
  const isSchema1Type =
    mediaType === MediaType.dockerManifestSchema1 || mediaType === MediaType.dockerManifestSchema1Signed;
  if (field(o, "schemaVersion") === 1 || isSchema1Type) {
    const path = isSchema1Type ? "$.mediaType" : "$.schemaVersion";
    throw new CairnError(
      "E_MANIFEST_UNSUPPORTED",
      `Docker image manifest schema 1 is not supported (found ${
        isSchema1Type ? `mediaType ${JSON.stringify(mediaType)}` : "schemaVersion 1"
      } at ${path}); it is deprecated and unsafe: push the image again as Docker schema 2 or OCI`,
      { path, details: { schemaVersion: field(o, "schemaVersion"), mediaType } },
    );
  }
}

/** The top-level object of a schema-2 document: not schema 1, schemaVersion 2, mediaType `want`. */
function documentObject(value: unknown, want: string, mediaTypeRequired: boolean): JsonObject {
  rejectSchema1(value);
  const o = objectAt(value, "$");
  const version = field(o, "schemaVersion");
  if (version !== 2) expected("$.schemaVersion", "schemaVersion 2", version);
  const mediaType = field(o, "mediaType");
  if ((mediaType !== undefined || mediaTypeRequired) && mediaType !== want) {
    expected("$.mediaType", JSON.stringify(want), mediaType);
  }
  return o;
}

function checkOptional(o: JsonObject, key: string, check: (v: unknown, path: string) => unknown): void {
  const v = field(o, key);
  if (v !== undefined) check(v, child("$", key));
}

function checkDescriptorList(o: JsonObject, key: string, minItems: number): void {
  const path = child("$", key);
  const list = arrayAt(field(o, key), path, checkDescriptor);
  if (list.length < minItems) {
    throw new Problem(path, `expected at least ${minItems} entry, found an empty array`);
  }
}

/**
 * Checks an OCI manifest object; exported for {@link parseManifest}.
 *
 * @example
 * ```ts
 * validating("OCI image manifest", () => checkOciManifest(value, {}))
 * ```
 */
export function checkOciManifest(value: unknown, options: ParseOptions): OciManifest {
  const o = documentObject(value, MediaType.ociManifest, false);
  checkOptional(o, "artifactType", checkMediaType);
  checkDescriptor(field(o, "config"), "$.config");
  checkDescriptorList(o, "layers", options.allowEmptyLayers ? 0 : 1);
  checkOptional(o, "subject", checkDescriptor);
  checkOptional(o, "annotations", checkAnnotations);
  return o as unknown as OciManifest;
}

/**
 * Checks an OCI index object; exported for {@link parseManifest}.
 *
 * @example
 * ```ts
 * validating("OCI image index", () => checkOciIndex(value))
 * ```
 */
export function checkOciIndex(value: unknown): OciIndex {
  const o = documentObject(value, MediaType.ociIndex, false);
  checkOptional(o, "artifactType", checkMediaType);
  checkDescriptorList(o, "manifests", 0);
  checkOptional(o, "subject", checkDescriptor);
  checkOptional(o, "annotations", checkAnnotations);
  return o as unknown as OciIndex;
}

/**
 * Checks a Docker schema 2 manifest object; exported for {@link parseManifest}.
 *
 * @example
 * ```ts
 * validating("Docker image manifest", () => checkDockerManifest(value))
 * ```
 */
export function checkDockerManifest(value: unknown): DockerManifest {
  const o = documentObject(value, MediaType.dockerManifest, true);
  checkDescriptor(field(o, "config"), "$.config");
  checkDescriptorList(o, "layers", 0);
  return o as unknown as DockerManifest;
}

/**
 * Checks a Docker manifest list object; exported for {@link parseManifest}.
 *
 * @example
 * ```ts
 * validating("Docker manifest list", () => checkDockerManifestList(value))
 * ```
 */
export function checkDockerManifestList(value: unknown): DockerManifestList {
  const o = documentObject(value, MediaType.dockerManifestList, true);
  checkDescriptorList(o, "manifests", 0);
  return o as unknown as DockerManifestList;
}

/**
 * Parses and validates an OCI image manifest (also OCI 1.1 artifact manifests). `mediaType`, if
 * present, must be the OCI manifest type; `layers` must not be empty unless `allowEmptyLayers`.
 *
 * @example
 * ```ts
 * const m = parseOciManifest(await fs.readFile("manifest.json"))
 * m.layers.map((l) => l.digest)
 * ```
 * @throws CairnError `E_MANIFEST_INVALID` (with `path`), `E_MANIFEST_UNSUPPORTED` (schema 1),
 *   `E_MANIFEST_TOO_LARGE`
 */
export function parseOciManifest(input: JsonInput, options: ParseOptions = {}): OciManifest {
  const kind = "OCI image manifest";
  return validating(kind, () => checkOciManifest(readJson(input, kind, options), options));
}

/**
 * Parses and validates an OCI image index.
 *
 * @example
 * ```ts
 * const idx = parseOciIndex(await fs.readFile("index.json"))
 * idx.manifests.length
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`, `E_MANIFEST_UNSUPPORTED`, `E_MANIFEST_TOO_LARGE`
 */
export function parseOciIndex(input: JsonInput, options: ParseOptions = {}): OciIndex {
  const kind = "OCI image index";
  return validating(kind, () => checkOciIndex(readJson(input, kind, options)));
}

/**
 * Parses and validates a Docker image manifest, schema 2 (`mediaType` required).
 *
 * @example
 * ```ts
 * const m = parseDockerManifest(body)
 * m.config.digest
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`, `E_MANIFEST_UNSUPPORTED` (schema 1), `E_MANIFEST_TOO_LARGE`
 */
export function parseDockerManifest(input: JsonInput, options: ParseOptions = {}): DockerManifest {
  const kind = "Docker image manifest";
  return validating(kind, () => checkDockerManifest(readJson(input, kind, options)));
}

/**
 * Parses and validates a Docker manifest list (`mediaType` required).
 *
 * @example
 * ```ts
 * const list = parseDockerManifestList(body)
 * list.manifests.map((m) => m.platform?.architecture)
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`, `E_MANIFEST_UNSUPPORTED`, `E_MANIFEST_TOO_LARGE`
 */
export function parseDockerManifestList(input: JsonInput, options: ParseOptions = {}): DockerManifestList {
  const kind = "Docker manifest list";
  return validating(kind, () => checkDockerManifestList(readJson(input, kind, options)));
}

/**
 * Parses the `oci-layout` file of an OCI image layout; `imageLayoutVersion` must be `"1.0.0"`.
 *
 * @example
 * ```ts
 * parseImageLayoutHeader('{"imageLayoutVersion":"1.0.0"}').imageLayoutVersion // "1.0.0"
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`
 */
export function parseImageLayoutHeader(input: JsonInput, options: ParseOptions = {}): ImageLayoutHeader {
  const kind = "OCI layout header";
  return validating(kind, () => {
    const o = objectAt(readJson(input, kind, options), "$");
    const v = field(o, "imageLayoutVersion");
    if (v !== "1.0.0") expected("$.imageLayoutVersion", '"1.0.0"', v);
    return o as unknown as ImageLayoutHeader;
  });
}
