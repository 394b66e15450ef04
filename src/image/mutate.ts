import { CairnError } from "../errors/index.js";
import {
  type ContainerConfig,
  type Descriptor,
  dockerLayerMediaType,
  type HistoryEntry,
  type ImageConfig,
  type ImageManifest,
  MediaType,
  ociLayerMediaType,
  type Platform,
} from "../manifest/index.js";
import { imageFromParts, imageParts } from "./from-parts.js";
import { withMediaType } from "./layer.js";
import type { Image, Layer } from "./types.js";

/** A layer to append, with the history entry that describes it. */
export interface LayerAddition {
  layer: Layer;
  history?: HistoryEntry;
}

function isDocker(m: ImageManifest): boolean {
  return m.mediaType === MediaType.dockerManifest;
}

/** Gives a layer the media type family of the manifest it joins (Docker or OCI). */
function fitLayer(layer: Layer, docker: boolean): Layer {
  const t = layer.descriptor.mediaType;
  if (docker) {
    const d = dockerLayerMediaType(t);
    if (!d) {
      throw new CairnError(
        "E_MANIFEST_UNSUPPORTED",
        `a Docker schema 2 manifest cannot hold a layer of type ${t}: convert the image with toOci() first`,
      );
    }
    return withMediaType(layer, d);
  }
  return withMediaType(layer, ociLayerMediaType(t) ?? t);
}

/**
 * A new image with `additions` appended on top of `base`'s layers; the config's diff IDs and
 * history grow to match. Layer bytes are not copied or read, except to compute a missing diff ID.
 *
 * @example
 * ```ts
 * const next = await appendLayers(base, { layer, history: { created_by: "COPY app /app" } });
 * ```
 */
export async function appendLayers(base: Image, ...additions: (Layer | LayerAddition)[]): Promise<Image> {
  const parts = await imageParts(base);
  const docker = isDocker(parts.manifest);
  for (const a of additions) {
    const { layer, history } = "layer" in a ? a : { layer: a, history: undefined };
    parts.layers.push(fitLayer(layer, docker));
    parts.config.rootfs.diff_ids.push(await layer.diffId());
    const entry: HistoryEntry = { ...(history ?? {}) };
    entry.created ??= new Date().toISOString();
    entry.created_by ??= "cairn appendLayers";
    parts.config.history = [...(parts.config.history ?? []), entry];
  }
  return imageFromParts(parts);
}

/** Fields of the container config that {@link setConfig} edits, in friendly form. */
export interface ConfigChanges {
  /** Merged into `Env` (`KEY` replaced in place); a `null` value removes the variable. An array replaces Env. */
  env?: Record<string, string | null> | string[];
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  user?: string;
  workdir?: string;
  /** Merged into `Labels`; a `null` value removes the label. */
  labels?: Record<string, string | null>;
  /** Ports like `80/tcp` or `53` (tcp implied), added to `ExposedPorts`. */
  exposedPorts?: string[];
  /** Paths added to `Volumes`. */
  volumes?: string[];
  stopSignal?: string;
  /** Sets `os`, `architecture`, `variant` and `os.version` of the config. */
  platform?: Platform;
  /** A free-form edit applied last. */
  edit?: (config: ContainerConfig) => ContainerConfig;
}

