/**
 * Bench (not a test): push and pull of a multi-layer image through the CNCF registry (Debian
 * `docker-registry` on 127.0.0.1), cairn against `skopeo copy` on the same image, as ratios,
 * plus cairn's peak memory, which must not grow with the image size. Each side gets a fresh
 * registry per run, so neither finds blobs already there (or mounts them from its caches).
 *
 * Run: `npx tsx bench/registry-transfer.ts [MiB] [layers]` (default 256 MiB in 4 layers).
 */
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { appendLayers, emptyImage, ImageLayout } from "../src/image/index.js";
import { closeRegistryConnections, pull, push } from "../src/registry/index.js";
import { startRegistry, type TestRegistry } from "../test/helpers/registry.js";
import { bigLayer } from "../test/helpers/remote-images.js";
import { SKOPEO_ENV, skopeoCopyArgs } from "./peers.js";

const run = promisify(execFile);

/** One bench result: seconds per tool, cairn's ratios to skopeo, cairn's peak RSS growth. */
export interface RegistryBench {
  mebibytes: number;
  layers: number;
  cairnPushSeconds: number;
  skopeoPushSeconds: number;
  cairnPullSeconds: number;
  skopeoPullSeconds: number;
  pushVsSkopeo: number;
  pullVsSkopeo: number;
  peakRssGrowthMiB: number;
}

async function skopeoCopy(src: string, dest: string): Promise<void> {
  await run("skopeo", skopeoCopyArgs(src, dest), { env: SKOPEO_ENV, maxBuffer: 16 << 20 });
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * Measures one push and one pull of a `mebibytes` image in `layers` layers, for cairn and skopeo.
 *
 * @example
 * ```ts
 * console.table(await benchRegistryTransfer(256, 4))
 * ```
 */
export async function benchRegistryTransfer(
  mebibytes = 256,
  layers = 4,
  order: "cairn-first" | "skopeo-first" = "cairn-first",
): Promise<RegistryBench> {
  const work = await fsp.mkdtemp(path.join(tmpdir(), "cairn-bench-registry-"));
  const registries: TestRegistry[] = [];
  try {
    const each = Math.floor((mebibytes << 20) / layers);
    let image = emptyImage();
    for (let i = 0; i < layers; i++) image = await appendLayers(image, await bigLayer(each, i + 1));
    const src = await ImageLayout.open(path.join(work, "src"), { create: true });
    await src.write(image, { tag: "bench" });

    const [forCairn, forSkopeo] = await Promise.all([startRegistry(), startRegistry()]);
    registries.push(forCairn, forSkopeo);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    let cairnPushSeconds = 0;
    let cairnPullSeconds = 0;
    let skopeoPushSeconds = 0;
    let skopeoPullSeconds = 0;
    const cairn = async () => {
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      cairnPushSeconds = await timed(async () => {
        await push(await src.image("bench"), `${forCairn.host}/bench/image:1`);
      });
      cairnPullSeconds = await timed(async () => {
        await pull(`${forCairn.host}/bench/image:1`, { layout: path.join(work, "cairn-pull") });
      });
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);
    };
    const skopeo = async () => {
      skopeoPushSeconds = await timed(() =>
        skopeoCopy(`oci:${path.join(work, "src")}:bench`, `docker://${forSkopeo.host}/bench/image:1`),
      );
      skopeoPullSeconds = await timed(() =>
        skopeoCopy(`docker://${forSkopeo.host}/bench/image:1`, `oci:${path.join(work, "skopeo-pull")}:1`),
      );
    };
    // Which tool goes first changes what the page cache and the VM's memory look like to it:
    // callers alternate the order over runs.
    if (order === "cairn-first") {
      await cairn();
      await skopeo();
    } else {
      await skopeo();
      await cairn();
    }
    return {
      mebibytes,
      layers,
      cairnPushSeconds,
      skopeoPushSeconds,
      cairnPullSeconds,
      skopeoPullSeconds,
      pushVsSkopeo: cairnPushSeconds / skopeoPushSeconds,
      pullVsSkopeo: cairnPullSeconds / skopeoPullSeconds,
      peakRssGrowthMiB: Math.round((peak - baseline) / 2 ** 20),
    };
  } finally {
    await closeRegistryConnections();
    await Promise.all(registries.map((r) => r.stop()));
    await fsp.rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  console.table(await benchRegistryTransfer(Number(process.argv[2] ?? 256), Number(process.argv[3] ?? 4)));
}
