/**
 * Layer compression: gzip (node:zlib, in parallel blocks) and zstd, detected by magic number,
 * never by label alone; an uncompressed-size limit against decompression bombs.
 */
import { Duplex, PassThrough, pipeline, Readable, Transform, type TransformCallback } from "node:stream";
import { constants, createGunzip, createGzip } from "node:zlib";
import { CairnError } from "../errors/index.js";
import { MediaType } from "../manifest/media-types.js";
import { parallelGzipAvailable, parallelGzipStream } from "./parallel-gzip.js";
import { zstdCompressStream, zstdDecompressStream } from "./zstd.js";

/** The compressions a layer blob can have. */
export type Compression = "gzip" | "zstd" | "none";

/** Default bound on the uncompressed bytes of one layer: 64 GiB. */
export const DEFAULT_MAX_UNCOMPRESSED_BYTES = 64 * 1024 ** 3;

/**
 * zlib's output chunk size. The default 16 KiB costs many small callbacks; 256 KiB measured
 * ~1.5-2x faster for gunzip here (see docs/DEPENDENCIES.md).
 */
export const ZLIB_CHUNK_SIZE = 256 * 1024;

/**
 * Tells the compression of a blob from its first bytes (at least 4 are needed to see zstd).
 *
 * @example
 * ```ts
 * detectCompression(new Uint8Array([0x1f, 0x8b, 8, 0])) // "gzip"
 * ```
 */
export function detectCompression(firstBytes: Uint8Array): Compression {
  const [a, b, c, d] = firstBytes;
  if (a === 0x1f && b === 0x8b) return "gzip";
  if (a === 0x28 && b === 0xb5 && c === 0x2f && d === 0xfd) return "zstd";
  // A zstd stream may open with a skippable frame (magic 0x184D2A50..5F, little-endian).
  if (a !== undefined && (a & 0xf0) === 0x50 && b === 0x2a && c === 0x4d && d === 0x18) return "zstd";
  return "none";
}

/**
 * The compression a layer media type announces, or undefined for a media type that is not a
 * layer (or not a tar).
 *
 * @example
 * ```ts
 * compressionOfMediaType("application/vnd.oci.image.layer.v1.tar+zstd") // "zstd"
 * ```
 */
export function compressionOfMediaType(mediaType: string): Compression | undefined {
  const mt = mediaType.trim().toLowerCase();
  const layerish = mt.includes(".layer.") || mt.includes(".rootfs.") || mt.includes("layer.v1");
  if (!layerish) return undefined;
  if (mt.endsWith("+gzip") || mt.endsWith(".tar.gzip")) return "gzip";
  if (mt.endsWith("+zstd") || mt.endsWith(".tar.zstd")) return "zstd";
  if (mt.endsWith(".tar")) return "none";
  return undefined;
}

/**
 * The OCI (or Docker) media type for a layer with `compression`.
 *
 * @example
 * ```ts
 * layerMediaType("gzip") // "application/vnd.oci.image.layer.v1.tar+gzip"
 * ```
 */
export function layerMediaType(compression: Compression, flavour: "oci" | "docker" = "oci"): string {
  if (flavour === "docker") {
    if (compression === "gzip") return MediaType.dockerLayerGzip;
    if (compression === "none") return MediaType.dockerLayer;
    throw new CairnError("E_LAYER_INVALID", "Docker schema 2 has no zstd layer media type: use the OCI one");
  }
  if (compression === "gzip") return MediaType.ociLayerGzip;
  if (compression === "zstd") return MediaType.ociLayerZstd;
  return MediaType.ociLayer;
}

/**
 * A stream that decompresses `kind` (a pass-through for `"none"`).
 *
 * @example
 * ```ts
 * await pipeline(fs.createReadStream("l.tgz"), decompressStream("gzip"), fs.createWriteStream("l.tar"))
 * ```
 */
export function decompressStream(kind: Compression): NodeJS.ReadWriteStream & Readable {
  if (kind === "gzip") return createGunzip({ chunkSize: ZLIB_CHUNK_SIZE });
  if (kind === "zstd") return zstdDecompressStream();
  return new PassThrough();
}

/** Options for {@link compressStream}. */
export interface CompressOptions {
  /** Compression level: gzip 1-9 (default 6), zstd 1-22 (default 3). */
  level?: number;
}

/**
 * A stream that compresses to `kind` (a pass-through for `"none"`). gzip runs pigz-style on
 * several threadpool threads ({@link parallelGzipStream}: 1 MiB blocks, one standard gzip
 * member); on a Node without `zlib.crc32` (< 20.15) it falls back to one-thread `createGzip`,
 * whose bytes differ for input of 1 MiB or more. gzip output carries no file name, mtime 0 and
 * OS byte 255 ("unknown"), so equal input gives equal bytes on every platform with the same
 * zlib (Node line).
 *
 * @example
 * ```ts
 * await pipeline(tarStream, compressStream("gzip", { level: 9 }), out)
 * ```
 * @throws CairnError `E_LAYER_INVALID` for zstd without the native zstd-napi binding
 */
