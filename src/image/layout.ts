import type { Readable } from "node:stream";
import { type ContentStore, OciLayout, openDefaultStore } from "../content/index.js";
import { CairnError } from "../errors/index.js";
import {
  type Descriptor,
  hostPlatform,
  MAX_MANIFEST_BYTES,
  type Platform,
  parseManifest,
} from "../manifest/index.js";
import { mapLimit } from "./concurrency.js";
import { imageFromManifest, indexFromManifest } from "./from-manifest.js";
import { LENIENT } from "./lenient.js";
import { type BlobReader, type Image, type ImageIndex, isImageIndex, type ReadOptions } from "./types.js";

/** Options for {@link ImageLayout.write}. */
export interface LayoutWriteOptions extends ReadOptions {
  /** Record the written manifest under this name in `index.json`. */
  tag?: string;
  /** How many blobs to copy at once (default 4). */
  jobs?: number;
  /** Called after each blob is handled. */
  onProgress?: (event: { kind: "blob"; digest: string; size: number; skipped: boolean }) => void;
}

/** A {@link BlobReader} over a content store: blobs are verified as they are read. */
export function storeBlobReader(store: ContentStore): BlobReader {
  return {
    open: (d: Descriptor, options?: ReadOptions): Promise<Readable> =>
      store.open(d.digest, { verify: true, ...(options?.signal ? { signal: options.signal } : {}) }),
    openUnverified: (d: Descriptor, options?: ReadOptions): Promise<Readable> =>
      store.open(d.digest, { verify: false, ...(options?.signal ? { signal: options.signal } : {}) }),
    readAll: (d: Descriptor, maxBytes: number, options?: ReadOptions) =>
      store.readAll(d.digest, { maxBytes, ...(options?.signal ? { signal: options.signal } : {}) }),
  };
}

/**
 * An OCI image layout as a source and a sink of images: `image()`/`index()` read lazily,
 * `write()` copies only the blobs the layout lacks.
 *
 * @example
 * ```ts
 * const layout = await ImageLayout.open("./oci", { create: true });
 * await layout.write(image, { tag: "v1" });
 * const again = await layout.image("v1");
 * ```
 */
export class ImageLayout {
  /** The underlying content store. */
  readonly store: OciLayout;
  private readonly reader: BlobReader;

  constructor(store: OciLayout) {
    this.store = store;
    this.reader = storeBlobReader(store);
  }

  /** Opens (or with `create`, creates) the layout at `dir`. */
  static async open(dir: string, options: { create?: boolean } = {}): Promise<ImageLayout> {
    return new ImageLayout(await OciLayout.open(dir, options));
  }

  /** Opens the default store (`CAIRN_HOME`, else `$XDG_CACHE_HOME/cairn`, else `~/.cache/cairn`). */
  static async openDefault(): Promise<ImageLayout> {
    return new ImageLayout(await openDefaultStore());
  }

  /** The layout's directory. */
  get dir(): string {
    return this.store.dir;
  }

  /** Resolves a name in `index.json` or a digest to the manifest's exact bytes and descriptor. */
  private async load(nameOrDigest: string): Promise<{ descriptor: Descriptor; raw: Uint8Array }> {
    const descriptor = await this.store.resolve(nameOrDigest);
    const raw = await this.store.readAll(descriptor.digest, { maxBytes: MAX_MANIFEST_BYTES });
    return { descriptor, raw };
  }

  /**
   * The image named `nameOrDigest`. When the name points at an index, the image for `platform`
   * (default: this host's) is chosen from it.
   */
  async image(nameOrDigest: string, options: { platform?: Platform } = {}): Promise<Image> {
    const { descriptor, raw } = await this.load(nameOrDigest);
    const where = `${this.dir}:${nameOrDigest}`;
    const parsed = parseManifest(raw, descriptor.mediaType, LENIENT);
    if (parsed.kind === "oci-index" || parsed.kind === "docker-manifest-list") {
      const index = indexFromManifest(raw, this.reader, { mediaType: parsed.mediaType, where });
      return index.image(options.platform ?? hostPlatform());
    }
    return imageFromManifest(raw, this.reader, {
      mediaType: parsed.mediaType,
      ...(descriptor.platform ? { platform: descriptor.platform } : {}),
      where,
    });
  }

