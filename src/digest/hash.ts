import { Transform, type TransformCallback } from "node:stream";
import { CairnError } from "../errors/index.js";
import { type Digest, type DigestAlgorithm, parseDigest } from "./digest.js";
import { createHasher, hashHex } from "./hasher.js";

/** Anything cairn can hash: bytes, a string (hashed as UTF-8), or a stream of byte chunks. */
export type Hashable = Uint8Array | string | AsyncIterable<Uint8Array>;

const encoder = new TextEncoder();

/**
 * Digest of bytes held in memory, synchronously.
 *
 * @example
 * ```ts
 * digestBytes(new TextEncoder().encode("{}")) // "sha256:44136fa…"
 * ```
 */
export function digestBytes(bytes: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): Digest {
  return `${algorithm}:${hashHex(algorithm, typeof bytes === "string" ? encoder.encode(bytes) : bytes)}`;
}

/**
 * Digest of bytes, a string, or an async stream of chunks (a Node `Readable` is one).
 *
 * @example
 * ```ts
 * await digestOf(fs.createReadStream("layer.tar"))
 * ```
 */
export async function digestOf(input: Hashable, algorithm: DigestAlgorithm = "sha256"): Promise<Digest> {
  if (typeof input === "string" || input instanceof Uint8Array) return digestBytes(input, algorithm);
  const h = createHasher(algorithm);
  for await (const chunk of input) h.update(chunk);
  return `${algorithm}:${h.hex()}`;
}

/** What a {@link VerifyingStream} checks at the end of the bytes. */
export interface VerifyExpectation {
  /** The digest the bytes must have. */
  digest: string;
  /** The exact size the bytes must have, if known. */
  size?: number;
  /** Where the bytes come from, for error messages (a URL, a file path, a blob name). */
  source?: string;
}

/**
 * A pass-through stream that hashes bytes as they flow and fails at the end with
 * `E_DIGEST_MISMATCH` or `E_SIZE_MISMATCH`; it fails early with `E_SIZE_MISMATCH` as soon as more
 * bytes than `size` arrive.
 *
 * @example
 * ```ts
 * await pipeline(fs.createReadStream(file), new VerifyingStream({ digest, size }), out)
 * ```
 */
export class VerifyingStream extends Transform {
  readonly expected: VerifyExpectation;
  private readonly hasher;
  private readonly algorithm: DigestAlgorithm;
  private seen = 0;

  constructor(expected: VerifyExpectation) {
    super();
    this.algorithm = parseDigest(expected.digest).algorithm;
    this.expected = expected;
    this.hasher = createHasher(this.algorithm);
  }

  /** Bytes seen so far. */
  get bytesSeen(): number {
    return this.seen;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    const { size } = this.expected;
    if (size !== undefined && this.seen > size) {
      cb(sizeMismatch(this.expected, `more than ${size}`));
      return;
    }
    this.hasher.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    cb(checkEnd(this.expected, this.seen, `${this.algorithm}:${this.hasher.hex()}`));
  }
}

function where(e: VerifyExpectation): string {
  return e.source ? ` in ${e.source}` : "";
}

function sizeMismatch(e: VerifyExpectation, found: string | number): CairnError {
  return new CairnError(
    "E_SIZE_MISMATCH",
    `size mismatch${where(e)}: expected ${e.size} bytes for ${e.digest}, found ${found}`,
    { details: { expected: e.size, actual: found, digest: e.digest } },
  );
}

function checkEnd(e: VerifyExpectation, seen: number, actual: string): CairnError | null {
  if (e.size !== undefined && seen !== e.size) return sizeMismatch(e, seen);
  if (actual !== e.digest) {
    return new CairnError(
      "E_DIGEST_MISMATCH",
      `digest mismatch${where(e)}: expected ${e.digest}, found ${actual}`,
      { details: { expected: e.digest, actual } },
    );
  }
  return null;
}

/**
 * Passes an async stream of chunks through, checking only its size against `expected` (early
 * when it grows past it, exactly at the end): for bytes whose digest another step checks.
 *
 * @example
 * ```ts
 * for await (const chunk of sizeCheckedChunks(blob, { digest, size })) hasher.update(chunk)
 * ```
 */
export async function* sizeCheckedChunks(
  source: AsyncIterable<Uint8Array>,
  expected: VerifyExpectation & { size: number },
): AsyncGenerator<Uint8Array, void, undefined> {
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.length;
    if (seen > expected.size) throw sizeMismatch(expected, `more than ${expected.size}`);
    yield chunk;
  }
  if (seen !== expected.size) throw sizeMismatch(expected, seen);
}

/**
 * Verifies an async stream of chunks while passing it through, as an async generator.
 *
 * @example
 * ```ts
 * for await (const chunk of verifyChunks(body, { digest, size })) out.write(chunk)
 * ```
 */
export async function* verifyChunks(
  source: AsyncIterable<Uint8Array>,
  expected: VerifyExpectation,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { algorithm } = parseDigest(expected.digest);
  const h = createHasher(algorithm);
  let seen = 0;
  for await (const chunk of source) {
    seen += chunk.length;
    if (expected.size !== undefined && seen > expected.size) {
      throw sizeMismatch(expected, `more than ${expected.size}`);
    }
    h.update(chunk);
    yield chunk;
  }
  const err = checkEnd(expected, seen, `${algorithm}:${h.hex()}`);
  if (err) throw err;
}

/**
 * Verifies bytes in memory against a digest and optional size.
 *
 * @example
 * ```ts
 * verifyBytes(manifestBytes, { digest: desc.digest, size: desc.size })
 * ```
 */
export function verifyBytes(bytes: Uint8Array, expected: VerifyExpectation): void {
  const { algorithm } = parseDigest(expected.digest);
  const err = checkEnd(expected, bytes.length, digestBytes(bytes, algorithm));
  if (err) throw err;
}
