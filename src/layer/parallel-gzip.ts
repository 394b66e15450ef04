/**
 * Parallel gzip, pigz-style: the input is cut into fixed-size blocks, each block is deflated
 * on the libuv threadpool with the 32 KiB before it as its dictionary, and the raw deflate
 * pieces are joined, in order, into one standard gzip member.
 */
import { availableParallelism } from "node:os";
import { Duplex } from "node:stream";
import * as zlib from "node:zlib";
import { CairnError } from "../errors/index.js";

/** Default block size: big enough that per-block costs (a sync flush, a fresh Huffman table) vanish. */
export const DEFAULT_GZIP_BLOCK_SIZE = 1024 * 1024;

/** deflate's window: a block may refer back this far, into the bytes before it. */
const WINDOW_SIZE = 32 * 1024;

/** The readable side's buffer: pushes stop (and no new block starts) beyond this. */
const READABLE_HIGH_WATER_MARK = 256 * 1024;

const MAX_BLOCK_SIZE = 1024 ** 3;
const MAX_CONCURRENCY = 1024;
const EMPTY = Buffer.alloc(0);

type Crc32 = (data: Uint8Array, value?: number) => number;

/** `zlib.crc32` exists from Node 20.15 / 22.2; read through the namespace so older Node still loads. */
const crc32: Crc32 | undefined = (zlib as { crc32?: Crc32 }).crc32;

/** Options for {@link parallelGzipStream}. */
export interface ParallelGzipOptions {
  /** gzip level 0-9 (default 6; -1 means 6). */
  level?: number;
  /**
   * Bytes of input per block (default 1 MiB). The output depends on the input, the level and
   * this, never on how the input was chunked or on `concurrency`.
   */
  blockSize?: number;
  /**
   * Blocks compressed at once (default: the CPU count, at least 2, and at most one less than
   * the libuv threadpool so file-system calls keep a thread).
   */
  concurrency?: number;
}

/**
 * True when this Node has `zlib.crc32` (Node >= 20.15), which {@link parallelGzipStream} needs
 * for the gzip trailer.
 *
 * @example
 * ```ts
 * const gz = parallelGzipAvailable() ? parallelGzipStream() : zlib.createGzip();
 * ```
 */
export function parallelGzipAvailable(): boolean {
  return crc32 !== undefined;
}

/**
 * A stream that gzips its input on several threadpool threads at once, like pigz, and writes
 * one standard gzip member (no file name, mtime 0, OS byte 255) that any gunzip reads. Equal
 * input, level and block size give equal bytes with the same zlib, whatever the write sizes
 * or concurrency. Memory stays bounded: at most `concurrency` blocks (input and output) plus
 * the block being filled; writes wait while all slots are busy or the reader is behind.
 *
 * @example
 * ```ts
 * await pipeline(fs.createReadStream("layer.tar"), parallelGzipStream({ level: 6 }), fs.createWriteStream("layer.tar.gz"))
 * ```
 * @throws CairnError `E_USAGE` for an out-of-range option, or when this Node has no `zlib.crc32`
 */
export function parallelGzipStream(options: ParallelGzipOptions = {}): Duplex {
  if (crc32 === undefined) {
    throw new CairnError(
      "E_USAGE",
      `parallel gzip needs zlib.crc32 (Node >= 20.15); this is ${process.version}`,
    );
  }
  const level = options.level === undefined || options.level === -1 ? 6 : options.level;
  checkInteger("level", level, 0, 9);
  const blockSize = options.blockSize ?? DEFAULT_GZIP_BLOCK_SIZE;
  checkInteger("blockSize", blockSize, 1, MAX_BLOCK_SIZE);
  const concurrency = options.concurrency ?? defaultConcurrency();
  checkInteger("concurrency", concurrency, 1, MAX_CONCURRENCY);
  return new ParallelGzip(level, blockSize, concurrency, crc32);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CairnError(
      "E_USAGE",
      `parallel gzip ${name} must be an integer in ${min}..${max}, got ${value}`,
      {
        details: { [name]: value },
      },
    );
  }
}

function defaultConcurrency(): number {
  const pool = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? "", 10);
  const poolSize = Number.isInteger(pool) && pool > 0 ? pool : 4;
  return Math.max(2, Math.min(availableParallelism(), poolSize - 1));
}

/** The 10-byte gzip header: deflate, no flags, mtime 0, XFL as zlib sets it, OS 255. */
function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level < 2 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]);
}

/**
 * zlib's output buffer for one block: room for the whole deflated block (even incompressible
 * data grows by well under 1/8), so a block takes one threadpool round trip. Each extra trip
 * waits for the main thread; with 256 KiB buffers that cost ~15% of the throughput here.
 */
function deflateChunkSize(blockSize: number): number {
  return blockSize + (blockSize >> 3) + 1024;
}

/** The last {@link WINDOW_SIZE} bytes of `window` followed by `input`, as a fresh buffer. */
function slideWindow(window: Buffer, input: Buffer): Buffer {
  if (input.length >= WINDOW_SIZE) return Buffer.from(input.subarray(input.length - WINDOW_SIZE));
  const keep = Math.min(window.length, WINDOW_SIZE - input.length);
  return Buffer.concat([window.subarray(window.length - keep), input]);
}

/** One block on its way through zlib; `out` is set once it is deflated. */
interface Job {
  readonly input: Buffer;
  readonly final: boolean;
  out: Buffer | undefined;
}

