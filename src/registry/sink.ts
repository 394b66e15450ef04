import type { Readable } from "node:stream";
import { type Digest, isDigest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { type Image, type ImageIndex, isImageIndex } from "../image/index.js";
import {
  type Descriptor,
  type ImageIndexManifest,
  type ImageManifest,
  isImageManifestMediaType,
  isIndexMediaType,
  MAX_MANIFEST_BYTES,
  MediaType,
  type OciIndex,
} from "../manifest/index.js";
import type { Reference } from "../reference/index.js";
import { type RegistryClient, referrersTag } from "./client.js";
import { clientFor, type RegistryOptions, toReference } from "./options.js";
import { repositoryScope } from "./scope.js";
import { type BlobOrigin, registryOrigin } from "./source.js";
import type { UploadOutcome } from "./upload.js";

/** Options for {@link registryWrite}. */
export interface RegistryWriteOptions extends RegistryOptions {
  /** Blobs uploaded at once (default 4). */
  jobs?: number;
  /** Upload blobs in `PATCH` chunks of this size instead of one streamed `PUT` each. */
  chunkSize?: number;
}

/** What {@link registryWrite} did. */
export interface WriteResult {
  /** The descriptor of the top manifest pushed. */
  descriptor: Descriptor;
  /** The reference written, pinned to the digest. */
  reference: Reference;
  /** Blobs by outcome. */
  blobs: { uploaded: number; mounted: number; existing: number };
}

const FOREIGN = new Set<string>([
  MediaType.dockerLayerForeignGzip,
  MediaType.ociLayerNonDistributable,
  MediaType.ociLayerNonDistributableGzip,
  MediaType.ociLayerNonDistributableZstd,
]);

/** True for layers that are fetched from their `urls`, never pushed (Windows base layers). */
function isForeign(d: Descriptor): boolean {
  return FOREIGN.has(d.mediaType) && (d.urls?.length ?? 0) > 0;
}

function subjectOf(m: ImageManifest | ImageIndexManifest): Descriptor | undefined {
  return "subject" in m ? m.subject : undefined;
}

/** Pushes the parts of images and indexes into one repository, each blob once. */
class RepositoryWriter {
  private readonly blobs = new Map<string, Promise<void>>();
  readonly counts = { uploaded: 0, mounted: 0, existing: 0 };
  /** Aborted by the caller's signal or by the first failure, so no upload outlives the write. */
  private readonly controller = new AbortController();
  private readonly onCallerAbort = () => this.controller.abort(this.options.signal?.reason);

  constructor(
    private readonly client: RegistryClient,
    private readonly target: Reference,
    private readonly options: RegistryWriteOptions,
  ) {
    if (options.signal?.aborted) this.onCallerAbort();
    options.signal?.addEventListener("abort", this.onCallerAbort, { once: true });
  }

  /** Stops every transfer under way. */
  abort(reason: unknown): void {
    this.controller.abort(reason);
  }

  /** Stops listening to the caller's signal. */
  close(): void {
    this.options.signal?.removeEventListener("abort", this.onCallerAbort);
  }

  private get repo(): string {
    return this.target.repository;
  }

  private sig(): { signal: AbortSignal } {
    return { signal: this.controller.signal };
  }

  /** The repositories of this registry that the blobs of `origin` may be mounted from. */
  private mountFrom(origin: BlobOrigin | undefined): string[] {
    return origin && origin.registry === this.target.domain && origin.repository !== this.repo
      ? [origin.repository]
      : [];
  }

  private blob(
    d: Descriptor,
    open: () => Promise<Readable | Uint8Array>,
    origin: BlobOrigin | undefined,
  ): Promise<void> {
    let p = this.blobs.get(d.digest);
    if (!p) {
      p = this.client
        .pushBlob(
          this.repo,
          { descriptor: d, open },
          {
            mountFrom: this.mountFrom(origin),
            ...this.sig(),
            ...(this.options.onProgress ? { onProgress: this.options.onProgress } : {}),
            ...(this.options.chunkSize !== undefined ? { chunkSize: this.options.chunkSize } : {}),
          },
        )
        .then((outcome: UploadOutcome) => {
          if (outcome === "uploaded") this.counts.uploaded++;
          else if (outcome === "mounted") this.counts.mounted++;
          else this.counts.existing++;
        });
      this.blobs.set(d.digest, p);
    }
    return p;
  }

  private async putManifest(
    raw: Uint8Array,
    d: Descriptor,
    reference: string,
    parsed: ImageManifest | ImageIndexManifest,
  ): Promise<void> {
    const result = await this.client.putManifest(this.repo, reference, raw, d.mediaType, this.sig());
    const subject = subjectOf(parsed);
    if (subject && !result.subject) await this.addReferrer(subject, d, parsed);
  }

  /** Keeps the `sha256-<hex>` referrers index up to date on registries without the referrers API. */
  private async addReferrer(
    subject: Descriptor,
    d: Descriptor,
    parsed: ImageManifest | ImageIndexManifest,
  ): Promise<void> {
    const tag = referrersTag(subject.digest);
    let index: OciIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] };
    try {
      const got = await this.client.getManifest(this.repo, tag, this.sig());
      const value = JSON.parse(Buffer.from(got.bytes).toString("utf8")) as OciIndex;
      if (Array.isArray(value.manifests)) index = { ...value, manifests: value.manifests };
    } catch (err) {
      if (!(err instanceof CairnError && err.code === "E_NOT_FOUND")) throw err;
    }
    if (index.manifests.some((m) => m.digest === d.digest)) return;
    const artifactType =
      ("artifactType" in parsed ? parsed.artifactType : undefined) ??
      ("config" in parsed ? parsed.config.mediaType : undefined);
    const annotations = "annotations" in parsed ? parsed.annotations : undefined;
    const entry: Descriptor = {
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      ...(artifactType ? { artifactType } : {}),
      ...(annotations ? { annotations } : {}),
    };
    const next: OciIndex = { ...index, manifests: [...index.manifests, entry] };
    const bytes = new TextEncoder().encode(JSON.stringify(next));
    if (bytes.length > MAX_MANIFEST_BYTES) {
      throw new CairnError(
        "E_MANIFEST_TOO_LARGE",
        `the referrers index ${tag} of ${this.repo} would exceed ${MAX_MANIFEST_BYTES} bytes`,
      );
    }
    await this.client.putManifest(this.repo, tag, bytes, MediaType.ociIndex, this.sig());
  }

  /** True when the registry already has the manifest with this digest (and so all it points at). */
  private async hasManifest(digest: Digest): Promise<boolean> {
    return (await this.client.headManifest(this.repo, digest, this.sig())) !== undefined;
  }

  async image(image: Image, reference: string): Promise<Descriptor> {
    const d = await image.descriptor();
    const manifest = await image.manifest();
    if (await this.hasManifest(d.digest)) {
      this.counts.existing += manifest.layers.length + 1;
      if (reference !== d.digest) await this.putManifest(await image.rawManifest(), d, reference, manifest);
      return d;
    }
    const origin = registryOrigin(image);
    const layers = await image.layers();
    await settleLimit(
      layers,
      this.options.jobs ?? 4,
      async (layer) => {
        if (isForeign(layer.descriptor)) return;
        await this.blob(layer.descriptor, () => layer.open(this.sig()), registryOrigin(layer) ?? origin);
      },
      (err) => this.abort(err),
    );
    await this.blob(manifest.config, () => image.rawConfig(), origin);
    await this.putManifest(await image.rawManifest(), d, reference, manifest);
    return d;
  }

  async index(index: ImageIndex, reference: string): Promise<Descriptor> {
    const d = await index.descriptor();
    const manifest = await index.manifest();
    if (!(await this.hasManifest(d.digest))) {
      for (const child of manifest.manifests) {
        if (isIndexMediaType(child.mediaType)) await this.index(await index.index(child), child.digest);
        else if (isImageManifestMediaType(child.mediaType))
          await this.image(await index.image(child), child.digest);
        else {
          throw new CairnError(
            "E_MANIFEST_UNSUPPORTED",
            `cannot push index child ${child.digest}: unknown manifest media type ${child.mediaType}`,
          );
        }
      }
    } else if (reference === d.digest) return d;
    await this.putManifest(await index.rawManifest(), d, reference, manifest);
    return d;
  }
}

