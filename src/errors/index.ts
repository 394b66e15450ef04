/**
 * Every failure cairn reports is a {@link CairnError} with a stable machine-readable `code`.
 * Messages say what was expected, what was found, and where.
 */

/** The stable error codes cairn uses. New codes may be added; existing ones never change meaning. */
export type CairnErrorCode =
  | "E_DIGEST_INVALID"
  | "E_DIGEST_MISMATCH"
  | "E_SIZE_MISMATCH"
  | "E_SIZE_LIMIT"
  | "E_REFERENCE_INVALID"
  | "E_MANIFEST_INVALID"
  | "E_MANIFEST_UNSUPPORTED"
  | "E_MANIFEST_TOO_LARGE"
  | "E_PLATFORM_INVALID"
  | "E_PLATFORM_NOT_FOUND"
  | "E_LAYOUT_INVALID"
  | "E_BLOB_NOT_FOUND"
  | "E_NOT_FOUND"
  | "E_LOCKED"
  | "E_ARCHIVE_INVALID"
  | "E_TRANSPORT_INVALID"
  | "E_LAYER_UNSAFE_PATH"
  | "E_LAYER_INVALID"
  | "E_AUTH"
  | "E_REGISTRY"
  | "E_DOCKERFILE_SYNTAX"
  | "E_NO_RUNTIME"
  | "E_ABORTED"
  | "E_USAGE"
  | "E_IO"
  | "E_IN_USE"
  | "E_RUNTIME"
  | "E_BUILD_FAILED";

/** Options for constructing a {@link CairnError}. */
export interface CairnErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** A JSON path (e.g. `$.layers[0].digest`) or file path locating the problem. */
  path?: string;
  /** Extra structured details (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * The one error class cairn throws.
 *
 * @example
 * ```ts
 * try { parseDigest("md5:abc") } catch (e) { if (isCairnError(e, "E_DIGEST_INVALID")) console.log(e.message) }
 * ```
 */
export class CairnError extends Error {
  /** A stable code, e.g. `E_DIGEST_MISMATCH`. */
  readonly code: CairnErrorCode;
  /** Where the problem is (a JSON path or a file path), when known. */
  readonly path: string | undefined;
  /** Structured details about the failure. */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: CairnErrorCode, message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CairnError";
    this.code = code;
    this.path = options.path;
    this.details = options.details;
  }
}

/** True when `err` is a {@link CairnError}, optionally with the given `code`. */
export function isCairnError(err: unknown, code?: CairnErrorCode): err is CairnError {
  return err instanceof CairnError && (code === undefined || err.code === code);
}
