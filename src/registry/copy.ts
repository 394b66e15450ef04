import { OciLayout } from "../content/index.js";
import type { Digest } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import {
  findInStore,
  formatImageLocation,
  type Image,
  type ImageIndex,
  ImageLayout,
  type ImageLocation,
  isImageIndex,
  openLocal,
  parseImageLocation,
  writeLocal,
} from "../image/index.js";
import { type Descriptor, hostPlatform } from "../manifest/index.js";
import type { Reference } from "../reference/index.js";
import { type RegistryOptions, toReference } from "./options.js";
import { type RegistryWriteOptions, registryWrite, type WriteResult } from "./sink.js";
import { type RegistrySourceOptions, registryGet } from "./source.js";

/** Options for {@link pull}. */
export interface PullOptions extends RegistrySourceOptions {
  /** The layout to write into: an {@link ImageLayout} or a directory (created if missing). Default: the default store. */
  layout?: ImageLayout | string;
  /** Pull every platform of an index (the index itself and all its images). */
  allPlatforms?: boolean;
  /** Blobs downloaded at once (default 4). */
  jobs?: number;
  /** The same as `jobs`. */
  concurrency?: number;
  /**
   * The name recorded in the layout's `index.json`; `false` for none. Default: the full
   * reference (`docker.io/library/alpine:3.20`) in the default store, the tag in a given layout.
   */
  tag?: string | false;
}

/** What {@link pull} wrote. */
export interface PullResult {
  /** The reference pulled, pinned to the digest written. */
  reference: Reference;
  /** Digest of the manifest (or index) written. */
  digest: Digest;
  descriptor: Descriptor;
  /** The layout directory. */
  layout: string;
  /** The name recorded in `index.json`, if any. */
  tag?: string;
}

/**
 * Pulls an image into an OCI layout (the default store unless `layout` says otherwise):
 * `ImageLayout.write(await registryImage(ref))`. From an index, the image for `platform`
 * (default: this host's) is pulled, or with `allPlatforms` the whole index. Blobs the layout
 * has are skipped; each blob is verified and becomes visible only once complete.
 *
 * @example
 * ```ts
 * const { digest } = await pull("localhost:5000/acme/app:1.0", { layout: "./oci", onProgress: console.log });
 * ```
 */
