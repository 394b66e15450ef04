/**
 * Pull-style reading from an async stream of chunks: exact reads for headers, zero-copy
 * partial reads for entry data, skipping. Holds at most one source chunk (plus one block).
 */

const EMPTY = Buffer.alloc(0);

function asBuffer(chunk: Uint8Array | string): Buffer {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** Result of {@link ByteReader.readExact}: `bytes.length < n` only at end of input. */
export interface ExactRead {
  bytes: Buffer;
  /** True when all `n` bytes were read. */
  complete: boolean;
}

/**
 * Reads bytes from an async iterable of chunks on demand.
 *
 * @example
 * ```ts
 * const r = new ByteReader(fs.createReadStream("a.tar"));
 * const { bytes, complete } = await r.readExact(512);
 * ```
 */
export class ByteReader {
  private readonly it: AsyncIterator<Uint8Array | string>;
  private buf: Buffer = EMPTY;
  private pos = 0;
  private ended = false;
  /** Bytes consumed so far. */
  position = 0;

  constructor(source: AsyncIterable<Uint8Array | string>) {
    this.it = source[Symbol.asyncIterator]();
  }

  private async fill(): Promise<boolean> {
    while (this.pos >= this.buf.length) {
      if (this.ended) return false;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        return false;
      }
      this.buf = asBuffer(r.value);
      this.pos = 0;
    }
    return true;
  }

  /** Reads up to `n` bytes; fewer only when the input ends. */
  async readExact(n: number): Promise<ExactRead> {
    if (this.pos + n <= this.buf.length) {
      const bytes = this.buf.subarray(this.pos, this.pos + n);
      this.pos += n;
      this.position += n;
      return { bytes, complete: true };
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n && (await this.fill())) {
      const take = Math.min(n - got, this.buf.length - this.pos);
      this.buf.copy(out, got, this.pos, this.pos + take);
      this.pos += take;
      got += take;
    }
    this.position += got;
    return { bytes: got === n ? out : out.subarray(0, got), complete: got === n };
  }

  /** Returns the next 1..max bytes without copying, or null at end of input. */
  async readSome(max: number): Promise<Buffer | null> {
    if (max <= 0) return EMPTY;
    if (!(await this.fill())) return null;
    const take = Math.min(max, this.buf.length - this.pos);
    const bytes = this.buf.subarray(this.pos, this.pos + take);
    this.pos += take;
    this.position += take;
    return bytes;
  }

  /** Skips up to `n` bytes; returns how many were skipped (fewer only at end of input). */
  async skip(n: number): Promise<number> {
    let left = n;
    while (left > 0 && (await this.fill())) {
      const take = Math.min(left, this.buf.length - this.pos);
      this.pos += take;
      left -= take;
    }
    this.position += n - left;
    return n - left;
  }

  /** Reads and discards everything left in the input; returns the byte count. */
  async drain(): Promise<number> {
    let n = this.buf.length - this.pos;
    this.pos = this.buf.length;
    while (await this.fill()) {
      n += this.buf.length - this.pos;
      this.pos = this.buf.length;
    }
    this.position += n;
    return n;
  }

  /** Stops reading the source (lets it release resources). */
  async close(): Promise<void> {
    this.ended = true;
    await this.it.return?.();
  }
}
