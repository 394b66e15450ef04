/**
 * Bench (not a test): peak memory, and wall time, of whole processes on a ~1 GiB image of 4
 * uncompressed layers (32 files of 8 MiB of random bytes each): the cairn CLI
 * (`node dist/cli/main.js`) against skopeo, umoci and GNU tar doing the same job, each under
 * GNU time (`%M`, the peak RSS of the process). One run each: these rows are about memory;
 * the timed comparisons, with medians, are the other sections.
 *
 * - put: `cairn copy oci:A oci:B` (every blob streamed into a second layout) vs `skopeo copy`;
 * - push: `cairn push` to a fresh local registry vs `skopeo copy oci: docker://`;
 * - pull: `cairn pull REF oci:DIR` vs `skopeo copy docker:// oci:`;
 * - unpack: `cairn unpack` vs `umoci unpack` vs `tar -xf` of each layer.
 *
 * Run: `npx tsx bench/memory.ts [MiB]` (default 1024).
 */
import { randomFillSync } from "node:crypto";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { appendLayers, emptyImage, layerFromCreated, writeLocal } from "../src/image/index.js";
import { type CreatedLayer, createLayer, type LayerEntry } from "../src/layer/index.js";
import { startRegistry, type TestRegistry } from "../test/helpers/registry.js";
import { type ChildCost, measureChild, settle } from "./measure.js";
import { buildahBudArgs, hasTool, SKOPEO_ENV, skopeoCopyArgs } from "./peers.js";
import { table } from "./report.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(root, "dist/cli/main.js");
const FILE_MIB = 8;
const LAYERS = 4;

/** One process measured. */
export interface MemoryRow {
  operation: "put" | "push" | "pull" | "unpack" | "build";
  tool: string;
  seconds: number;
  peakRssMiB: number;
}

/** What {@link benchMemory} measured. */
export interface MemoryBench {
  mebibytes: number;
  layers: number;
  rows: MemoryRow[];
}

async function* randomBytes(mib: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < mib; i++) yield randomFillSync(Buffer.allocUnsafe(1 << 20));
}

async function makeLayer(index: number, mib: number, tmp: string): Promise<CreatedLayer> {
  const entries: LayerEntry[] = [{ path: `layer${index}`, type: "directory" }];
  for (let f = 0; f < mib / FILE_MIB; f++) {
    entries.push({
      path: `layer${index}/blob${f}`,
      type: "file",
      size: FILE_MIB << 20,
      content: () => randomBytes(FILE_MIB),
    });
  }
  return createLayer(entries, { compression: "none", tmpDir: tmp });
}

function skopeoCopy(src: string, dest: string): Promise<ChildCost> {
  return measureChild("skopeo", skopeoCopyArgs(src, dest), { env: SKOPEO_ENV });
}

/**
 * Makes the image, then runs each operation once per tool, each on a clean destination.
 *
 * @example
 * ```ts
 * const r = await benchMemory({ mebibytes: 1024 });
 * console.log(memorySection(r));
 * ```
 */