function mergeEnv(env: string[], changes: Record<string, string | null>): string[] {
  const out = [...env];
  for (const [key, value] of Object.entries(changes)) {
    const at = out.findIndex((e) => e === key || e.startsWith(`${key}=`));
    if (value === null) {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = `${key}=${value}`;
    else out.push(`${key}=${value}`);
  }
  return out;
}

function mergeMap(
  base: Record<string, string>,
  changes: Record<string, string | null>,
): Record<string, string> {
  const out = { ...base };
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out;
}

function addSet(
  base: Record<string, Record<string, never>> | null | undefined,
  keys: string[],
): Record<string, Record<string, never>> {
  const out = { ...(base ?? {}) };
  for (const k of keys) out[k] = {};
  return out;
}

/** Applies {@link ConfigChanges} to an image config, returning a new config. */
export function applyConfigChanges(config: ImageConfig, changes: ConfigChanges): ImageConfig {
  const next = structuredClone(config);
  let c: ContainerConfig = { ...(next.config ?? {}) };
  if (changes.env !== undefined) {
    c.Env = Array.isArray(changes.env) ? [...changes.env] : mergeEnv(c.Env ?? [], changes.env);
  }
  if (changes.entrypoint !== undefined) c.Entrypoint = changes.entrypoint;
  if (changes.cmd !== undefined) c.Cmd = changes.cmd;
  if (changes.user !== undefined) c.User = changes.user;
  if (changes.workdir !== undefined) c.WorkingDir = changes.workdir;
  if (changes.labels !== undefined) c.Labels = mergeMap(c.Labels ?? {}, changes.labels);
  if (changes.exposedPorts !== undefined) {
    c.ExposedPorts = addSet(
      c.ExposedPorts,
      changes.exposedPorts.map((p) => (p.includes("/") ? p : `${p}/tcp`)),
    );
  }
  if (changes.volumes !== undefined) c.Volumes = addSet(c.Volumes, changes.volumes);
  if (changes.stopSignal !== undefined) c.StopSignal = changes.stopSignal;
  if (changes.edit) c = changes.edit(c);
  next.config = c;
  if (changes.platform) {
    next.os = changes.platform.os;
    next.architecture = changes.platform.architecture;
    if (changes.platform.variant) next.variant = changes.platform.variant;
    else delete next.variant;
    if (changes.platform["os.version"]) next["os.version"] = changes.platform["os.version"];
  }
  return next;
}

/**
 * A new image whose config has `changes` applied (env, entrypoint, cmd, user, workdir, labels,
 * exposed ports, volumes, stop signal, platform). Layers are shared, not copied.
 *
 * @example
 * ```ts
 * const next = await setConfig(image, { env: { PATH: "/bin" }, cmd: ["/bin/sh"], workdir: "/app" });
 * ```
 */
export async function setConfig(image: Image, changes: ConfigChanges): Promise<Image> {
  const parts = await imageParts(image);
  parts.config = applyConfigChanges(parts.config, changes);
  if (changes.platform) parts.platform = changes.platform;
  return imageFromParts(parts);
}

/**
 * A new image with its manifest annotations merged with `annotations` (`null` removes one).
 * Docker schema 2 manifests cannot carry annotations, so such an image is converted to OCI.
 *
 * @example
 * ```ts
 * const next = await setAnnotations(image, { "org.opencontainers.image.source": "https://example.com/repo" });
 * ```
 */
export async function setAnnotations(
  image: Image,
  annotations: Record<string, string | null>,
): Promise<Image> {
  const parts = await imageParts(await toOci(image));
  const m = parts.manifest as ImageManifest & { annotations?: Record<string, string> };
  const merged = mergeMap(m.annotations ?? {}, annotations);
  if (Object.keys(merged).length > 0) m.annotations = merged;
  else delete m.annotations;
  return imageFromParts(parts);
}

/**
 * A new image whose config `created` time (and every history entry's, when `history` is true)
 * is `date`: what reproducible builds use to pin timestamps.
 *
 * @example
 * ```ts
 * const next = await setCreated(image, new Date(0));
 * ```
 */
export async function setCreated(
  image: Image,
  date: Date,
  options: { history?: boolean } = {},
): Promise<Image> {
  const parts = await imageParts(image);
  const iso = date.toISOString();
  parts.config.created = iso;
  if (options.history && parts.config.history) {
    parts.config.history = parts.config.history.map((h) => ({ ...h, created: iso }));
  }
  return imageFromParts(parts);
}

/**
 * The same image with OCI media types (manifest, config and layers); an OCI image is returned as is.
 *
 * @example
 * ```ts
 * const oci = await toOci(dockerImage);
 * ```
 */
export async function toOci(image: Image): Promise<Image> {
  const manifest = await image.manifest();
  if (!isDocker(manifest)) return image;
  const parts = await imageParts(image);
  const config: Descriptor = { ...parts.manifest.config, mediaType: MediaType.ociConfig };
  parts.manifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [] };
  parts.layers = parts.layers.map((l) => fitLayer(l, false));
  return imageFromParts(parts);
}
