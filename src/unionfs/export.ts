/**
 * The merged file system of an image as one tar, like `crane export`: read through a union
 * view of the image's snapshots, in sorted order, hardlinks kept.
 */

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { rename, unlink } from "node:fs/promises";
import type { Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { CairnError, isCairnError } from "../errors/index.js";
import type { Image } from "../image/index.js";
import { type LayerEntry, packTar } from "../layer/index.js";
import { type OpenViewOptions, UnionView } from "./view.js";

/** Options for {@link exportImage}. */
export interface ExportImageOptions extends OpenViewOptions {
  /** Clamp every mtime to this time (seconds), for reproducible output. */
  sourceDateEpoch?: number;
}

/** What {@link exportImage} wrote. */
export interface ExportResult {
  entries: number;
  bytes: number;
}

async function* counted(
  entries: AsyncIterable<LayerEntry>,
  result: ExportResult,
): AsyncGenerator<LayerEntry> {
  for await (const e of entries) {
    result.entries++;
    yield e;
  }
}

/**
 * Writes the merged file system of `image` as an uncompressed tar to a file (written to a
 * temporary name and renamed when complete) or a stream (which is not ended). The image is
 * prepared in the snapshot store first (layers already unpacked are reused).
 *
 * @example
 * ```ts
 * await exportImage(image, "rootfs.tar");
 * await exportImage(image, process.stdout);
 * ```
 * @throws CairnError `E_IO`, `E_ABORTED`, and what `prepare` throws
 */
export async function exportImage(
  image: Image,
  out: string | Writable,
  options: ExportImageOptions = {},
): Promise<ExportResult> {
  const { sourceDateEpoch, ...open } = options;
  const view = await UnionView.open(image, open);
  const result: ExportResult = { entries: 0, bytes: 0 };
  const tar = packTar(
    counted(view.entries(), result),
    sourceDateEpoch !== undefined ? { sourceDateEpoch } : {},
  );
  try {
    if (typeof out === "string") {
      const tmp = `${out}.tmp-${randomBytes(6).toString("hex")}`;
      try {
        await pipeline(
          async function* () {
            for await (const chunk of tar) {
              result.bytes += chunk.length;
              yield chunk;
            }
          },
          createWriteStream(tmp, { flags: "wx" }),
          ...(options.signal ? [{ signal: options.signal }] : []),
        );
        await rename(tmp, out);
      } catch (e) {
        await unlink(tmp).catch(() => {});
        throw e;
      }
    } else {
      for await (const chunk of tar) {
        if (options.signal?.aborted) throw new CairnError("E_ABORTED", "exporting the image was aborted");
        result.bytes += chunk.length;
        if (!out.write(chunk)) await once(out, "drain");
      }
    }
  } catch (e) {
    if (isCairnError(e)) throw e;
    if ((e as Error).name === "AbortError")
      throw new CairnError("E_ABORTED", "exporting the image was aborted");
    const where = typeof out === "string" ? out : "the output stream";
    throw new CairnError("E_IO", `cannot export the image to ${where}: ${(e as Error).message}`, {
      cause: e,
    });
  } finally {
    await view.close();
  }
  return result;
}
