import { isDigestSyntax } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { MediaType } from "../manifest/media-types.js";
import type { Descriptor, OciIndex } from "../manifest/types.js";

/** The annotation skopeo and umoci use to name an entry of `index.json`. */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** The `oci-layout` file's content cairn writes. */
export const LAYOUT_VERSION = "1.0.0";

// The image-spec grammar for org.opencontainers.image.ref.name.
const COMPONENT = "[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*";
const REF_NAME = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

/**
 * True when `name` is a valid `org.opencontainers.image.ref.name` (e.g. `latest`, `v1.0`,
 * `example.com/app:1`).
 *
 * @example
 * ```ts
 * isRefName("v1.2.3") // true
 * isRefName("../x")   // false
 * ```
 */
export function isRefName(name: unknown): name is string {
  return typeof name === "string" && name.length > 0 && name.length <= 1024 && REF_NAME.test(name);
}

/**
 * An empty OCI index, as a fresh layout's `index.json`.
 *
 * @example
 * ```ts
 * emptyIndex() // { schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] }
 * ```
 */
export function emptyIndex(): OciIndex {
  return { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
}

function invalid(where: string, message: string, jsonPath?: string): CairnError {
  return new CairnError("E_LAYOUT_INVALID", `invalid ${where}: ${message}`, {
    path: jsonPath ?? where,
  });
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

/**
 * Checks one descriptor of `index.json`, throwing `E_LAYOUT_INVALID` with its JSON path.
 *
 * @example
 * ```ts
 * checkIndexDescriptor(index.manifests[0], "index.json", "$.manifests[0]")
 * ```
 */
export function checkIndexDescriptor(v: unknown, where: string, at: string): asserts v is Descriptor {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalid(where, `${at} must be a descriptor object, found ${describe(v)}`, at);
  }
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== "string" || d.mediaType === "") {
    throw invalid(where, `${at}.mediaType must be a non-empty string, found ${describe(d.mediaType)}`, at);
  }
  if (!isDigestSyntax(d.digest)) {
    throw invalid(where, `${at}.digest must be a digest, found ${describe(d.digest)}`, `${at}.digest`);
  }
  if (typeof d.size !== "number" || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw invalid(
      where,
      `${at}.size must be a non-negative integer, found ${describe(d.size)}`,
      `${at}.size`,
    );
  }
  if (d.annotations !== undefined) {
    const a = d.annotations;
    if (typeof a !== "object" || a === null || Array.isArray(a)) {
      throw invalid(where, `${at}.annotations must be an object, found ${describe(a)}`, `${at}.annotations`);
    }
    for (const [k, val] of Object.entries(a)) {
      if (typeof val !== "string") {
        throw invalid(where, `${at}.annotations[${JSON.stringify(k)}] must be a string`, `${at}.annotations`);
      }
    }
  }
}

/**
 * Checks a parsed `index.json`: schemaVersion 2, the OCI index media type when one is given, and
 * well-formed descriptors. Unknown fields are kept.
 *
 * @example
 * ```ts
 * const index = checkIndex(JSON.parse(text), "/layout/index.json")
 * ```
 * @throws CairnError `E_LAYOUT_INVALID`
 */
export function checkIndex(v: unknown, where: string): OciIndex {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw invalid(where, `expected a JSON object, found ${describe(v)}`, "$");
  }
  const o = v as Record<string, unknown>;
  if (o.schemaVersion !== 2) {
    throw invalid(where, `$.schemaVersion must be 2, found ${describe(o.schemaVersion)}`, "$.schemaVersion");
  }
  if (o.mediaType !== undefined && o.mediaType !== MediaType.ociIndex) {
    throw invalid(
      where,
      `$.mediaType must be ${MediaType.ociIndex}, found ${describe(o.mediaType)}`,
      "$.mediaType",
    );
  }
  if (!Array.isArray(o.manifests)) {
    throw invalid(where, `$.manifests must be an array, found ${describe(o.manifests)}`, "$.manifests");
  }
  o.manifests.forEach((d, i) => {
    checkIndexDescriptor(d, where, `$.manifests[${i}]`);
  });
  return v as OciIndex;
}

/**
 * Parses the bytes of `index.json`.
 *
 * @example
 * ```ts
 * parseIndexFile(await fsp.readFile(file), file).manifests.length
 * ```
 * @throws CairnError `E_LAYOUT_INVALID`
 */
export function parseIndexFile(bytes: Uint8Array, where: string): OciIndex {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CairnError(
      "E_LAYOUT_INVALID",
      `invalid ${where}: expected JSON, ${err instanceof Error ? err.message : String(err)}`,
      { path: where, cause: err },
    );
  }
  return checkIndex(v, where);
}

/**
 * Parses the bytes of `oci-layout`, requiring an `imageLayoutVersion` of 1.x.y.
 *
 * @example
 * ```ts
 * parseLayoutFile(new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}'), "oci-layout")
 * ```
 * @throws CairnError `E_LAYOUT_INVALID`
 */
export function parseLayoutFile(bytes: Uint8Array, where: string): { imageLayoutVersion: string } {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (err) {
    throw new CairnError(
      "E_LAYOUT_INVALID",
      `invalid ${where}: expected JSON like {"imageLayoutVersion":"1.0.0"}`,
      {
        path: where,
        cause: err,
      },
    );
  }
  const version =
    typeof v === "object" && v !== null ? (v as Record<string, unknown>).imageLayoutVersion : undefined;
  if (typeof version !== "string" || !/^1\.\d+\.\d+$/.test(version)) {
    throw new CairnError(
      "E_LAYOUT_INVALID",
      `invalid ${where}: expected imageLayoutVersion "1.0.0", found ${describe(version)}`,
      { path: where },
    );
  }
  return { imageLayoutVersion: version };
}

/**
 * The ref name of an `index.json` entry, if it has one.
 *
 * @example
 * ```ts
 * refNameOf(index.manifests[0]) // "latest"
 * ```
 */
export function refNameOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_NAME_ANNOTATION];
}
