/**
 * Where a built image goes: tags in the default store, `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`
 * (tagged with the build's tags when no REF is given), or a registry (`docker://REF`).
 */
import { CairnError } from "../errors/index.js";
import {
  type Image,
  type ImageLayout,
  parseImageLocation,
  storeName,
  writeDockerArchive,
  writeLocal,
} from "../image/index.js";
import { type RegistryOptions, registryWrite } from "../registry/index.js";

/** Options for {@link writeOutputs}. */
export interface WriteOutputsOptions {
  store: ImageLayout;
  /** Names to tag the image with in the store. */
  tags: readonly string[];
  /** Further destinations. */
  outputs: readonly string[];
  registryOptions?: RegistryOptions;
  signal?: AbortSignal;
  /** Told about each destination as it is written. */
  onWrite?: (what: string) => void;
}

/**
 * Writes the image to every destination, store tags first.
 *
 * @example
 * ```ts
 * await writeOutputs(image, { store, tags: ["app:1.0"], outputs: ["oci:./out:1.0"] });
 * ```
 * @throws CairnError `E_TRANSPORT_INVALID` for an unknown destination, and what the sinks throw
 */
export async function writeOutputs(image: Image, options: WriteOutputsOptions): Promise<string[]> {
  const written: string[] = [];
  const signal = options.signal ? { signal: options.signal } : {};
  if (options.tags.length > 0 || options.outputs.length === 0) {
    await options.store.write(image, signal);
  }
  for (const tag of options.tags) {
    const descriptor = await image.descriptor();
    // the store names images by their full reference, as pull does
    await options.store.store.tag(storeName(tag), descriptor);
    options.onWrite?.(`naming to ${storeName(tag)}`);
    written.push(tag);
  }
  for (const out of options.outputs) {
    const loc = parseImageLocation(out);
    switch (loc.transport) {
      case "oci":
      case "store":
        await writeLocal(image, loc, signal);
        break;
      case "docker-archive": {
        const tags = loc.ref ? [loc.ref] : [...options.tags];
        await writeDockerArchive(loc.file, [{ image, tags }], signal);
        break;
      }
      case "docker":
        await registryWrite(loc.ref, image, { ...(options.registryOptions ?? {}), ...signal });
        break;
      default:
        throw new CairnError("E_TRANSPORT_INVALID", `cannot write a build to ${out}`);
    }
    options.onWrite?.(`exporting to ${out}`);
    written.push(out);
  }
  return written;
}
