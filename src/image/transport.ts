import { CairnError } from "../errors/index.js";

/** Where an image lives, in skopeo's transport names. */
export type ImageLocation =
  | { transport: "oci"; dir: string; tag?: string }
  | { transport: "docker-archive"; file: string; ref?: string }
  | { transport: "docker"; ref: string }
  | { transport: "store"; name: string }
  /** A bare name: as a source, the default store's image of that name if it has one, else a registry. */
  | { transport: "name"; name: string };

/**
 * Parses an image location as the CLI takes it: `oci:DIR[:TAG]`, `docker-archive:FILE[:REF]`,
 * `docker://REF`, `store:NAME` (the default store), or a bare name (as a source: the default
 * store's image of that name when it has one, else the registry; as a destination: a registry).
 *
 * @example
 * ```ts
 * parseImageLocation("oci:./layout:v1") // { transport: "oci", dir: "./layout", tag: "v1" }
 * ```
 */
export function parseImageLocation(spec: string): ImageLocation {
  if (spec === "") throw new CairnError("E_TRANSPORT_INVALID", "empty image location");
  if (spec.startsWith("docker://")) {
    const ref = spec.slice("docker://".length);
    if (!ref) throw new CairnError("E_TRANSPORT_INVALID", `"${spec}": docker:// needs an image reference`);
    return { transport: "docker", ref };
  }
  if (spec.startsWith("store:")) {
    const name = spec.slice("store:".length);
    if (!name) throw new CairnError("E_TRANSPORT_INVALID", `"${spec}": store: needs a name or digest`);
    return { transport: "store", name };
  }
  if (spec.startsWith("oci:")) {
    const { path, name } = splitPathAndName(spec.slice(4), spec);
    return { transport: "oci", dir: path, ...(name ? { tag: name } : {}) };
  }
  if (spec.startsWith("docker-archive:")) {
    const { path, name } = splitPathAndName(spec.slice("docker-archive:".length), spec);
    return { transport: "docker-archive", file: path, ...(name ? { ref: name } : {}) };
  }
  const colon = spec.indexOf(":");
  const scheme = colon > 0 ? spec.slice(0, colon) : "";
  if (/^[a-z][a-z0-9-]*$/.test(scheme) && KNOWN_OTHER.has(scheme)) {
    throw new CairnError(
      "E_TRANSPORT_INVALID",
      `"${spec}": the ${scheme}: transport is not supported by cairn`,
    );
  }
  return { transport: "name", name: spec };
}

const KNOWN_OTHER = new Set(["containers-storage", "docker-daemon", "dir", "oci-archive", "sif", "tarball"]);

/** Splits `PATH[:NAME]` at the first `:`, as skopeo does (so a path cannot hold a `:`). */
function splitPathAndName(rest: string, spec: string): { path: string; name?: string } {
  const colon = rest.indexOf(":");
  const path = colon < 0 ? rest : rest.slice(0, colon);
  const name = colon < 0 ? "" : rest.slice(colon + 1);
  if (!path) throw new CairnError("E_TRANSPORT_INVALID", `"${spec}": missing a path`);
  return name ? { path, name } : { path };
}

/** Formats an {@link ImageLocation} back into its string form. */
export function formatImageLocation(loc: ImageLocation): string {
  switch (loc.transport) {
    case "oci":
      return `oci:${loc.dir}${loc.tag ? `:${loc.tag}` : ""}`;
    case "docker-archive":
      return `docker-archive:${loc.file}${loc.ref ? `:${loc.ref}` : ""}`;
    case "docker":
      return `docker://${loc.ref}`;
    case "store":
      return `store:${loc.name}`;
    case "name":
      return loc.name;
  }
}
