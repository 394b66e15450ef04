import { existsSync } from "node:fs";
import { CairnError } from "../errors/index.js";
import { openDockerArchive } from "./docker-archive-read.js";
import { type DockerArchiveImage, writeDockerArchive } from "./docker-archive-write.js";
import { ImageLayout } from "./layout.js";
import { toOci } from "./mutate.js";
import { type ImageLocation, parseImageLocation } from "./transport.js";
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
      return (await ImageLayout.openDefault()).get(loc.name);
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
      await layout.write(source, { ...options, tag: loc.name });
      return;
    }
    case "docker":
      throw new CairnError("E_TRANSPORT_INVALID", "docker:// images are written with the registry module");
  }
}
