/**
 * Content descriptors and platforms: hand-written checks following the image-spec schema
 * (content-descriptor.json, defs-descriptor.json) plus the semantic rules upstream applies on top.
 */
import { type Digest, digestBytes, isDigestAlgorithm, isDigestSyntax } from "../digest/index.js";
import {
  child,
  expected,
  field,
  type JsonObject,
  objectAt,
  optionalString,
  optionalStringArray,
  Problem,
  stringAt,
  stringMapAt,
  validating,
} from "./check.js";
import { type JsonInput, type ParseOptions, readJson } from "./json.js";
import type { Descriptor, Platform } from "./types.js";

// RFC 6838 restricted names as the image-spec schema writes them: type/subtype, each 1..127.
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

// RFC 3986 URI: a scheme, then only characters a URI may hold, with well-formed %-escapes.
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const BASE64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * True when `s` is a media type the image spec accepts (`type/subtype`, RFC 6838 characters,
 * each part 1 to 127 characters).
 *
 * @example
 * ```ts
 * isMediaTypeSyntax("application/vnd.oci.image.manifest.v1+json") // true
 * isMediaTypeSyntax("foo/.bar") // false
 * ```
 */
export function isMediaTypeSyntax(s: unknown): s is string {
  return typeof s === "string" && MEDIA_TYPE.test(s);
}

/**
 * True when `s` is an absolute URI (RFC 3986 characters, a scheme, valid %-escapes).
 *
 * @example
 * ```ts
 * isUriSyntax("https://example.com/foo") // true
 * isUriSyntax("value") // false: no scheme
 * ```
 */
export function isUriSyntax(s: unknown): s is string {
  return typeof s === "string" && URI.test(s);
}

/**
 * Decodes strict base64 (standard alphabet, padding required, no whitespace, zero trailing
 * bits); returns undefined when `s` is not such base64.
 *
 * @example
 * ```ts
 * decodeBase64Strict("e30=") // Uint8Array [123, 125]
 * decodeBase64Strict("e30")  // undefined: missing padding
 * ```
 */
export function decodeBase64Strict(s: string): Uint8Array | undefined {
  if (!BASE64.test(s)) return undefined;
  const pad = s.endsWith("==") ? 2 : s.endsWith("=") ? 1 : 0;
  if (pad > 0) {
    // The last data character must not carry bits beyond the encoded bytes.
    const last = BASE64_ALPHABET.indexOf(s.charAt(s.length - pad - 1));
    if ((last & (pad === 2 ? 0x0f : 0x03)) !== 0) return undefined;
  }
  const binary = atob(s);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Checks a media type value at `path`.
 *
 * @example
 * ```ts
 * checkMediaType(d.mediaType, "$.config.mediaType")
 * ```
 */
export function checkMediaType(value: unknown, path: string): string {
  if (!isMediaTypeSyntax(value)) {
    expected(path, 'a media type "type/subtype" (RFC 6838 characters, each part 1-127 long)', value);
  }
  return value;
}

const HEX_LENGTH: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/**
 * Checks a digest value at `path`: registered algorithms strictly, others by grammar only.
 *
 * @example
 * ```ts
 * checkDigest(d.digest, "$.layers[0].digest")
 * ```
 */
export function checkDigest(value: unknown, path: string): Digest {
  if (isDigestSyntax(value)) return value;
  if (typeof value === "string") {
    const colon = value.indexOf(":");
    const algorithm = value.slice(0, Math.max(0, colon));
    const encoded = value.slice(colon + 1);
    const want = HEX_LENGTH[algorithm];
    if (isDigestAlgorithm(algorithm) && want !== undefined) {
      const why =
        encoded.length !== want
          ? `${algorithm} needs ${want} hex characters, found ${encoded.length}`
          : "only lowercase hex characters [0-9a-f] are allowed";
      expected(path, `a ${algorithm} digest of ${want} lowercase hex characters (${why})`, value);
    }
  }
  return expected(path, 'a digest "algorithm:encoded" (e.g. "sha256:<64 lowercase hex>")', value);
}

/**
 * Checks a size value at `path`: a non-negative safe integer.
 *
 * @example
 * ```ts
 * checkSize(d.size, "$.layers[0].size")
 * ```
 */
export function checkSize(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    expected(path, "a non-negative integer size in bytes", value);
  }
  return value;
}

/**
 * Checks an annotations map at `path`.
 *
 * @example
 * ```ts
 * checkAnnotations(m.annotations, "$.annotations")
 * ```
 */
