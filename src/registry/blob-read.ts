import { Readable } from "node:stream";
import { verifyChunks } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import type { Descriptor } from "../manifest/index.js";
import { abortedError, isAbortError } from "./errors.js";
import { headerValue, parseContentRange } from "./headers.js";
import type { HttpResponse } from "./http.js";
import type { ProgressListener } from "./progress.js";
import { progressReporter } from "./progress.js";
import { backoffDelay, isRetryableNetworkError, type RetryPolicy, sleep } from "./retry.js";

/**
 * Fetches a blob from `offset` (with `Range` when above 0, and `If-Range` with the validator
 * of the first answer); resolves with a 200 or 206 answer, or throws.
 */
export type BlobFetcher = (
  offset: number,
  ifRange: string | undefined,
  signal?: AbortSignal,
) => Promise<HttpResponse>;

/** Options for {@link resumableBlobStream}. */
export interface ResumableBlobOptions {
  signal?: AbortSignal;
  policy: RetryPolicy;
  /** Where the blob comes from, for messages. */
  where: string;
  /** Verify the bytes against the descriptor (default true). */
  verify?: boolean;
  onProgress?: ProgressListener;
}

/** A strong validator usable with `If-Range` (weak ETags are not allowed there). */
function strongValidator(res: HttpResponse): string | undefined {
  const etag = headerValue(res.headers, "etag");
  return etag && !etag.startsWith("W/") ? etag : undefined;
}

/**
 * The bytes of a blob as a stream that survives broken downloads: when the connection breaks
 * or the body ends short, the rest is asked for with `Range` and the download goes on from
 * where it stopped (a server that ignores the range is answered by skipping what we already
 * have). Verified against the descriptor's digest and size unless `verify` is false.
 *
 * @example
 * ```ts
 * const stream = resumableBlobStream((offset, ifRange, signal) => fetchBlob(offset, ifRange, signal), desc, { policy, where })
 * ```
 */
export function resumableBlobStream(
  fetch: BlobFetcher,
  descriptor: Descriptor,
  options: ResumableBlobOptions,
): Readable {
  const chunks = resumableChunks(fetch, descriptor, options);
  const source =
    options.verify === false
      ? chunks
      : verifyChunks(chunks, { digest: descriptor.digest, size: descriptor.size, source: options.where });
  return Readable.from(source, { objectMode: false, highWaterMark: 1 << 16 });
}

async function* resumableChunks(
  fetch: BlobFetcher,
  descriptor: Descriptor,
  options: ResumableBlobOptions,
): AsyncGenerator<Uint8Array, void, undefined> {
  const { signal, policy } = options;
  const total = descriptor.size;
  const report = progressReporter(options.onProgress, "pull", descriptor.digest, total);
  let offset = 0;
  let validator: string | undefined;
  let failures = 0;
  report(0);
  for (;;) {
    let res: HttpResponse | undefined;
    try {
      res = await fetch(offset, validator, signal);
      let skip = 0;
      if (offset === 0) validator = strongValidator(res);
      else if (res.status === 206) {
        const range = parseContentRange(headerValue(res.headers, "content-range"));
        if (!range || range.start > offset) {
          throw new CairnError(
            "E_REGISTRY",
            `${options.where}: asked for bytes from ${offset}, the registry sent ${
              headerValue(res.headers, "content-range") ?? "no Content-Range"
            }`,
          );
        }
        skip = offset - range.start;
      } else skip = offset;
      for await (const c of res.body) {
        let chunk = c as Buffer;
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        offset += chunk.length;
        failures = 0;
        report(offset);
        yield chunk;
      }
      if (offset >= total) {
        if (options.onProgress) {
          options.onProgress({
            direction: "pull",
            digest: descriptor.digest,
            done: offset,
            total,
            status: "done",
          });
        }
        return;
      }
      // the body ended short without an error: resume like after a reset
      throw Object.assign(new Error(`body ended at ${offset} of ${total} bytes`), {
        code: "ERR_STREAM_PREMATURE_CLOSE",
      });
    } catch (err) {
      if (signal?.aborted || isAbortError(err))
        throw abortedError(`download of ${options.where}`, signal?.reason ?? err);
      if (!isRetryableNetworkError(err) || failures >= policy.retries) {
        if (err instanceof CairnError) throw err;
        throw new CairnError(
          "E_REGISTRY",
          `download of ${options.where} broke at byte ${offset} of ${total}: ${(err as Error).message}`,
          { cause: err },
        );
      }
      await sleep(backoffDelay(failures, policy), signal);
      failures++;
    } finally {
      if (res && !res.body.destroyed) {
        res.body.on("error", () => undefined);
        res.body.destroy();
      }
    }
  }
}