export function compressStream(
  kind: Compression,
  options: CompressOptions = {},
): NodeJS.ReadWriteStream & Readable {
  if (kind === "gzip") {
    const level = options.level ?? 6;
    return parallelGzipAvailable() ? parallelGzipStream({ level }) : singleThreadGzipStream(level);
  }
  if (kind === "zstd") return zstdCompressStream(options.level ?? 3);
  return new PassThrough();
}

/**
 * gzip on one zlib thread (node:zlib `createGzip`), with the OS byte set to 255. The fallback
 * of {@link compressStream} where `zlib.crc32` is missing.
 *
 * @example
 * ```ts
 * await pipeline(tarStream, singleThreadGzipStream(6), out)
 * ```
 */
export function singleThreadGzipStream(level = 6): NodeJS.ReadWriteStream & Readable {
  const gz = createGzip({ level, chunkSize: ZLIB_CHUNK_SIZE, flush: constants.Z_NO_FLUSH });
  const fix = new GzipOsByte();
  gz.on("error", (e) => fix.destroy(e));
  return Duplex.from({ writable: gz, readable: gz.pipe(fix) });
}

/** Rewrites byte 9 of a gzip header (the OS) to 255, which zlib sets per build platform. */
class GzipOsByte extends Transform {
  private seen = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.seen <= 9 && this.seen + chunk.length > 9) {
      const copy = Buffer.from(chunk);
      copy[9 - this.seen] = 0xff;
      chunk = copy;
    }
    this.seen += chunk.length;
    cb(null, chunk);
  }
}

/**
 * A pass-through that fails with `E_SIZE_LIMIT` once more than `max` bytes flow through it.
 *
 * @example
 * ```ts
 * await pipeline(gunzipped, new ByteLimit(1 << 30, "layer sha256:…"), out)
 * ```
 */
export class ByteLimit extends Transform {
  private seen = 0;

  constructor(
    private readonly max: number,
    private readonly what = "layer",
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) {
      cb(
        new CairnError(
          "E_SIZE_LIMIT",
          `${this.what} expands to more than ${this.max} bytes (maxUncompressedBytes)`,
          {
            details: { limit: this.max },
          },
        ),
      );
      return;
    }
    cb(null, chunk);
  }
}

/** Options for {@link openLayerStream}. */
export interface OpenLayerOptions {
  /** The descriptor's media type: when given, it must agree with the bytes. */
  mediaType?: string;
  /** Fail with `E_SIZE_LIMIT` beyond this many uncompressed bytes (default 64 GiB). */
  maxUncompressedBytes?: number;
  /** Called once the compression is known. */
  onCompression?: (kind: Compression) => void;
}

/**
 * Opens a layer blob as its uncompressed tar: detects gzip/zstd/none by magic number, checks
 * it against `mediaType` when given, and bounds the output size. Errors (`E_LAYER_INVALID`,
 * `E_SIZE_LIMIT`, or the source's own) surface on the returned stream.
 *
 * @example
 * ```ts
 * const tar = openLayerStream(fs.createReadStream(blobPath), { mediaType: desc.mediaType });
 * for await (const entry of readTar(tar)) console.log(entry.header.name);
 * ```
 */
export function openLayerStream(
  compressed: AsyncIterable<Uint8Array> & object,
  options: OpenLayerOptions = {},
): Readable {
  const out = new PassThrough({ highWaterMark: ZLIB_CHUNK_SIZE });
  const max = options.maxUncompressedBytes ?? DEFAULT_MAX_UNCOMPRESSED_BYTES;
  const it = compressed[Symbol.asyncIterator]();
  const fail = (e: unknown) => {
    out.destroy(e instanceof Error ? e : new Error(String(e)));
    it.return?.().catch(() => {});
  };
  (async () => {
    const head: Buffer[] = [];
    let have = 0;
    while (have < 4) {
      const n = await it.next();
      if (n.done) break;
      const v = n.value;
      const b = Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      head.push(b);
      have += b.length;
    }
    const kind = detectCompression(Buffer.concat(head, have).subarray(0, 4));
    if (options.mediaType !== undefined) {
      const labelled = compressionOfMediaType(options.mediaType);
      if (labelled === undefined) {
        throw new CairnError(
          "E_LAYER_INVALID",
          `media type ${JSON.stringify(options.mediaType)} is not a tar layer media type`,
          {
            details: { mediaType: options.mediaType },
          },
        );
      }
      if (labelled !== kind) {
        throw new CairnError(
          "E_LAYER_INVALID",
          `layer media type ${options.mediaType} says ${labelled}, but the bytes are ${kind === "none" ? "not compressed" : kind}`,
          { details: { mediaType: options.mediaType, labelled, detected: kind } },
        );
      }
    }
    options.onCompression?.(kind);
    const rest = Readable.from(
      (async function* () {
        yield* head;
        for (;;) {
          const n = await it.next();
          if (n.done) return;
          yield n.value;
        }
      })(),
      { objectMode: false },
    );
    const stages: NodeJS.ReadWriteStream[] = kind === "none" ? [] : [decompressStream(kind)];
    pipeline([rest, ...stages, new ByteLimit(max), out], (err) => {
      if (err) out.destroy(err);
    });
  })().catch(fail);
  return out;
}