export function checkAnnotations(value: unknown, path: string): Record<string, string> {
  return stringMapAt(value, path);
}

/**
 * Checks the fields every platform object shares (architecture, os, os.version, os.features, variant).
 *
 * @example
 * ```ts
 * checkPlatform(d.platform, "$.manifests[0].platform")
 * ```
 */
export function checkPlatform(value: unknown, path: string): Platform {
  const p = objectAt(value, path);
  stringAt(field(p, "architecture"), child(path, "architecture"));
  stringAt(field(p, "os"), child(path, "os"));
  optionalString(p, "os.version", path);
  optionalStringArray(p, "os.features", path);
  optionalString(p, "variant", path);
  optionalStringArray(p, "features", path);
  return p as unknown as Platform;
}

function checkData(d: JsonObject, path: string, digest: Digest, size: number): void {
  const data = field(d, "data");
  if (data === undefined) return;
  const dataPath = child(path, "data");
  const bytes = decodeBase64Strict(stringAt(data, dataPath));
  if (bytes === undefined) expected(dataPath, "strict base64 with padding", data);
  const algorithm = digest.slice(0, digest.indexOf(":"));
  if (!isDigestAlgorithm(algorithm)) return; // cannot verify an algorithm cairn does not compute
  if (bytes.byteLength !== size) {
    throw new Problem(
      dataPath,
      `embedded data is ${bytes.byteLength} bytes but the descriptor size is ${size}`,
    );
  }
  const actual = digestBytes(bytes, algorithm);
  if (actual !== digest) {
    throw new Problem(dataPath, `embedded data hashes to ${actual} but the descriptor digest is ${digest}`);
  }
}

/**
 * Checks a descriptor at `path` (used for config, layers, subject, manifests entries).
 *
 * @example
 * ```ts
 * checkDescriptor(m.config, "$.config")
 * ```
 */
export function checkDescriptor(value: unknown, path: string): Descriptor {
  const d = objectAt(value, path);
  checkMediaType(field(d, "mediaType"), child(path, "mediaType"));
  const digest = checkDigest(field(d, "digest"), child(path, "digest"));
  const size = checkSize(field(d, "size"), child(path, "size"));
  const urls = field(d, "urls");
  if (urls !== undefined) {
    const urlsPath = child(path, "urls");
    if (!Array.isArray(urls)) expected(urlsPath, "an array of URLs", urls);
    urls.forEach((u, i) => {
      if (!isUriSyntax(u)) expected(child(urlsPath, i), "an absolute URI", u);
    });
  }
  const annotations = field(d, "annotations");
  if (annotations !== undefined) checkAnnotations(annotations, child(path, "annotations"));
  const artifactType = field(d, "artifactType");
  if (artifactType !== undefined) checkMediaType(artifactType, child(path, "artifactType"));
  const platform = field(d, "platform");
  if (platform !== undefined) checkPlatform(platform, child(path, "platform"));
  checkData(d, path, digest, size);
  return d as unknown as Descriptor;
}

/**
 * Validates a content descriptor object and returns it typed. Registered digest algorithms
 * (sha256, sha512) must be well formed; embedded `data` must be strict base64 and, for those
 * algorithms, match the digest and size.
 *
 * @example
 * ```ts
 * const d = validateDescriptor({ mediaType: "application/vnd.oci.empty.v1+json",
 *   digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", size: 2 })
 * ```
 * @throws CairnError `E_MANIFEST_INVALID` with `path` like `$.digest`
 */
export function validateDescriptor(obj: unknown): Descriptor {
  return validating("descriptor", () => checkDescriptor(obj, "$"));
}

/**
 * Parses a descriptor from bytes, a JSON string, or a decoded object.
 *
 * @example
 * ```ts
 * const d = parseDescriptor('{"mediaType":"text/plain","digest":"sha256:…","size":3}')
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`, `E_MANIFEST_TOO_LARGE`
 */
export function parseDescriptor(input: JsonInput, options: ParseOptions = {}): Descriptor {
  return validating("descriptor", () => checkDescriptor(readJson(input, "descriptor", options), "$"));
}

/**
 * Validates a platform object (`architecture` and `os` required) and returns it typed.
 *
 * @example
 * ```ts
 * validatePlatform({ architecture: "arm64", os: "linux" })
 * ```
 * @throws CairnError `E_MANIFEST_INVALID`
 */
export function validatePlatform(obj: unknown): Platform {
  return validating("platform", () => checkPlatform(obj, "$"));
}