  /** The index named `nameOrDigest`; `E_MANIFEST_INVALID` if it names a single image. */
  async index(nameOrDigest: string): Promise<ImageIndex> {
    const { descriptor, raw } = await this.load(nameOrDigest);
    return indexFromManifest(raw, this.reader, {
      mediaType: descriptor.mediaType,
      where: `${this.dir}:${nameOrDigest}`,
    });
  }

  /** Either an image or an index, whichever `nameOrDigest` names. */
  async get(nameOrDigest: string): Promise<Image | ImageIndex> {
    const { descriptor, raw } = await this.load(nameOrDigest);
    const parsed = parseManifest(raw, descriptor.mediaType, LENIENT);
    const where = `${this.dir}:${nameOrDigest}`;
    if (parsed.kind === "oci-index" || parsed.kind === "docker-manifest-list") {
      return indexFromManifest(raw, this.reader, { mediaType: parsed.mediaType, where });
    }
    return imageFromManifest(raw, this.reader, { mediaType: parsed.mediaType, where });
  }

  /**
   * Writes an image or an index (with every child) into the layout, copying only missing blobs;
   * with `tag`, records the top manifest under that name. Returns the top descriptor.
   */
  async write(source: Image | ImageIndex, options: LayoutWriteOptions = {}): Promise<Descriptor> {
    const descriptor = isImageIndex(source)
      ? await this.writeIndex(source, options)
      : await this.writeImage(source, options);
    if (options.tag !== undefined) await this.store.tag(options.tag, descriptor);
    return descriptor;
  }

  private async putBlob(
    descriptor: Descriptor,
    open: () => Promise<Readable | Uint8Array>,
    options: LayoutWriteOptions,
  ): Promise<void> {
    const skipped = await this.store.has(descriptor.digest);
    if (!skipped) {
      await this.store.put(await open(), {
        digest: descriptor.digest,
        size: descriptor.size,
        mediaType: descriptor.mediaType,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    options.onProgress?.({ kind: "blob", digest: descriptor.digest, size: descriptor.size, skipped });
  }

  private async writeImage(image: Image, options: LayoutWriteOptions): Promise<Descriptor> {
    const manifest = await image.manifest();
    const layers = await image.layers();
    // The config travels with the layers; the manifest goes last, once everything it names is in.
    const config = this.putBlob(manifest.config, () => image.rawConfig(), options);
    config.catch(() => {});
    await mapLimit(layers, options.jobs ?? 4, (layer) =>
      // the store hashes and checks what it writes, so read the layer unverified when possible
      this.putBlob(
        layer.descriptor,
        () => (layer.openUnverified ?? layer.open).call(layer, options),
        options,
      ),
    );
    await config;
    const descriptor = await image.descriptor();
    await this.putBlob(descriptor, () => image.rawManifest(), options);
    return descriptor;
  }

  private async writeIndex(index: ImageIndex, options: LayoutWriteOptions): Promise<Descriptor> {
    const manifest = await index.manifest();
    for (const child of manifest.manifests) {
      const kind = parseKind(child.mediaType);
      if (kind === "index") await this.writeIndex(await index.index(child), options);
      else if (kind === "image") await this.writeImage(await index.image(child), options);
      else {
        throw new CairnError(
          "E_MANIFEST_UNSUPPORTED",
          `cannot copy index child ${child.digest}: unknown manifest media type ${child.mediaType}`,
        );
      }
    }
    const descriptor = await index.descriptor();
    await this.putBlob(descriptor, () => index.rawManifest(), options);
    return descriptor;
  }
}

function parseKind(mediaType: string): "index" | "image" | "other" {
  if (mediaType.endsWith("image.index.v1+json") || mediaType.endsWith("manifest.list.v2+json"))
    return "index";
  if (mediaType.endsWith("image.manifest.v1+json") || mediaType.endsWith("manifest.v2+json")) return "image";
  return "other";
}
