import { createReadStream } from "node:fs";
import { open as openFile } from "node:fs/promises";
import { type Digest, digestOf } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import {
  type Descriptor,
  type ImageConfig,
  type ImageManifest,
  MediaType,
  parseImageConfig,
} from "../manifest/index.js";
import { parseReference } from "../reference/index.js";
import { imageFromParts } from "./from-parts.js";
import { layerFromSource, withMediaType } from "./layer.js";
import { indexTar, type TarIndex, type TarMember } from "./tar-index.js";
import type { Image, Layer } from "./types.js";

/** One entry of a docker-archive's `manifest.json`. */
export interface DockerArchiveEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

const MAX_JSON_BYTES = 8 * 1024 * 1024;
const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

function member(idx: TarIndex, name: string, what: string): TarMember {
  const m = idx.members.get(name.replace(/^\.?\//, ""));
  if (!m) throw new CairnError("E_ARCHIVE_INVALID", `${idx.file}: ${what} "${name}" is not in the archive`);
  return m;
}

async function readMember(idx: TarIndex, m: TarMember): Promise<Uint8Array> {
  if (m.size > MAX_JSON_BYTES) {
    throw new CairnError(
      "E_SIZE_LIMIT",
      `${idx.file}: ${m.name} is ${m.size} bytes, more than ${MAX_JSON_BYTES}`,
    );
  }
  const fh = await openFile(idx.file, "r");
  try {
    const buf = Buffer.alloc(m.size);
    await fh.read(buf, 0, m.size, m.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

function openMember(idx: TarIndex, m: TarMember) {
  return createReadStream(idx.file, { start: m.offset, end: m.offset + m.size - 1, highWaterMark: 1 << 20 });
}

async function magic(idx: TarIndex, m: TarMember): Promise<"gzip" | "zstd" | "none"> {
  const fh = await openFile(idx.file, "r");
  try {
    const buf = Buffer.alloc(4);
    await fh.read(buf, 0, 4, m.offset);
    if (GZIP.every((b, i) => buf[i] === b)) return "gzip";
    if (ZSTD.every((b, i) => buf[i] === b)) return "zstd";
    return "none";
  } finally {
    await fh.close();
  }
}

function parseArchiveManifest(bytes: Uint8Array, file: string): DockerArchiveEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (e) {
    throw new CairnError("E_ARCHIVE_INVALID", `${file}: manifest.json is not valid JSON`, { cause: e });
  }
  if (!Array.isArray(value) || value.length === 0) {
    throw new CairnError("E_ARCHIVE_INVALID", `${file}: manifest.json must be a non-empty array of images`);
  }
  return value.map((e: unknown, i) => {
    const entry = e as Partial<DockerArchiveEntry>;
    if (
      typeof entry !== "object" ||
      entry === null ||
      typeof entry.Config !== "string" ||
      !Array.isArray(entry.Layers) ||
      !entry.Layers.every((l) => typeof l === "string") ||
      !(
        entry.RepoTags == null ||
        (Array.isArray(entry.RepoTags) && entry.RepoTags.every((t) => typeof t === "string"))
      )
    ) {
      throw new CairnError(
        "E_ARCHIVE_INVALID",
        `${file}: manifest.json[${i}] must have "Config" (string), "Layers" (strings) and "RepoTags" (strings or null)`,
        { path: `$[${i}]` },
      );
    }
    return entry as DockerArchiveEntry;
  });
}

/** A docker-archive (the `docker save` format), indexed and ready to read images from. */
export interface DockerArchive {
  file: string;
  entries: DockerArchiveEntry[];
  /** The image at position `i` of manifest.json, or the one tagged `ref`. */
  image(which?: number | string): Promise<Image>;
}

/**
 * Opens a docker-archive tar (as written by `docker save` or `skopeo copy ... docker-archive:`),
 * reading only its headers; images are read lazily, each layer straight from the tar.
 *
 * @example
 * ```ts
 * const archive = await openDockerArchive("busybox.tar");
 * const image = await archive.image("busybox:latest");
 * ```
 */
export async function openDockerArchive(file: string): Promise<DockerArchive> {
  const idx = await indexTar(file);
  const entries = parseArchiveManifest(await readMember(idx, member(idx, "manifest.json", "file")), file);
  return {
    file,
    entries,
    async image(which = 0) {
      const entry = typeof which === "number" ? entries[which] : findByTag(entries, which);
      if (!entry) {
        const tags = entries.flatMap((e) => e.RepoTags ?? []);
        throw new CairnError(
          "E_NOT_FOUND",
          `${file}: no image ${JSON.stringify(which)} in the archive (it has ${entries.length} image(s)${tags.length ? `: ${tags.join(", ")}` : ""})`,
        );
      }
      return archiveImage(idx, entry);
    },
  };
}

function findByTag(entries: DockerArchiveEntry[], ref: string): DockerArchiveEntry | undefined {
  const want = parseReference(ref).toString();
  return entries.find((e) => (e.RepoTags ?? []).some((t) => parseReference(t).toString() === want));
}

async function archiveImage(idx: TarIndex, entry: DockerArchiveEntry): Promise<Image> {
  const rawConfig = await readMember(idx, member(idx, entry.Config, "config"));
  const config = parseImageConfig(rawConfig) as ImageConfig;
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== entry.Layers.length) {
    throw new CairnError(
      "E_ARCHIVE_INVALID",
      `${idx.file}: manifest.json lists ${entry.Layers.length} layers but config ${entry.Config} has ${diffIds.length} diff_ids`,
    );
  }
  const layers: Layer[] = await Promise.all(
    entry.Layers.map(async (name, i) => {
      const m = member(idx, name, "layer");
      const diffId = diffIds[i] as Digest;
      const source = entry.LayerSources?.[diffId];
      if (source && m.size === 0) {
        throw new CairnError(
          "E_ARCHIVE_INVALID",
          `${idx.file}: foreign layer ${diffId} has no bytes in the archive`,
        );
      }
      const compression = await magic(idx, m);
      const mediaType =
        compression === "gzip"
          ? MediaType.dockerLayerGzip
          : compression === "zstd"
            ? MediaType.ociLayerZstd
            : MediaType.dockerLayer;
      const digest = compression === "none" ? diffId : await digestOf(openMember(idx, m));
      return layerFromSource({
        descriptor: { mediaType, digest, size: m.size },
        diffId,
        open: async () => openMember(idx, m),
        where: `${idx.file}:${m.name}`,
      });
    }),
  );
  const anyZstd = layers.some((l) => l.descriptor.mediaType === MediaType.ociLayerZstd);
  const manifest: ImageManifest = anyZstd
    ? {
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: placeholderConfig(MediaType.ociConfig),
        layers: [],
      }
    : {
        schemaVersion: 2,
        mediaType: MediaType.dockerManifest,
        config: placeholderConfig(MediaType.dockerConfig),
        layers: [],
      };
  return imageFromParts({
    manifest,
    config,
    rawConfig,
    layers: anyZstd ? layers.map((l) => withOciType(l)) : layers,
  });
}

function placeholderConfig(mediaType: string): Descriptor {
  // imageFromParts fills in the real digest and size of the config bytes
  return { mediaType, digest: `sha256:${"0".repeat(64)}`, size: 0 };
}

function withOciType(layer: Layer): Layer {
  const t = layer.descriptor.mediaType;
  const mediaType =
    t === MediaType.dockerLayerGzip
      ? MediaType.ociLayerGzip
      : t === MediaType.dockerLayer
        ? MediaType.ociLayer
        : t;
  return withMediaType(layer, mediaType);
}
