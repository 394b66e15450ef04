import { existsSync } from "node:fs";
import { CairnError } from "../errors/index.js";
import { parseReference } from "../reference/index.js";
import { openDockerArchive } from "./docker-archive-read.js";
import { type DockerArchiveImage, writeDockerArchive } from "./docker-archive-write.js";
import { ImageLayout } from "./layout.js";
import { toOci } from "./mutate.js";
import { formatImageLocation, type ImageLocation, parseImageLocation } from "./transport.js";
import { type Image, type ImageIndex, isImageIndex } from "./types.js";

/**
 * Opens an image or index from a local location: `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`, or
 * a name in the default store. (`docker://` is the registry module's.)
 *
 * @example
 * ```ts
 * const image = await openLocal("docker-archive:busybox.tar");
 * ```
 */
export async function openLocal(location: string | ImageLocation): Promise<Image | ImageIndex> {
  const loc = typeof location === "string" ? parseImageLocation(location) : location;
  switch (loc.transport) {
    case "oci": {
      const layout = await ImageLayout.open(loc.dir);
      return layout.get(loc.tag ?? (await onlyTag(layout, loc.dir)));
    }
    case "docker-archive": {
      if (!existsSync(loc.file))
        throw new CairnError("E_NOT_FOUND", `docker-archive ${loc.file} does not exist`);
      const archive = await openDockerArchive(loc.file);
      return archive.image(loc.ref ?? 0);
    }
    case "store":
    case "name": {
      const store = await ImageLayout.openDefault();
      const found = await findInStore(store, loc.name);
      if (found) return store.get(found);
      throw new CairnError(
        "E_NOT_FOUND",
        `no image named ${JSON.stringify(loc.name)} in the default store ${store.dir}${loc.transport === "name" ? ` (to use a registry: docker://${loc.name})` : ""}`,
      );
    }
    case "docker":
      throw new CairnError("E_TRANSPORT_INVALID", "docker:// images are opened with the registry module");
  }
}

async function onlyTag(layout: ImageLayout, dir: string): Promise<string> {
  const index = await layout.store.index();
  if (index.manifests.length === 1 && index.manifests[0]) return index.manifests[0].digest;
  const tags = await layout.store.tags();
  throw new CairnError(
    "E_USAGE",
    `oci:${dir} holds ${index.manifests.length} manifests: name one as oci:${dir}:TAG (tags: ${tags.join(", ") || "none"})`,
  );
}

/** Options for {@link writeLocal}. */
export interface WriteLocalOptions {
  signal?: AbortSignal;
  onProgress?: (event: { kind: "blob"; digest: string; size: number; skipped: boolean }) => void;
}

/**
 * Writes an image or index to a local location. Docker schema 2 images written to an `oci:`
 * layout are converted to OCI media types, as skopeo does; the default store keeps them as they are.
 *
 * @example
 * ```ts
 * await writeLocal(image, "oci:./out:latest");
 * ```
 */
export async function writeLocal(
  source: Image | ImageIndex,
  location: string | ImageLocation,
  options: WriteLocalOptions = {},
): Promise<void> {
  const loc = typeof location === "string" ? parseImageLocation(location) : location;
  switch (loc.transport) {
    case "oci": {
      const layout = await ImageLayout.open(loc.dir, { create: true });
      const converted = isImageIndex(source) ? source : await toOci(source);
      await layout.write(converted, { ...options, ...(loc.tag ? { tag: loc.tag } : {}) });
      return;
    }
    case "docker-archive": {
      if (isImageIndex(source)) {
        throw new CairnError(
          "E_USAGE",
          "a docker-archive holds single images: pick one platform from the index first",
        );
      }
      const images: DockerArchiveImage[] = [{ image: source, tags: loc.ref ? [loc.ref] : [] }];
      await writeDockerArchive(loc.file, images, options);
      return;
    }
    case "store": {
      const layout = await ImageLayout.openDefault();
      await layout.write(source, { ...options, tag: storeName(loc.name) });
      return;
    }
    case "name":
    case "docker":
      throw new CairnError(
        "E_TRANSPORT_INVALID",
        `${formatImageLocation(loc)} names a registry image: registry destinations are written with the registry module (use store:NAME for the default store)`,
      );
  }
}

/**
 * The name an image gets in the default store: the full normalized reference when `name` is
 * one (`busybox` -> `docker.io/library/busybox:latest`), else `name` as given.
 *
 * @example
 * ```ts
 * storeName("cairn-demo/hello") // "docker.io/cairn-demo/hello:latest"
 * ```
 */
export function storeName(name: string): string {
  if (/^sha(256|512):/.test(name)) return name;
  try {
    return parseReference(name).toString();
  } catch {
    return name;
  }
}

/**
 * Looks `name` up in a store as given, then as its normalized reference; returns the name or
 * digest to resolve, or undefined when the store does not have it.
 *
 * @example
 * ```ts
 * const found = await findInStore(await ImageLayout.openDefault(), "busybox");
 * ```
 */
export async function findInStore(store: ImageLayout, name: string): Promise<string | undefined> {
  if (/^sha(256|512):/.test(name)) return (await store.store.has(name)) ? name : undefined;
  const tags = new Set(await store.store.tags());
  if (tags.has(name)) return name;
  const normalized = storeName(name);
  return tags.has(normalized) ? normalized : undefined;
}