export async function benchMemory(options: { mebibytes?: number } = {}): Promise<MemoryBench> {
  const mebibytes = Math.max(LAYERS * FILE_MIB, options.mebibytes ?? 1024);
  const perLayer = Math.floor(mebibytes / LAYERS / FILE_MIB) * FILE_MIB;
  const work = await fsp.mkdtemp(path.join(tmpdir(), "cairn-bench-memory-"));
  const registries: TestRegistry[] = [];
  const rows: MemoryRow[] = [];
  const env = { ...process.env, CAIRN_HOME: path.join(work, "cairn-home") };
  const cairn = (args: string[]) => measureChild("node", [CLI, ...args], { env });
  const add = async (operation: MemoryRow["operation"], tool: string, run: () => Promise<ChildCost>) => {
    settle();
    const c = await run();
    rows.push({ operation, tool, seconds: c.seconds, peakRssMiB: c.peakRssMiB });
  };
  try {
    const layers: CreatedLayer[] = [];
    for (let i = 0; i < LAYERS; i++) layers.push(await makeLayer(i, perLayer, work));
    const src = path.join(work, "src");
    await writeLocal(await appendLayers(emptyImage(), ...layers.map(layerFromCreated)), `oci:${src}:big`);
    for (const l of layers) if (l.path) await fsp.rm(l.path);

    await add("put", "cairn copy oci: oci:", () =>
      cairn(["copy", "-q", `oci:${src}:big`, `oci:${work}/put-cairn:big`]),
    );
    await add("put", "skopeo copy oci: oci:", () =>
      skopeoCopy(`oci:${src}:big`, `oci:${work}/put-skopeo:big`),
    );
    await fsp.rm(path.join(work, "put-cairn"), { recursive: true, force: true });
    await fsp.rm(path.join(work, "put-skopeo"), { recursive: true, force: true });

    const [forCairn, forSkopeo] = await Promise.all([startRegistry(), startRegistry()]);
    registries.push(forCairn, forSkopeo);
    const cairnRef = `${forCairn.host}/bench/big:1`;
    const skopeoRef = `${forSkopeo.host}/bench/big:1`;
    await add("push", "cairn push", () => cairn(["push", "-q", "--plain-http", `oci:${src}:big`, cairnRef]));
    await add("push", "skopeo copy oci: docker://", () =>
      skopeoCopy(`oci:${src}:big`, `docker://${skopeoRef}`),
    );
    await add("pull", "cairn pull", () =>
      cairn(["pull", "-q", "--plain-http", cairnRef, `oci:${work}/pull-cairn:1`]),
    );
    await add("pull", "skopeo copy docker:// oci:", () =>
      skopeoCopy(`docker://${skopeoRef}`, `oci:${work}/pull-skopeo:1`),
    );
    await fsp.rm(path.join(work, "pull-cairn"), { recursive: true, force: true });
    await fsp.rm(path.join(work, "pull-skopeo"), { recursive: true, force: true });
    await Promise.all(registries.splice(0).map((r) => r.stop()));

    const out = path.join(work, "rootfs");
    await add("unpack", "cairn unpack", () => cairn(["unpack", "-q", `oci:${src}:big`, out]));
    await fsp.rm(out, { recursive: true, force: true });
    if (hasTool("umoci")) {
      await add("unpack", "umoci unpack", () =>
        measureChild("umoci", ["unpack", "--image", `${src}:big`, out]),
      );
      await fsp.rm(out, { recursive: true, force: true });
    }
    await fsp.mkdir(out);
    const blobs = layers.map((l) => path.join(src, "blobs/sha256", l.descriptor.digest.slice(7)));
    await add("unpack", "tar -xf (each layer)", async () => {
      let seconds = 0;
      let peakRssMiB = 0;
      for (const b of blobs) {
        const c = await measureChild("tar", ["-xf", b, "-C", out]);
        seconds += c.seconds;
        peakRssMiB = Math.max(peakRssMiB, c.peakRssMiB);
      }
      return { seconds, peakRssMiB };
    });
    // A COPY-only build of the unpacked files (the 1 GiB image's root file system as a context).
    const dockerfile = path.join(work, "Dockerfile.copy");
    await fsp.writeFile(dockerfile, "FROM scratch\nCOPY . /\n");
    await add("build", "cairn build (COPY . /)", () =>
      cairn(["build", "-q", "-f", dockerfile, "-t", "bench/copy:1", out]),
    );
    if (hasTool("buildah")) {
      const storage = path.join(work, "buildah");
      await add("build", "buildah bud (vfs)", () =>
        measureChild("buildah", buildahBudArgs(storage, dockerfile, out, "bench/copy:1")),
      );
      await fsp.rm(storage, { recursive: true, force: true });
    }
    return { mebibytes: perLayer * LAYERS, layers: LAYERS, rows };
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * The benchmark page section for {@link benchMemory}'s result.
 *
 * @example
 * ```ts
 * sections.push(memorySection(await benchMemory()));
 * ```
 */
export function memorySection(r: MemoryBench): string {
  const rows = r.rows.map((row) => {
    const cairn = r.rows.find((x) => x.operation === row.operation && x.tool.startsWith("cairn"));
    const isCairn = row === cairn;
    return [
      row.operation,
      row.tool,
      row.seconds.toFixed(2),
      isCairn || !cairn ? "" : `${(cairn.seconds / row.seconds).toFixed(2)}x`,
      `${row.peakRssMiB} MiB`,
      isCairn ? (row.peakRssMiB < 200 ? "met" : "missed") : "",
    ];
  });
  return [
    `## Peak memory on a ${r.mebibytes} MiB image`,
    "",
    `An image of ${r.layers} uncompressed tar layers, ${r.mebibytes / r.layers} MiB each (8 MiB files of random bytes), in an OCI`,
    "layout. Every row is one process under GNU time: cairn's CLI (`node dist/cli/main.js`, Node's own",
    "~50 MiB included) and the peer doing the same job; pushes go to fresh local registries (CNCF",
    "`docker-registry`), each tool its own; skopeo runs with `--preserve-digests` (no gzip of the",
    "uncompressed layers on the way, as cairn). One run each; time ratios are cairn / peer (< 1: cairn is",
    "faster). The build row is a `FROM scratch` + `COPY . /` of the unpacked files (cold, gzip level 6",
    "for cairn; buildah's vfs keeps the layer uncompressed). Target: peak RSS under 200 MiB for a 1 GiB",
    "image in every operation.",
    "",
    table(["operation", "process", "seconds", "cairn / peer", "peak RSS", "< 200 MiB"], rows),
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  const r = await benchMemory({ mebibytes: Number(process.argv[2] ?? 1024) });
  console.log(memorySection(r));
}