interface PendingWrite {
  readonly chunk: Buffer;
  offset: number;
  readonly callback: (error?: Error | null) => void;
}

class ParallelGzip extends Duplex {
  /** The block being filled, and how much of it is. */
  private block: Buffer;
  private filled = 0;
  /** Up to 32 KiB of input right before `block`: its deflate dictionary. */
  private window: Buffer = EMPTY;
  private crc = 0;
  private size = 0;
  /** Blocks in zlib or waiting to be pushed, in input order. */
  private readonly queue: Job[] = [];
  /** Input blocks zlib is done with, reused so a long stream does not churn 1 MiB buffers. */
  private readonly spare: Buffer[] = [];
  /** The write not yet copied into blocks (held while every slot is busy). */
  private pending: PendingWrite | undefined;
  private finalCallback: ((error?: Error | null) => void) | undefined;
  private finalDispatched = false;
  /** The reader is behind: push() said stop, so wait for _read(). */
  private readerFull = false;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    private readonly level: number,
    private readonly blockSize: number,
    private readonly concurrency: number,
    private readonly crc32: Crc32,
  ) {
    super({ readableHighWaterMark: Math.min(blockSize, READABLE_HIGH_WATER_MARK) });
    this.block = Buffer.allocUnsafe(blockSize);
    this.push(gzipHeader(level));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.crc = this.crc32(chunk, this.crc);
    this.size = (this.size + chunk.length) % 2 ** 32;
    this.pending = { chunk, offset: 0, callback };
    this.pump();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalCallback = callback;
    this.pump();
  }

  override _read(): void {
    this.readerFull = false;
    this.pump();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Blocks still in zlib finish on their own; their callbacks see `destroyed` and drop them.
    this.queue.length = 0;
    this.spare.length = 0;
    this.pending = undefined;
    this.finalCallback = undefined;
    this.block = EMPTY;
    this.window = EMPTY;
    callback(error);
  }

  /**
   * Moves everything along as far as it can: pushes finished blocks in order, copies pending
   * input into blocks, starts full blocks (and the final one) while a slot is free. Callbacks
   * run last, so a write they trigger synchronously finds the state settled.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    const callbacks: Array<() => void> = [];
    do {
      this.pumpAgain = false;
      if (this.destroyed) break;
      this.pushFinished(callbacks);
      this.fillBlocks(callbacks);
      if (this.finalCallback !== undefined && !this.finalDispatched && this.pending === undefined) {
        if (this.filled === this.blockSize && this.hasSlot()) this.dispatch(false);
        if (this.filled < this.blockSize && this.hasSlot()) this.dispatch(true);
      }
    } while (this.pumpAgain);
    this.pumping = false;
    for (const callback of callbacks) callback();
  }

  private hasSlot(): boolean {
    return this.queue.length < this.concurrency && !this.readerFull;
  }

  private fillBlocks(callbacks: Array<() => void>): void {
    for (;;) {
      if (this.filled === this.blockSize) {
        if (!this.hasSlot()) return;
        this.dispatch(false);
      }
      const pending = this.pending;
      if (pending === undefined) return;
      const copied = pending.chunk.copy(this.block, this.filled, pending.offset);
      this.filled += copied;
      pending.offset += copied;
      if (pending.offset === pending.chunk.length) {
        this.pending = undefined;
        callbacks.push(() => pending.callback());
      }
    }
  }

  private pushFinished(callbacks: Array<() => void>): void {
    while (!this.readerFull) {
      const job = this.queue[0];
      if (job?.out === undefined) return;
      this.queue.shift();
      if (job.input.length === this.blockSize) this.spare.push(job.input);
      if (!this.push(job.out)) this.readerFull = true;
      if (job.final) {
        this.push(this.trailer());
        this.push(null);
        const callback = this.finalCallback;
        this.finalCallback = undefined;
        if (callback !== undefined) callbacks.push(() => callback());
        return;
      }
    }
  }

  private trailer(): Buffer {
    const trailer = Buffer.allocUnsafe(8);
    trailer.writeUInt32LE(this.crc >>> 0, 0);
    trailer.writeUInt32LE(this.size, 4);
    return trailer;
  }

  /** Sends the current block to zlib: a sync flush ends it, or Z_FINISH for the last one. */
  private dispatch(final: boolean): void {
    const input = this.filled === this.blockSize ? this.block : this.block.subarray(0, this.filled);
    const dictionary = this.window;
    if (final) {
      this.finalDispatched = true;
      this.block = EMPTY;
    } else {
      this.window = slideWindow(this.window, input);
      this.block = this.spare.pop() ?? Buffer.allocUnsafe(this.blockSize);
    }
    this.filled = 0;
    const job: Job = { input, final, out: undefined };
    this.queue.push(job);
    const options: zlib.ZlibOptions = {
      level: this.level,
      chunkSize: deflateChunkSize(this.blockSize),
      finishFlush: final ? zlib.constants.Z_FINISH : zlib.constants.Z_SYNC_FLUSH,
    };
    if (dictionary.length > 0) options.dictionary = dictionary;
    zlib.deflateRaw(input, options, (error, out) => {
      if (this.destroyed) return;
      if (error !== null) {
        this.destroy(
          new CairnError(
            "E_IO",
            `zlib failed to deflate a ${input.length}-byte gzip block: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
        return;
      }
      job.out = out;
      this.pump();
    });
  }
}
