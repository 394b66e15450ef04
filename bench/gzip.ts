/**
 * Bench (not a test): gzip level 6 of a tar of this machine's /usr/share (about 500 MiB) with
 * cairn's `compressStream("gzip")` (node:zlib, pigz-style blocks on the libuv threadpool) against `pigz -6` (every core) and
 * GNU `gzip -6` (one thread); then decompression with cairn's `decompressStream("gzip")` against
 * `pigz -d` and `gzip -d`. Input and output files stay in the page cache.
 *
 * Run: `npx tsx bench/gzip.ts [runs] [quick]` (default 3 runs, the full input).
 */
import { createReadStream, createWriteStream, statSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { compressStream, decompressStream } from "../src/layer/index.js";
import { type ChildCost, measureChild, settle, timeWithRss } from "./measure.js";
import { hasTool } from "./peers.js";
import { median, table, toolVersion } from "./report.js";

/** The /usr/share trees the input tar holds: text, binaries, images (about 500 MiB as a tar). */
export const GZIP_INPUT_DIRS = [
  "usr/share/locale",
  "usr/share/doc",
  "usr/share/man",
  "usr/share/package-lists",
  "usr/share/vim",
  "usr/share/icons",
];
/** The smaller input of BENCH_QUICK. */
export const GZIP_QUICK_DIRS = ["usr/share/doc", "usr/share/man"];

/** One tool's medians. */
export interface GzipRow {
  tool: string;
  runs: number;
  seconds: number;
  peakRssMiB: number;
  /** Output bytes (compression rows only). */
  outputBytes?: number;
}

/** What {@link benchGzip} measured. */
export interface GzipBench {
  inputMiB: number;
  compress: GzipRow[];
  decompress: GzipRow[];
}

async function cairnCompress(input: string, output: string): Promise<void> {
  await pipeline(
    createReadStream(input, { highWaterMark: 1024 * 1024 }),
    compressStream("gzip", { level: 6 }),
    createWriteStream(output),
  );
}

async function cairnDecompress(input: string, output: string): Promise<void> {
  await pipeline(
    createReadStream(input, { highWaterMark: 1024 * 1024 }),
    decompressStream("gzip"),
    createWriteStream(output),
  );
}

function rowOf(tool: string, costs: ChildCost[], outputBytes?: number): GzipRow {
  return {
    tool,
    runs: costs.length,
    seconds: median(costs.map((c) => c.seconds)),
    peakRssMiB: Math.max(...costs.map((c) => c.peakRssMiB)),
    ...(outputBytes !== undefined ? { outputBytes } : {}),
  };
}

/**
 * Makes the input tar with GNU tar, then times each compressor `runs` times (GNU gzip, the
 * slowest, once) and each decompressor `runs` times on cairn's output.
 *
 * @example
 * ```ts
 * const r = await benchGzip({ runs: 3 });
 * console.log(gzipSection(r));
 * ```
 */
export async function benchGzip(options: { runs?: number; quick?: boolean } = {}): Promise<GzipBench> {
  const runs = options.runs ?? 3;
  const work = await fsp.mkdtemp(path.join(tmpdir(), "cairn-bench-gzip-"));
  try {
    const input = path.join(work, "usr.tar");
    const dirs = (options.quick ? GZIP_QUICK_DIRS : GZIP_INPUT_DIRS).filter((d) => hasTool(`/${d}`));
    await measureChild("tar", ["-cf", input, "-C", "/", ...dirs]);
    const inputMiB = Math.round(statSync(input).size / 2 ** 20);
    const out = path.join(work, "out.gz");
    const cairnGz = path.join(work, "cairn.gz");
    const raw = path.join(work, "out.tar");

    const cairn: ChildCost[] = [];
    const pigz: ChildCost[] = [];
    const gzip: ChildCost[] = [];
    const sizes = new Map<string, number>();
    for (let i = 0; i < runs; i++) {
      settle();
      const c = await timeWithRss(() => cairnCompress(input, cairnGz));
      cairn.push({ seconds: c.seconds, peakRssMiB: c.rssGrowthMiB });
      sizes.set("cairn", statSync(cairnGz).size);
      if (hasTool("pigz")) {
        settle();
        pigz.push(await measureChild("pigz", ["-6", "-c", input], { stdout: out }));
        sizes.set("pigz", statSync(out).size);
      }
      if (i === 0) {
        settle();
        gzip.push(await measureChild("gzip", ["-6", "-c", input], { stdout: out }));
        sizes.set("gzip", statSync(out).size);
      }
    }

    const cairnD: ChildCost[] = [];
    const pigzD: ChildCost[] = [];
    const gzipD: ChildCost[] = [];
    for (let i = 0; i < runs; i++) {
      settle();
      const c = await timeWithRss(() => cairnDecompress(cairnGz, raw));
      cairnD.push({ seconds: c.seconds, peakRssMiB: c.rssGrowthMiB });
      if (hasTool("pigz")) {
        settle();
        pigzD.push(await measureChild("pigz", ["-d", "-c", cairnGz], { stdout: raw }));
      }
      settle();
      gzipD.push(await measureChild("gzip", ["-d", "-c", cairnGz], { stdout: raw }));
    }
    const compress = [rowOf("cairn compressStream (node:zlib, parallel blocks)", cairn, sizes.get("cairn"))];
    if (pigz.length) compress.push(rowOf(`pigz -6 (${cpus().length} threads)`, pigz, sizes.get("pigz")));
    compress.push(rowOf("gzip -6", gzip, sizes.get("gzip")));
    const decompress = [rowOf("cairn decompressStream (node:zlib)", cairnD)];
    if (pigzD.length) decompress.push(rowOf("pigz -d", pigzD));
    decompress.push(rowOf("gzip -d", gzipD));
    return { inputMiB, compress, decompress };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * The benchmark page section for {@link benchGzip}'s result.
 *
 * @example
 * ```ts
 * sections.push(gzipSection(await benchGzip()));
 * ```
 */
export function gzipSection(r: GzipBench): string {
  const s = (x: number) => x.toFixed(2);
  const rows = (list: GzipRow[], withSize: boolean) => {
    const cairn = list[0] as GzipRow;
    return list.map((row) => [
      row.tool,
      row.runs,
      s(row.seconds),
      `${Math.round(r.inputMiB / row.seconds)} MiB/s`,
      row === cairn ? "" : `${s(cairn.seconds / row.seconds)}x`,
      ...(withSize ? [`${((row.outputBytes ?? 0) / 2 ** 20).toFixed(1)} MiB`] : []),
      row === cairn ? `+${row.peakRssMiB} MiB (in process)` : `${row.peakRssMiB} MiB`,
    ]);
  };
  return [
    "## gzip",
    "",
    `A ${r.inputMiB} MiB tar of this machine's /usr/share (text, locales, icons), compressed at level 6 and`,
    "decompressed again. cairn compresses like `pigz`: 1 MiB blocks deflated on the libuv threadpool",
    `(up to ${cpus().length} at once here) and joined into one gzip member; decompression is one thread for every tool`,
    `(deflate streams cannot be split). "cairn / tool" < 1 means cairn is faster. Throughput is of the uncompressed bytes.`,
    "",
    table(
      ["compress", "runs", "seconds", "throughput", "cairn / tool", "output", "peak RSS"],
      rows(r.compress, true),
    ),
    "",
    table(
      ["decompress", "runs", "seconds", "throughput", "cairn / tool", "peak RSS"],
      rows(r.decompress, false),
    ),
    "",
    `Tools: ${toolVersion("pigz")}; ${toolVersion("gzip")}; Node.js zlib ${process.versions.zlib}.`,
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  const r = await benchGzip({ runs: Number(process.argv[2] ?? 3), quick: process.argv[3] === "quick" });
  console.log(gzipSection(r));
}