/**
 * Pushes an image or an index (children first, each image's layers in parallel, then its
 * config, then its manifest) to the repository `ref` names, under its tag (or digest). Blobs
 * the registry has are skipped; blobs read from another repository of the same registry are
 * mounted from there, with one token for the push and the mounts.
 *
 * @example
 * ```ts
 * await registryWrite("localhost:5000/acme/app:1.0", await layout.image("1.0"));
 * ```
 * @throws CairnError `E_DIGEST_MISMATCH` when `ref` pins a digest the source does not have;
 *   `E_AUTH`, `E_REGISTRY`, `E_ABORTED`
 */
export async function registryWrite(
  ref: string | Reference,
  source: Image | ImageIndex,
  options: RegistryWriteOptions = {},
): Promise<WriteResult> {
  const target = toReference(ref);
  const top = await source.descriptor();
  if (target.digest && target.digest !== top.digest) {
    throw new CairnError(
      "E_DIGEST_MISMATCH",
      `cannot push ${top.digest} as ${target.toString()}: the reference pins another digest`,
    );
  }
  const mounts = await mountSources(source, target);
  const client = clientFor(target.domain, options, target.repository).withScopes([
    repositoryScope(target.repository, ["pull", "push"]),
    ...mounts.map((repo) => repositoryScope(repo, ["pull"])),
  ]);
  if (!isDigest(top.digest))
    throw new CairnError("E_DIGEST_INVALID", `source digest ${top.digest} is not usable`);
  const reference = target.tag ?? top.digest;
  const writer = new RepositoryWriter(client, target, options);
  try {
    const descriptor = isImageIndex(source)
      ? await writer.index(source, reference)
      : await writer.image(source, reference);
    return { descriptor, reference: target.withDigest(descriptor.digest), blobs: { ...writer.counts } };
  } catch (err) {
    writer.abort(err);
    throw err;
  } finally {
    writer.close();
  }
}

/**
 * Runs `fn` over `items` with at most `limit` at once. After the first failure no new item
 * starts and `onFailure` is told (to abort those under way); the call waits for them to settle,
 * then rethrows that first failure.
 */
async function settleLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  onFailure: (err: unknown) => void,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (error) {
        if (!failure) {
          failure = { error };
          onFailure(error);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
}

/** The other repositories of the target registry the source's blobs come from. */
async function mountSources(source: Image | ImageIndex, target: Reference): Promise<string[]> {
  const found = new Set<string>();
  const add = (o: BlobOrigin | undefined) => {
    if (o && o.registry === target.domain && o.repository !== target.repository) found.add(o.repository);
  };
  add(registryOrigin(source));
  if (!isImageIndex(source)) {
    for (const l of await source.layers()) add(registryOrigin(l));
  }
  return [...found].sort();
}
