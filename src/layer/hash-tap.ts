import { Transform, type TransformCallback } from "node:stream";
import { createHasher, type Digest } from "../digest/index.js";

/**
 * A pass-through that hashes (sha256) and counts the bytes flowing through it.
 *
 * @example
 * ```ts
 * const tap = new HashTap(); await pipeline(src, tap, dst); tap.digest(); tap.bytes
 * ```
 */
export class HashTap extends Transform {
  private readonly hasher = createHasher("sha256");
  /** Bytes seen so far. */
  bytes = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hasher.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }

  /** The digest of everything seen; call once, after the end. */
  digest(): Digest {
    return `sha256:${this.hasher.hex()}`;
  }
}
