import { Transform, type TransformCallback } from "node:stream";

/** Progress of one blob in a pull or a push. */
export interface ProgressEvent {
  /** `pull` when bytes come from a registry, `push` when they go to one. */
  direction: "pull" | "push";
  /** The blob's digest. */
  digest: string;
  /** Bytes transferred so far (for `exists` and `mounted`, the whole size). */
  done: number;
  /** The blob's size. */
  total: number;
  /**
   * `progress` while bytes flow; `done` once the blob is complete; `exists` when the target
   * already had it; `mounted` when the registry mounted it from another repository.
   */
  status: "progress" | "done" | "exists" | "mounted";
}

/** Receives {@link ProgressEvent}s. */
export type ProgressListener = (event: ProgressEvent) => void;

const MIN_INTERVAL_MS = 100;

/**
 * Emits `progress` events for one blob at most every 100 ms, and always the first and last.
 *
 * @example
 * ```ts
 * const report = progressReporter(onProgress, "pull", desc.digest, desc.size);
 * report(bytesSoFar);
 * ```
 */
export function progressReporter(
  listener: ProgressListener | undefined,
  direction: "pull" | "push",
  digest: string,
  total: number,
): (done: number) => void {
  if (!listener) return () => undefined;
  let last = 0;
  let first = true;
  return (done) => {
    const now = Date.now();
    if (!first && done < total && now - last < MIN_INTERVAL_MS) return;
    first = false;
    last = now;
    listener({ direction, digest, done, total, status: "progress" });
  };
}

/**
 * A pass-through stream that reports the running byte count.
 *
 * @example
 * ```ts
 * source.pipe(countingStream((n) => report(n)))
 * ```
 */
export function countingStream(onCount: (bytes: number) => void): Transform {
  let count = 0;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      count += chunk.length;
      onCount(count);
      cb(null, chunk);
    },
  });
}
