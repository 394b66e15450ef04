/**
 * Choosing the manifest for a platform from an index or manifest list.
 */
import { CairnError } from "../errors/index.js";
import { describePlatform, normalizePlatform, parsePlatform, platformRank } from "./platform.js";
import type { Descriptor, Platform } from "./types.js";

/** Anything with a list of manifest descriptors: an OCI index or a Docker manifest list. */
export interface ManifestListLike {
  manifests: readonly Descriptor[];
}

/**
 * The descriptor in `index` that best suits `platform` (a {@link Platform} or a string such as
 * `"linux/arm/v7"`): an exact match first, then the closest fallback (`arm/v6` for an `arm/v7`
 * host, `amd64` for `amd64/v3`, …); among equals, an exact Windows `os.version`, then the first
 * in the index. Entries without a platform are never chosen.
 *
 * @example
 * ```ts
 * const desc = selectManifest(index, "linux/arm64")
 * const child = await store.read(desc.digest)
 * ```
 * @throws CairnError `E_PLATFORM_NOT_FOUND` listing the platforms the index has;
 *   `E_PLATFORM_INVALID` for a malformed platform string
 */
export function selectManifest(index: ManifestListLike, platform: Platform | string): Descriptor {
  const want = typeof platform === "string" ? parsePlatform(platform) : normalizePlatform(platform);
  let best: { descriptor: Descriptor; rank: number; exactOsVersion: boolean } | undefined;
  for (const descriptor of index.manifests) {
    if (descriptor.platform === undefined) continue;
    const rank = platformRank(want, descriptor.platform);
    if (rank === undefined) continue;
    const exactOsVersion =
      want["os.version"] !== undefined && descriptor.platform["os.version"] === want["os.version"];
    if (
      best === undefined ||
      rank < best.rank ||
      (rank === best.rank && exactOsVersion && !best.exactOsVersion)
    ) {
      best = { descriptor, rank, exactOsVersion };
    }
  }
  if (best !== undefined) return best.descriptor;
  const available = index.manifests.map((d) => describePlatform(d.platform));
  const wanted = describePlatform(want);
  throw new CairnError(
    "E_PLATFORM_NOT_FOUND",
    `no manifest for platform ${wanted} (or a compatible one) in the index; it has: ${
      available.length > 0 ? available.join(", ") : "no manifests at all"
    }`,
    { details: { wanted, available } },
  );
}
