/**
 * Creating a layer blob from a directory or from entries: tar (deterministic), compressed,
 * with both digests computed in the same single pass. The blob goes to a file (a temporary
 * one by default) or to a sink such as a content store; it is never held in memory.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Digest } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import type { Descriptor } from "../manifest/types.js";
import { type Compression, compressStream, layerMediaType } from "./compression.js";
import { cleanEntryPath, type LayerEntry } from "./entry.js";
import { HashTap } from "./hash-tap.js";
import { comparePaths } from "./names.js";
import { type PackTarOptions, packTar } from "./tar-write.js";
import { type TreeWarning, walkTree } from "./tree.js";

/** Options for {@link createLayer}. */
export interface CreateLayerOptions extends PackTarOptions {
  /** Default `"gzip"`. `"zstd"` needs the native zstd-napi module. */
  compression?: Compression;
  /** Compression level (gzip 1-9, default 6; zstd 1-22, default 3). */
  level?: number;
  /** Media type for the descriptor (default: the OCI layer type for the compression). */
  mediaType?: string;
  /** Write the blob to this file (replaced if present). Default: a new file in `tmpDir`. */
  output?: string;
  /** Directory for the default temporary blob file (default `os.tmpdir()`). */
  tmpDir?: string;
  /**
   * Hand the blob to a consumer instead of a file, e.g. a content store ingest. Its result is
   * returned as `sinkResult`. The stream must be read to its end.
   */
  sink?: (blob: Readable) => Promise<unknown>;
  /** For a directory source: read xattrs with `getfattr` (default false). */
  xattrs?: boolean;
  /** For a directory source: told about skipped files (sockets). */
  onWarning?: (w: TreeWarning) => void;
  signal?: AbortSignal;
}

/** A layer blob that was written, with what describes it. */
export interface CreatedLayer {
  /** mediaType, digest and size of the compressed blob. */
  descriptor: Descriptor;
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  uncompressedSize: number;
  compression: Compression;
  /** Where the blob was written (absent with `sink`); the caller owns the file. */
  path?: string;
  /** What `sink` returned. */
  sinkResult?: unknown;
}

/**
 * Sorts entries into archive order (parents before children, siblings by name bytes) and
 * refuses duplicates, which layer.md forbids.
 *
 * @example
 * ```ts
 * sortEntries([{ path: "b", type: "file" }, { path: "a", type: "directory" }]) // a, b
 * ```
 * @throws CairnError `E_LAYER_INVALID` for two entries with one path
 */
export function sortEntries(entries: readonly LayerEntry[]): LayerEntry[] {
  const keyed = entries.map((e) => ({ key: cleanEntryPath(e.path), e }));
  keyed.sort((a, b) => comparePaths(a.key, b.key));
  for (let i = 1; i < keyed.length; i++) {
    if (keyed[i]?.key === keyed[i - 1]?.key) {
      throw new CairnError(
        "E_LAYER_INVALID",
        `two layer entries have the path ${JSON.stringify(keyed[i]?.key)}`,
        {
          path: keyed[i]?.key,
        },
      );
    }
  }
  return keyed.map((k) => k.e);
}

/**
 * Creates a layer blob: from a directory (walked in sorted order; hardlinks kept), an array
 * of entries (sorted for you), or an (async) iterable of entries (written in the order given,
 * as `diffTrees` and `fromOverlayUpper` produce them). The same input gives the same digests.
 *
 * @example
 * ```ts
 * const layer = await createLayer("./rootfs", { sourceDateEpoch: 1700000000 });
 * manifest.layers.push(layer.descriptor); config.rootfs.diff_ids.push(layer.diffId);
 * ```
 * @example
 * ```ts
 * const { descriptor } = await createLayer([{ path: "etc/motd", type: "file", content: "hi\n" }], {
 *   sink: (blob) => store.put(blob),
 * });
 * ```
 * @throws CairnError `E_LAYER_INVALID`, `E_LAYER_UNSAFE_PATH`, `E_ABORTED`, `E_IO`
 */
export async function createLayer(
  source: string | readonly LayerEntry[] | Iterable<LayerEntry> | AsyncIterable<LayerEntry>,
  options: CreateLayerOptions = {},
): Promise<CreatedLayer> {
  const compression = options.compression ?? "gzip";
  let entries: Iterable<LayerEntry> | AsyncIterable<LayerEntry>;
  if (typeof source === "string") {
    entries = walkTree(source, {
      ...(options.xattrs !== undefined ? { xattrs: options.xattrs } : {}),
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    });
  } else if (Array.isArray(source)) {
    entries = sortEntries(source);
  } else {
    entries = source as Iterable<LayerEntry> | AsyncIterable<LayerEntry>;
  }
  const packOptions: PackTarOptions =
    options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {};
  const tar = Readable.from(packTar(entries, packOptions), { objectMode: false });
  const diffTap = new HashTap();
  const blobTap = new HashTap();
  const compressor = compressStream(compression, options.level !== undefined ? { level: options.level } : {});
  const signal = options.signal ? { signal: options.signal } : {};
  const mapError = (e: unknown, where: string): never => {
    if (isCairnError(e)) throw e;
    if ((e as Error)?.name === "AbortError")
      throw new CairnError("E_ABORTED", `creating a layer was aborted`, { cause: e });
    throw new CairnError("E_IO", `cannot create layer ${where}: ${(e as Error).message}`, { cause: e });
  };
  const result: Omit<CreatedLayer, "descriptor" | "diffId" | "uncompressedSize"> = { compression };
  if (options.sink) {
    const sink = options.sink;
    try {
      const [, sinkResult] = await Promise.all([
        pipeline(tar, diffTap, compressor, blobTap, signal),
        sink(blobTap).catch((e: unknown) => {
          blobTap.destroy(e instanceof Error ? e : new Error(String(e)));
          throw e;
        }),
      ]);
      result.sinkResult = sinkResult;
    } catch (e) {
      mapError(e, "into the sink");
    }
  } else {
    const out =
      options.output ??
      path.join(options.tmpDir ?? tmpdir(), `cairn-layer-${randomBytes(8).toString("hex")}.tmp`);
    try {
      await pipeline(
        tar,
        diffTap,
        compressor,
        blobTap,
        createWriteStream(out, { flags: options.output ? "w" : "wx" }),
        signal,
      );
    } catch (e) {
      await unlink(out).catch(() => {});
      mapError(e, `at ${out}`);
    }
    result.path = out;
  }
  return {
    descriptor: {
      mediaType: options.mediaType ?? layerMediaType(compression),
      digest: blobTap.digest(),
      size: blobTap.bytes,
    },
    diffId: diffTap.digest(),
    uncompressedSize: diffTap.bytes,
    ...result,
  };
}
