import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rename, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { digestHex } from "../digest/index.js";
import { layerCompression } from "../manifest/index.js";
import { parseReference } from "../reference/index.js";
import type { DockerArchiveEntry } from "./docker-archive-read.js";
import type { Image, Layer, ReadOptions } from "./types.js";

/** One image to put into a docker-archive, with the tags `docker load` should give it. */
export interface DockerArchiveImage {
  image: Image;
  tags?: string[];
}

const ENTRY_DEFAULTS = { mode: 0o644, mtime: new Date(0), uid: 0, gid: 0 } as const;

function addEntry(pack: tar.Pack, name: string, size: number, source: Readable | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    const sink = pack.entry({ name, size, ...ENTRY_DEFAULTS }, (err) => (err ? reject(err) : resolve()));
    if (source instanceof Uint8Array) {
      sink.end(Buffer.from(source));
      return;
    }
    source.on("error", (e) => {
      sink.destroy(e);
      reject(e);
    });
    source.pipe(sink);
  });
}

/** The uncompressed tar of a layer and its size, spooling compressed layers to a temp file. */
async function uncompressedLayer(
  layer: Layer,
  spoolDir: string,
  options: ReadOptions,
): Promise<{ size: number; open: () => Promise<Readable> }> {
  if (layerCompression(layer.descriptor.mediaType) === "none") {
    return { size: layer.descriptor.size, open: () => layer.open(options) };
  }
  const file = path.join(spoolDir, randomBytes(8).toString("hex"));
  await pipeline(await layer.openUncompressed(options), createWriteStream(file));
  const { size } = await stat(file);
  return { size, open: async () => createReadStream(file, { highWaterMark: 1 << 20 }) };
}

/**
 * Writes images into a docker-archive tar (the `docker save` format that `docker load` and
 * `skopeo copy docker-archive:` read): configs as `<id>.json`, uncompressed layers as
 * `<diffid>.tar` (each stored once), `manifest.json` and `repositories`. The file appears
 * atomically when complete.
 *
 * @example
 * ```ts
 * await writeDockerArchive("out.tar", [{ image, tags: ["example.com/app:1.0"] }]);
 * ```
 */
export async function writeDockerArchive(
  file: string,
  images: DockerArchiveImage[],
  options: ReadOptions = {},
): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString("hex")}`;
  const spoolDir = await mkdtemp(path.join(tmpdir(), "cairn-archive-"));
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(tmp));
  try {
    const entries: DockerArchiveEntry[] = [];
    const repositories: Record<string, Record<string, string>> = {};
    const seen = new Set<string>();
    for (const { image, tags = [] } of images) {
      const manifest = await image.manifest();
      const configName = `${digestHex(manifest.config.digest)}.json`;
      if (!seen.has(configName)) {
        seen.add(configName);
        await addEntry(pack, configName, manifest.config.size, await image.rawConfig());
      }
      const layerNames: string[] = [];
      for (const layer of await image.layers()) {
        const name = `${digestHex(await layer.diffId())}.tar`;
        layerNames.push(name);
        if (seen.has(name)) continue;
        seen.add(name);
        const { size, open } = await uncompressedLayer(layer, spoolDir, options);
        await addEntry(pack, name, size, await open());
      }
      const repoTags = tags.map((t) => parseReference(t).familiar());
      entries.push({ Config: configName, RepoTags: repoTags, Layers: layerNames });
      const last = layerNames.at(-1)?.replace(/\.tar$/, "");
      for (const t of tags) {
        const ref = parseReference(t);
        if (!ref.tag || !last) continue;
        const repo = ref
          .withTag(ref.tag)
          .familiar()
          .replace(/:[^:/]+$/, "");
        repositories[repo] = { ...(repositories[repo] ?? {}), [ref.tag]: last };
      }
    }
    const manifestJson = Buffer.from(JSON.stringify(entries));
    await addEntry(pack, "manifest.json", manifestJson.length, manifestJson);
    if (Object.keys(repositories).length > 0) {
      const repos = Buffer.from(JSON.stringify(repositories));
      await addEntry(pack, "repositories", repos.length, repos);
    }
    pack.finalize();
    await written;
    await rename(tmp, file);
  } catch (e) {
    pack.destroy();
    await written.catch(() => undefined);
    await rm(tmp, { force: true });
    throw e;
  } finally {
    await rm(spoolDir, { recursive: true, force: true });
  }
}
