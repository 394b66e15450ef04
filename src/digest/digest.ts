import { CairnError } from "../errors/index.js";

/** The digest algorithms cairn computes and verifies. */
export type DigestAlgorithm = "sha256" | "sha512";

/** A digest string in the OCI form `algorithm:encoded`, e.g. `sha256:e3b0…`. */
export type Digest = `${string}:${string}`;

/** A digest split into its parts. */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  /** Lowercase hex of the hash. */
  hex: string;
}

const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

// The image spec's digest grammar, which also admits algorithms cairn cannot compute.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** True for the algorithms cairn can compute. */
export function isDigestAlgorithm(s: string): s is DigestAlgorithm {
  return s === "sha256" || s === "sha512";
}

function describe(value: unknown): string {
  if (typeof value !== "string") return `a ${value === null ? "null" : typeof value}`;
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/**
 * Parses `algorithm:hex`, accepting only `sha256` (64 hex) and `sha512` (128 hex), lowercase.
 *
 * @example
 * ```ts
 * parseDigest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855").hex
 * ```
 * @throws CairnError `E_DIGEST_INVALID`
 */
export function parseDigest(s: string): ParsedDigest {
  if (typeof s !== "string") {
    throw new CairnError("E_DIGEST_INVALID", `invalid digest: expected a string, found ${describe(s)}`);
  }
  const colon = s.indexOf(":");
  if (colon < 0) {
    throw new CairnError("E_DIGEST_INVALID", `invalid digest ${describe(s)}: expected "algorithm:hex"`);
  }
  const algorithm = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (!isDigestAlgorithm(algorithm)) {
    throw new CairnError(
      "E_DIGEST_INVALID",
      `invalid digest ${describe(s)}: unsupported algorithm ${describe(algorithm)} (expected sha256 or sha512)`,
    );
  }
  const want = HEX_LENGTH[algorithm];
  if (hex.length !== want) {
    throw new CairnError(
      "E_DIGEST_INVALID",
      `invalid digest ${describe(s)}: ${algorithm} needs ${want} hex characters, found ${hex.length}`,
    );
  }
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new CairnError(
      "E_DIGEST_INVALID",
      `invalid digest ${describe(s)}: expected lowercase hex characters [0-9a-f] only`,
    );
  }
  return { algorithm, hex };
}

/**
 * Formats a digest from its parts, validating them.
 *
 * @example
 * ```ts
 * formatDigest({ algorithm: "sha256", hex: "e3b0…" }) // "sha256:e3b0…"
 * ```
 */
export function formatDigest(parts: ParsedDigest): Digest {
  const s = `${parts.algorithm}:${parts.hex}` as Digest;
  parseDigest(s);
  return s;
}

/** True when `s` is a digest cairn can verify (sha256/sha512, exact length, lowercase hex). */
export function isDigest(s: unknown): s is Digest {
  if (typeof s !== "string") return false;
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

/**
 * True when `s` matches the OCI digest grammar, including algorithms cairn cannot compute;
 * registered algorithms (sha256, sha512) must also be well formed.
 */
export function isDigestSyntax(s: unknown): s is Digest {
  if (typeof s !== "string" || !DIGEST_GRAMMAR.test(s)) return false;
  const algorithm = s.slice(0, s.indexOf(":"));
  return isDigestAlgorithm(algorithm) ? isDigest(s) : true;
}

/** The algorithm of a digest string (validated). */
export function digestAlgorithm(d: string): DigestAlgorithm {
  return parseDigest(d).algorithm;
}

/** The hex part of a digest string (validated). */
export function digestHex(d: string): string {
  return parseDigest(d).hex;
}
