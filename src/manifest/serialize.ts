/**
 * Bytes for new manifests, and the OCI 1.1 empty config.
 */
import type { Digest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { MediaType } from "./media-types.js";
import type { Descriptor } from "./types.js";

const encoder = new TextEncoder();

/**
 * The bytes cairn writes for a new manifest, index or config: `JSON.stringify` with no extra
 * whitespace, fields in the order the object gives them. Never use this to re-serialise a
 * manifest you read: its digest is of the bytes you received.
 *
 * @example
 * ```ts
 * const bytes = canonicalManifestBytes({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })
 * const digest = digestBytes(bytes)
 * ```
 * @throws CairnError `E_MANIFEST_INVALID` when the value cannot be written as JSON
 */
export function canonicalManifestBytes(obj: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(obj);
  } catch (err) {
    throw new CairnError("E_MANIFEST_INVALID", `cannot serialise manifest: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (text === undefined) {
    throw new CairnError(
      "E_MANIFEST_INVALID",
      `cannot serialise manifest: expected a JSON value, found ${typeof obj}`,
    );
  }
  return encoder.encode(text);
}

/**
 * The bytes of the OCI empty descriptor's blob: `{}`. Treat as read-only.
 *
 * @example
 * ```ts
 * await store.put(EMPTY_CONFIG_BYTES, EMPTY_CONFIG_DESCRIPTOR)
 * ```
 */
export const EMPTY_CONFIG_BYTES: Uint8Array = encoder.encode("{}");

/**
 * Digest of {@link EMPTY_CONFIG_BYTES}.
 *
 * @example
 * ```ts
 * digestBytes(EMPTY_CONFIG_BYTES) === EMPTY_CONFIG_DIGEST // true
 * ```
 */
export const EMPTY_CONFIG_DIGEST: Digest =
  "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/**
 * The OCI 1.1 empty config descriptor, for artifacts that have no config.
 *
 * @example
 * ```ts
 * { schemaVersion: 2, artifactType: "application/vnd.example", config: EMPTY_CONFIG_DESCRIPTOR, layers }
 * ```
 */
export const EMPTY_CONFIG_DESCRIPTOR: Readonly<Descriptor> = Object.freeze({
  mediaType: MediaType.ociEmpty,
  digest: EMPTY_CONFIG_DIGEST,
  size: 2,
});