export async function pull(
  ref: string | Reference,
  storeOrOptions?: ImageLayout | OciLayout | string | PullOptions,
  moreOptions: PullOptions = {},
): Promise<PullResult> {
  const options = pullOptions(storeOrOptions, moreOptions);
  const r = toReference(ref);
  // aborted by the caller or by the first failed blob: no download outlives this call
  const controller = new AbortController();
  const stop = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener("abort", stop, { once: true });
  try {
    const got = await registryGet(r, { ...options, signal: controller.signal });
    const source =
      isImageIndex(got) && !options.allPlatforms ? await got.image(options.platform ?? hostPlatform()) : got;
    const layout =
      options.layout === undefined
        ? await ImageLayout.openDefault()
        : typeof options.layout === "string"
          ? await ImageLayout.open(options.layout, { create: true })
          : options.layout;
    const tag =
      options.tag === false
        ? undefined
        : (options.tag ?? (options.layout === undefined ? r.toString() : r.tag));
    const descriptor = await layout.write(source, {
      ...(tag ? { tag } : {}),
      ...(options.jobs !== undefined ? { jobs: options.jobs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onProgress: (e) => {
        if (e.skipped) {
          options.onProgress?.({
            direction: "pull",
            digest: e.digest,
            done: e.size,
            total: e.size,
            status: "exists",
          });
        }
      },
    });
    return {
      reference: r.withDigest(descriptor.digest),
      digest: descriptor.digest,
      descriptor,
      layout: layout.dir,
      ...(tag ? { tag } : {}),
    };
  } catch (err) {
    controller.abort(err);
    throw err;
  } finally {
    options.signal?.removeEventListener("abort", stop);
  }
}

/** `pull(ref, store, options)` and `pull(ref, options)` both work: the store may come first. */
function pullOptions(
  storeOrOptions: ImageLayout | OciLayout | string | PullOptions | undefined,
  options: PullOptions,
): PullOptions {
  const merged: PullOptions =
    storeOrOptions === undefined
      ? { ...options }
      : typeof storeOrOptions === "string" || storeOrOptions instanceof ImageLayout
        ? { ...options, layout: storeOrOptions }
        : storeOrOptions instanceof OciLayout
          ? { ...options, layout: new ImageLayout(storeOrOptions) }
          : { ...storeOrOptions, ...options };
  if (merged.jobs === undefined && merged.concurrency !== undefined) merged.jobs = merged.concurrency;
  return merged;
}

/** What {@link push} and {@link copy} take as a source or destination. */
export type ImageEndpoint = string | Reference | ImageLocation;

function isRegistryEndpoint(e: ImageEndpoint): boolean {
  if (typeof e !== "string") return !("transport" in e) || e.transport === "docker" || e.transport === "name";
  return e.startsWith("docker://") || !/^(oci|docker-archive|store):/.test(e);
}

function registryRef(e: string | Reference | ImageLocation): Reference {
  if (typeof e === "object" && "transport" in e) {
    if (e.transport === "docker") return toReference(e.ref);
    if (e.transport === "name") return toReference(e.name);
    throw new CairnError("E_TRANSPORT_INVALID", `${formatImageLocation(e)} is not a registry image`);
  }
  return toReference(e);
}

/** Options for {@link copy}. */
export interface CopyOptions extends RegistryWriteOptions {
  /** Copy only the image for this platform out of an index (default: the whole index). */
  platform?: RegistrySourceOptions["platform"];
  /** Options for the source registry, when they differ from the destination's. */
  source?: RegistryOptions;
}

/**
 * Opens a source: a registry reference (`docker://REF`, or a bare reference), `oci:DIR[:TAG]`,
 * `docker-archive:FILE[:REF]`, or an {@link ImageLocation}.
 *
 * @example
 * ```ts
 * const src = await openImage("oci:./layout:1.0");
 * ```
 */
export async function openImage(
  from: ImageEndpoint,
  options: RegistrySourceOptions = {},
): Promise<Image | ImageIndex> {
  if (typeof from === "object" && "transport" in from && from.transport === "docker")
    return registryGet(registryRef(from), options);
  const location =
    typeof from === "string" ? parseImageLocation(from) : "transport" in from ? from : undefined;
  if (location?.transport === "name") {
    // a bare name: the default store's image of that name when it has one, else the registry
    const store = await ImageLayout.openDefault();
    const found = await findInStore(store, location.name);
    if (found) return store.get(found);
  }
  if (isRegistryEndpoint(from)) return registryGet(registryRef(from), options);
  return openLocal(location ?? parseImageLocation(String(from)));
}

/**
 * Pushes an image or index (or the image at a local location such as `oci:DIR:TAG`) to a
 * registry: `registryWrite(ref, image)`.
 *
 * @example
 * ```ts
 * await push("oci:./layout:1.0", "localhost:5000/acme/app:1.0");
 * ```
 */
export async function push(
  source: Image | ImageIndex | ImageEndpoint,
  ref: string | Reference,
  options: RegistryWriteOptions = {},
): Promise<WriteResult> {
  const image = isModel(source) ? source : await openImage(source, options);
  return registryWrite(ref, image, options);
}

function isModel(x: unknown): x is Image | ImageIndex {
  return (
    typeof x === "object" && x !== null && typeof (x as { rawManifest?: unknown }).rawManifest === "function"
  );
}

/** What {@link copy} did. */
export interface CopyResult {
  /** Digest of the top manifest at the destination. */
  digest: Digest;
  /** When the destination is a registry, what the push did. */
  write?: WriteResult;
}

/**
 * Copies an image or index between any two transports, byte for byte: registry to registry
 * (mounting blobs within one registry, skipping blobs the target has), registry to `oci:` or
 * `docker-archive:` and back. Strings are `docker://REF` or bare references for registries,
 * `oci:DIR[:TAG]` and `docker-archive:FILE[:REF]` for files.
 *
 * @example
 * ```ts
 * await copy("docker://localhost:5000/a:1", "docker://localhost:5000/b:1");
 * ```
 */
export async function copy(
  from: ImageEndpoint,
  to: ImageEndpoint,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const sourceOptions: RegistrySourceOptions = {
    ...options,
    ...(options.source ?? {}),
    ...(options.platform !== undefined ? { platform: options.platform } : {}),
  };
  let source = await openImage(from, sourceOptions);
  if (options.platform !== undefined && isImageIndex(source)) source = await source.image(options.platform);
  if (isRegistryEndpoint(to)) {
    const write = await registryWrite(registryRef(to), source, options);
    return { digest: write.descriptor.digest, write };
  }
  const location = typeof to === "string" ? parseImageLocation(to) : (to as ImageLocation);
  await writeLocal(source, location, {
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (e) => {
      if (e.skipped)
        options.onProgress?.({
          direction: "pull",
          digest: e.digest,
          done: e.size,
          total: e.size,
          status: "exists",
        });
    },
  });
  if (location.transport === "oci" && location.tag) {
    // an oci: layout may hold a converted (OCI-typed) copy: report what it holds
    const layout = await ImageLayout.open(location.dir);
    return { digest: (await layout.store.resolve(location.tag)).digest };
  }
  return { digest: (await source.descriptor()).digest };
}
