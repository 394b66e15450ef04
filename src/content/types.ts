import type { Readable } from "node:stream";
import type { Digest } from "../digest/index.js";
import type { Descriptor } from "../manifest/types.js";

/**
 * What `put` accepts: bytes or a string (UTF-8) in memory, a Node `Readable`, or any async
 * stream of byte chunks.
 */
export type PutSource = Uint8Array | string | AsyncIterable<Uint8Array> | Readable;

/** Options for {@link ContentStore.put}. */
export interface PutOptions {
  /** The digest the bytes must have; when given and the blob exists, the source is not read. */
  digest?: string;
  /** The exact size the bytes must have. */
  size?: number;
  /** The media type recorded in the returned descriptor (default `application/octet-stream`). */
  mediaType?: string;
  signal?: AbortSignal;
}

/** Options for {@link ContentStore.open}. */
export interface OpenBlobOptions {
  /** Re-hash while reading and fail at the end on a mismatch (default true). */
  verify?: boolean;
  signal?: AbortSignal;
}

/** Options for {@link ContentStore.readAll}. */
export interface ReadAllOptions {
  /** Refuse blobs larger than this with `E_SIZE_LIMIT` (default 4 MiB). */
  maxBytes?: number;
  signal?: AbortSignal;
}

/** What the store knows about a blob without reading it. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/**
 * A content-addressed blob store: every blob is named by the digest of its bytes.
 *
 * @example
 * ```ts
 * const store: ContentStore = await OciLayout.open("./layout", { create: true });
 * const desc = await store.put("hello");
 * const bytes = await store.readAll(desc.digest);
 * ```
 */
export interface ContentStore {
  /** True when the blob is present. */
  has(digest: string): Promise<boolean>;
  /** Digest and size of a present blob, else `undefined`. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** A stream of the blob's bytes; `E_BLOB_NOT_FOUND` when absent. */
  open(digest: string, options?: OpenBlobOptions): Promise<Readable>;
  /** The whole blob in memory, bounded and verified. */
  readAll(digest: string, options?: ReadAllOptions): Promise<Uint8Array>;
  /** Stores bytes under their digest; a no-op when the blob is already present. */
  put(source: PutSource, options?: PutOptions): Promise<Descriptor>;
  /** Removes a blob; false when it was not there. */
  delete(digest: string): Promise<boolean>;
  /** Every blob's digest, in no particular order. */
  list(): AsyncIterable<Digest>;
}
