/**
 * In-memory images and indexes for the registry tests: real tar layers (tar-stream + gzip),
 * configs and manifests as exact bytes in a map, read back through the image model.
 */
import { createHash } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import type { Digest } from "../../src/digest/index.js";
import {
  type BlobReader,
  type Image,
  type ImageIndex,
  imageFromManifest,
  indexFromManifest,
  type Layer,
  layerFromSource,
} from "../../src/image/index.js";
import { type Descriptor, MediaType, type Platform } from "../../src/manifest/index.js";

/** sha256 of bytes as a digest. */
export function sha256(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

/** A tar archive holding `files` (name -> content). */
export async function tarOf(files: Record<string, string | Uint8Array>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const [name, content] of Object.entries(files)) {
    pack.entry({ name, mtime: new Date(0), mode: 0o644 }, Buffer.from(content));
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A blob map that serves as a {@link BlobReader}. */
export class MemoryBlobs implements BlobReader {
  readonly blobs = new Map<string, Uint8Array>();

  put(bytes: Uint8Array | string, mediaType: string): Descriptor {
    const b = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
    const digest = sha256(b);
    this.blobs.set(digest, b);
    return { mediaType, digest, size: b.length };
  }

  get(digest: string): Uint8Array {
    const b = this.blobs.get(digest);
    if (!b) throw new Error(`no blob ${digest} in memory`);
    return b;
  }

  async open(d: Descriptor): Promise<Readable> {
    const s = new PassThrough();
    s.end(this.get(d.digest));
    return s;
  }

  async readAll(d: Descriptor): Promise<Uint8Array> {
    return this.get(d.digest);
  }
}

/** What {@link makeImage} builds. */
export interface ImageSpec {
  /** File contents of each layer (one file per layer), default two small layers. */
  layers?: Array<Record<string, string | Uint8Array>>;
  platform?: Platform;
  /** Docker schema 2 media types instead of OCI. */
  docker?: boolean;
  /** Extra manifest fields (e.g. `subject`, `artifactType`, `annotations`). */
  extra?: Record<string, unknown>;
  /** A label that makes the config (and so the digest) unique. */
  label?: string;
}

/** Builds an image's blobs into `blobs` and returns its manifest descriptor (with platform). */
export async function buildImage(blobs: MemoryBlobs, spec: ImageSpec = {}): Promise<Descriptor> {
  const platform = spec.platform ?? { os: "linux", architecture: "amd64" };
  const files = spec.layers ?? [{ "a.txt": "layer one" }, { "b.txt": "layer two" }];
  const layers: Descriptor[] = [];
  const diffIds: Digest[] = [];
  for (const f of files) {
    const raw = await tarOf(f);
    diffIds.push(sha256(raw));
    layers.push(blobs.put(gzipSync(raw), spec.docker ? MediaType.dockerLayerGzip : MediaType.ociLayerGzip));
  }
  const config = blobs.put(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Labels: { "test.label": spec.label ?? "x" } },
      rootfs: { type: "layers", diff_ids: diffIds },
    }),
    spec.docker ? MediaType.dockerConfig : MediaType.ociConfig,
  );
  const mediaType = spec.docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest = { schemaVersion: 2, mediaType, config, layers, ...(spec.extra ?? {}) };
  const d = blobs.put(JSON.stringify(manifest), mediaType);
  return { ...d, platform };
}

/** A lazy image over in-memory blobs. */
export async function makeImage(spec: ImageSpec = {}, blobs = new MemoryBlobs()): Promise<Image> {
  const d = await buildImage(blobs, spec);
  return imageFromManifest(blobs.get(d.digest), blobs, { mediaType: d.mediaType });
}

/** A lazy two-or-more-platform index over in-memory blobs. */
export async function makeIndex(
  platforms: Platform[] = [
    { os: "linux", architecture: "amd64" },
    { os: "linux", architecture: "arm64", variant: "v8" },
  ],
  options: { docker?: boolean; blobs?: MemoryBlobs } = {},
): Promise<ImageIndex> {
  const blobs = options.blobs ?? new MemoryBlobs();
  const children: Descriptor[] = [];
  for (const [i, platform] of platforms.entries()) {
    children.push(
      await buildImage(blobs, {
        platform,
        docker: options.docker,
        label: `p${i}`,
        layers: [{ "common.txt": "shared base" }, { [`arch-${i}.txt`]: `for ${platform.architecture}` }],
      }),
    );
  }
  const mediaType = options.docker ? MediaType.dockerManifestList : MediaType.ociIndex;
  const index = blobs.put(JSON.stringify({ schemaVersion: 2, mediaType, manifests: children }), mediaType);
  return indexFromManifest(blobs.get(index.digest), blobs, { mediaType });
}

/**
 * An uncompressed "layer" of `size` pseudo-random bytes streamed in 1 MiB chunks, never held in
 * memory whole; its digest is computed by streaming it once.
 */
export async function bigLayer(size: number, seed = 1): Promise<Layer> {
  const stream = () => Readable.from(pseudoRandom(size, seed), { objectMode: false });
  const h = createHash("sha256");
  for await (const c of stream()) h.update(c as Buffer);
  const digest = `sha256:${h.digest("hex")}` as Digest;
  return layerFromSource({
    descriptor: { mediaType: MediaType.ociLayer, digest, size },
    diffId: digest,
    open: async () => stream(),
  });
}

function* pseudoRandom(size: number, seed: number): Generator<Buffer> {
  const CHUNK = 1 << 20;
  let x = seed >>> 0 || 1;
  for (let off = 0; off < size; off += CHUNK) {
    const n = Math.min(CHUNK, size - off);
    const b = Buffer.allocUnsafe(n + 3);
    for (let i = 0; i < n; i += 4) {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      b.writeUInt32LE(x, i);
    }
    yield b.subarray(0, n);
  }
}
