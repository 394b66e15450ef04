/**
 * zstd streams: the native `zstd-napi` binding when it loads (an optional dependency), else
 * the pure-JS `fzstd` decoder. Decompression is pull-driven (an async generator), so a
 * hostile frame is only expanded as fast as the consumer reads it.
 */
import { createRequire } from "node:module";
import { Duplex, type Transform } from "node:stream";
import { Decompress as FzstdDecompress } from "fzstd";
import { CairnError } from "../errors/index.js";

interface NativeDCtx {
  decompressStream(dst: Uint8Array, src: Uint8Array): [number, number, number];
}

interface NativeZstd {
  CompressStream: new (params?: { compressionLevel?: number; checksumFlag?: boolean }) => Transform;
  binding: { DCtx: new () => NativeDCtx };
}

function loadNative(): NativeZstd | undefined {
  if (process.env.CAIRN_ZSTD === "js") return undefined;
  try {
    const require = createRequire(import.meta.url);
    const mod = require("zstd-napi") as Pick<NativeZstd, "CompressStream">;
    const binding = require("zstd-napi/binding") as NativeZstd["binding"];
    return { CompressStream: mod.CompressStream, binding };
  } catch {
    return undefined;
  }
}

const native = loadNative();

const OUT = 128 * 1024;
// fzstd decodes a whole slice per call; a block expands to at most 128 KiB, so 2 KiB in is
// at most ~64 MiB out even for a run-length bomb.
const SLICE = 2 * 1024;

/**
 * Which implementation decompresses zstd in this process.
 *
 * @example
 * ```ts
 * zstdBackend() // "zstd-napi"
 * ```
 */
export function zstdBackend(): "zstd-napi" | "fzstd" {
  return native ? "zstd-napi" : "fzstd";
}

function zstdError(cause: unknown): CairnError {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return new CairnError("E_LAYER_INVALID", `invalid zstd data: ${msg}`, { cause });
}

async function* nativeDecompress(mod: NativeZstd, source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const dctx = new mod.binding.DCtx();
  let inFrame = false;
  for await (const chunk of source) {
    let src = chunk;
    for (;;) {
      const dst = Buffer.allocUnsafe(OUT);
      let ret: number;
      let produced: number;
      let consumed: number;
      try {
        [ret, produced, consumed] = dctx.decompressStream(dst, src);
      } catch (e) {
        throw zstdError(e);
      }
      src = src.subarray(consumed);
      if (produced > 0) yield dst.subarray(0, produced);
      if (src.length === 0 && (produced < OUT || ret === 0)) {
        inFrame = ret !== 0;
        break;
      }
    }
  }
  if (inFrame) throw zstdError(new Error("stream ends inside a frame"));
}

async function* jsDecompress(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const out: Uint8Array[] = [];
  let ended = false;
  const d = new FzstdDecompress((data, final) => {
    if (data.length > 0) out.push(data);
    if (final) ended = true;
  });
  const take = function* (): Generator<Buffer> {
    for (const b of out.splice(0)) yield Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  };
  let sawInput = false;
  for await (const chunk of source) {
    for (let i = 0; i < chunk.length; i += SLICE) {
      sawInput = true;
      try {
        d.push(chunk.subarray(i, i + SLICE));
      } catch (e) {
        throw zstdError(e);
      }
      yield* take();
    }
  }
  if (!sawInput) return;
  try {
    d.push(new Uint8Array(0), true);
  } catch (e) {
    throw zstdError(e);
  }
  yield* take();
  if (!ended) throw zstdError(new Error("stream ends inside a frame"));
}

/**
 * A zstd decompression stream (native when available, else pure JS), pull-driven.
 * `backend: "fzstd"` forces the pure-JS decoder.
 *
 * @example
 * ```ts
 * await pipeline(fs.createReadStream("layer.tar.zst"), zstdDecompressStream(), out)
 * ```
 */
export function zstdDecompressStream(options: { backend?: "auto" | "fzstd" } = {}): Duplex {
  const mod = options.backend === "fzstd" ? undefined : native;
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    yield* mod ? nativeDecompress(mod, source) : jsDecompress(source);
  });
}

/**
 * A zstd compression stream; needs the native `zstd-napi` binding.
 *
 * @example
 * ```ts
 * await pipeline(tar, zstdCompressStream(3), out)
 * ```
 * @throws CairnError `E_LAYER_INVALID` (`details.reason: "zstd-unavailable"`) without the binding
 */
export function zstdCompressStream(level = 3): Transform {
  if (!native) {
    throw new CairnError(
      "E_LAYER_INVALID",
      "zstd compression needs the optional native module zstd-napi, which is not installed here; use gzip, or install zstd-napi",
      { details: { reason: "zstd-unavailable" } },
    );
  }
  return new native.CompressStream({ compressionLevel: level, checksumFlag: true });
}
