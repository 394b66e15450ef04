import type { Readable } from "node:stream";
import type { Digest } from "../digest/index.js";
import type {
  Descriptor,
  ImageConfig,
  ImageIndexManifest,
  ImageManifest,
  Platform,
} from "../manifest/index.js";

/** Options every long read takes. */
export interface ReadOptions {
  signal?: AbortSignal;
}

/** A layer: a blob plus what is known about it. Nothing is read until asked. */
export interface Layer {
  /** Digest, size and media type of the blob as stored or sent (usually compressed). */
  readonly descriptor: Descriptor;
  /** Digest of the uncompressed tar. */
  diffId(): Promise<Digest>;
  /** The blob's bytes as stored or sent, verified against the descriptor as they are read. */
  open(options?: ReadOptions): Promise<Readable>;
  /** The uncompressed tar, verified against the diff ID as it is read. */
  openUncompressed(options?: ReadOptions): Promise<Readable>;
  /**
   * The blob's bytes without verification, for sinks that verify what they store themselves
   * (a content store `put` with the expected digest), so the bytes are hashed once, not twice.
   */
  openUnverified?(options?: ReadOptions): Promise<Readable>;
}

/** One image: a manifest, its config and its layers. */
export interface Image {
  /** The manifest's media type (OCI or Docker schema 2). */
  mediaType(): Promise<string>;
  /** The parsed manifest. */
  manifest(): Promise<ImageManifest>;
  /** The manifest's exact bytes: the digest is of these. */
  rawManifest(): Promise<Uint8Array>;
  /** The parsed config. */
  config(): Promise<ImageConfig>;
  /** The config's exact bytes. */
  rawConfig(): Promise<Uint8Array>;
  /** The layers, lowest first. */
  layers(): Promise<Layer[]>;
  /** Digest of the raw manifest. */
  digest(): Promise<Digest>;
  /** A descriptor of the manifest (media type, digest, size; platform when known). */
  descriptor(): Promise<Descriptor>;
}

/** A multi-platform index (OCI index or Docker manifest list). */
export interface ImageIndex {
  mediaType(): Promise<string>;
  manifest(): Promise<ImageIndexManifest>;
  rawManifest(): Promise<Uint8Array>;
  digest(): Promise<Digest>;
  descriptor(): Promise<Descriptor>;
  /** The image a child descriptor (or the best match for a platform) points at. */
  image(which: Descriptor | Platform | string): Promise<Image>;
  /** A nested index. */
  index(which: Descriptor): Promise<ImageIndex>;
}

/** Reads blobs by descriptor: the minimum a source must provide for the lazy model. */
export interface BlobReader {
  /** The blob's bytes; the reader or the caller verifies them against the descriptor. */
  open(descriptor: Descriptor, options?: ReadOptions): Promise<Readable>;
  /**
   * The blob's bytes without the reader's own verification, for callers that verify them
   * anyway (a layer re-hashes what it reads): saves hashing every byte twice.
   */
  openUnverified?(descriptor: Descriptor, options?: ReadOptions): Promise<Readable>;
  /** The blob's bytes in memory, refused above `maxBytes`. */
  readAll(descriptor: Descriptor, maxBytes: number, options?: ReadOptions): Promise<Uint8Array>;
}

/** True for an {@link ImageIndex} (it has `image()`), as opposed to an {@link Image}. */
export function isImageIndex(x: Image | ImageIndex): x is ImageIndex {
  return typeof (x as Partial<ImageIndex>).image === "function";
}
