/**
 * Bench (not a test): `put` throughput of a large blob into an OCI layout, against `sha256sum` and
 * `cp` of the same file, as ratios, plus peak memory, which must not grow with blob size.
 *
 * Run: `npx tsx bench/content-put.ts [MiB]` (default 1024).
 */
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { OciLayout } from "../src/content/index.js";

/** One bench result: seconds per tool and cairn's ratios to them. */
export interface PutBench {
  mebibytes: number;
  putSeconds: number;
  sha256sumSeconds: number;
  cpSeconds: number;
  putVsSha256sum: number;
  putVsCp: number;
  peakRssMiB: number;
  baselineRssMiB: number;
}

function seconds(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * Measures `put` of a `mebibytes`-sized file streamed from disk into a fresh layout.
 *
 * @example
 * ```ts
 * console.table(await benchContentPut(256))
 * ```
 */
export async function benchContentPut(mebibytes = 1024): Promise<PutBench> {
  const work = await fsp.mkdtemp(path.join(tmpdir(), "cairn-bench-"));
  try {
    const file = path.join(work, "blob");
    const chunk = new Uint8Array(1024 * 1024);
    crypto.getRandomValues(chunk.subarray(0, 65_536));
    const fh = await fsp.open(file, "w");
    for (let i = 0; i < mebibytes; i++) {
      chunk[0] = i & 0xff;
      await fh.write(chunk);
    }
    await fh.close();

    const sha256sumSeconds = seconds(() => execFileSync("sha256sum", [file], { stdio: "ignore" }));
    const cpSeconds = seconds(() => execFileSync("cp", [file, path.join(work, "copy")], { stdio: "ignore" }));
    await fsp.rm(path.join(work, "copy"));

    const layout = await OciLayout.open(path.join(work, "layout"), { create: true });
    const baselineRss = process.memoryUsage().rss;
    let peakRss = baselineRss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    const t = process.hrtime.bigint();
    await layout.put(createReadStream(file, { highWaterMark: 1024 * 1024 }));
    const putSeconds = Number(process.hrtime.bigint() - t) / 1e9;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);

    return {
      mebibytes,
      putSeconds,
      sha256sumSeconds,
      cpSeconds,
      putVsSha256sum: putSeconds / sha256sumSeconds,
      putVsCp: putSeconds / cpSeconds,
      peakRssMiB: Math.round(peakRss / 2 ** 20),
      baselineRssMiB: Math.round(baselineRss / 2 ** 20),
    };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  const mib = Number(process.argv[2] ?? 1024);
  console.table(await benchContentPut(mib));
}
