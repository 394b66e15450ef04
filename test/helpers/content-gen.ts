/**
 * Deterministic test data for the content-store tests, shared by the test files and the child
 * processes they spawn (so both sides agree on digests without passing bytes around).
 */

/**
 * A seeded xorshift32 filler: the same seed always gives the same bytes.
 *
 * @example
 * ```ts
 * seededBytes(7, 1024).length // 1024
 * ```
 */
export function seededBytes(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 0x9e3779b9;
  for (let i = 0; i < length; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
    if (i + 1 < length) out[i + 1] = (x >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (x >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = (x >>> 24) & 0xff;
  }
  return out;
}

const CHUNK = 1024 * 1024;

/**
 * A large blob as a stream of 1 MiB chunks, each a fresh buffer: a shared random base with the
 * chunk number stamped in. `onChunk` runs before each chunk is handed out.
 *
 * @example
 * ```ts
 * await layout.put(largeBlob(64), {})
 * ```
 */
export async function* largeBlob(
  mebibytes: number,
  onChunk?: (index: number) => void,
): AsyncGenerator<Uint8Array, void, undefined> {
  const base = seededBytes(42, CHUNK);
  for (let i = 0; i < mebibytes; i++) {
    onChunk?.(i);
    const chunk = new Uint8Array(base);
    new DataView(chunk.buffer).setUint32(0, i);
    yield chunk;
  }
}

/**
 * Size in bytes of {@link largeBlob}(mebibytes).
 *
 * @example
 * ```ts
 * largeBlobSize(2) // 2097152
 * ```
 */
export function largeBlobSize(mebibytes: number): number {
  return mebibytes * CHUNK;
}

/**
 * The bytes of blob number `k` of the shared concurrency set: sizes from 1 byte to ~1.5 MiB.
 *
 * @example
 * ```ts
 * digestBytes(setBlob(3))
 * ```
 */
export function setBlob(k: number): Uint8Array {
  const sizes = [1, 100, 4096, 65_536, 300_000, 1_500_000];
  return seededBytes(1000 + k, sizes[k % sizes.length] ?? 1);
}

/** How many blobs the shared concurrency set has. */
export const SET_SIZE = 30;

/**
 * The blob numbers concurrency writer `w` (0..3) puts: overlapping windows over the set.
 *
 * @example
 * ```ts
 * writerBlobs(1) // [5, 6, …, 19]
 * ```
 */
export function writerBlobs(w: number): number[] {
  return Array.from({ length: 15 }, (_, i) => (w * 5 + i) % SET_SIZE);
}
