/**
 * Bench (not a test): sha256 of a large file with cairn's `digestOf` (node:crypto, OpenSSL)
 * against coreutils `sha256sum`, and of a smaller file with the pure-JS `@noble/hashes`
 * fallback, for the record. The files sit in the page cache, so this measures hashing, not disk.
 *
 * Run: `npx tsx bench/hash.ts [MiB] [runs]` (default 1024 MiB, 3 runs).
 */
import { createReadStream } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createHasher, digestOf } from "../src/digest/index.js";
import { measureChild, timeWithRss } from "./measure.js";
import { median, table, toolVersion } from "./report.js";

/** What {@link benchHash} measured (seconds are medians). */
export interface HashBench {
  runs: number;
  mebibytes: number;
  cairnSeconds: number;
  sha256sumSeconds: number;
  cairnVsSha256sum: number;
  cairnRssGrowthMiB: number;
  sha256sumPeakRssMiB: number;
  /** The smaller file the pure-JS hasher gets. */
  nobleMebibytes: number;
  nobleSeconds: number;
  /** node:crypto and sha256sum on that smaller file. */
  cairnSmallSeconds: number;
  sha256sumSmallSeconds: number;
  nobleVsNodeCrypto: number;
  nobleVsSha256sum: number;
}

/**
 * Writes a `mebibytes` file for hashing: 64 KiB of random bytes per MiB, the rest zeros (hashes
 * cost the same whatever the bytes; this is quick to make).
 *
 * @example
 * ```ts
 * await writeBlob("/tmp/blob", 256);
 * ```
 */
export async function writeBlob(file: string, mebibytes: number): Promise<void> {
  const chunk = new Uint8Array(1024 * 1024);
  const fh = await fsp.open(file, "w");
  try {
    for (let i = 0; i < mebibytes; i++) {
      crypto.getRandomValues(chunk.subarray(0, 65_536));
      chunk[65_536] = i & 0xff;
      await fh.write(chunk);
    }
  } finally {
    await fh.close();
  }
}

async function cairnDigest(file: string): Promise<string> {
  return digestOf(createReadStream(file, { highWaterMark: 1024 * 1024 }));
}

async function nobleDigest(file: string): Promise<string> {
  const h = createHasher("sha256", "noble");
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return `sha256:${h.hex()}`;
}

/**
 * Hashes a `mebibytes` file `runs` times with cairn and sha256sum, and a `nobleMebibytes` file
 * with @noble/hashes once per run.
 *
 * @example
 * ```ts
 * const r = await benchHash({ mebibytes: 1024, nobleMebibytes: 256, runs: 3 });
 * console.log(r.cairnVsSha256sum);
 * ```
 */
export async function benchHash(
  options: { mebibytes?: number; nobleMebibytes?: number; runs?: number } = {},
): Promise<HashBench> {
  const mebibytes = options.mebibytes ?? 1024;
  const nobleMebibytes = options.nobleMebibytes ?? 256;
  const runs = options.runs ?? 3;
  const work = await fsp.mkdtemp(path.join(tmpdir(), "cairn-bench-hash-"));
  try {
    const big = path.join(work, "big");
    const small = path.join(work, "small");
    await writeBlob(big, mebibytes);
    await writeBlob(small, nobleMebibytes);
    // Warm the page cache once so every tool reads from memory.
    await cairnDigest(big);
    await cairnDigest(small);

    const cairn: number[] = [];
    const cairnGrowth: number[] = [];
    const sha: number[] = [];
    const shaRss: number[] = [];
    const noble: number[] = [];
    const cairnSmall: number[] = [];
    const shaSmall: number[] = [];
    for (let i = 0; i < runs; i++) {
      const c = await timeWithRss(() => cairnDigest(big));
      cairn.push(c.seconds);
      cairnGrowth.push(c.rssGrowthMiB);
      const s = await measureChild("sha256sum", [big]);
      sha.push(s.seconds);
      shaRss.push(s.peakRssMiB);
      noble.push((await timeWithRss(() => nobleDigest(small))).seconds);
      cairnSmall.push((await timeWithRss(() => cairnDigest(small))).seconds);
      shaSmall.push((await measureChild("sha256sum", [small])).seconds);
    }
    const m = {
      cairn: median(cairn),
      sha: median(sha),
      noble: median(noble),
      cairnSmall: median(cairnSmall),
      shaSmall: median(shaSmall),
    };
    return {
      runs,
      mebibytes,
      cairnSeconds: m.cairn,
      sha256sumSeconds: m.sha,
      cairnVsSha256sum: m.cairn / m.sha,
      cairnRssGrowthMiB: Math.max(...cairnGrowth),
      sha256sumPeakRssMiB: Math.max(...shaRss),
      nobleMebibytes,
      nobleSeconds: m.noble,
      cairnSmallSeconds: m.cairnSmall,
      sha256sumSmallSeconds: m.shaSmall,
      nobleVsNodeCrypto: m.noble / m.cairnSmall,
      nobleVsSha256sum: m.noble / m.shaSmall,
    };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * The benchmark page section for {@link benchHash}'s result.
 *
 * @example
 * ```ts
 * sections.push(hashSection(await benchHash()));
 * ```
 */
export function hashSection(r: HashBench): string {
  const s = (x: number) => x.toFixed(2);
  const mbps = (mib: number, sec: number) => `${Math.round(mib / sec)} MiB/s`;
  return [
    "## Hashing (sha256)",
    "",
    `sha256 of a ${r.mebibytes} MiB file already in the page cache: cairn \`digestOf\` (node:crypto, read in`,
    `1 MiB chunks) against coreutils \`sha256sum\`; then the pure-JS \`@noble/hashes\` fallback (used only`,
    `where node:crypto is missing) on ${r.nobleMebibytes} MiB. Medians of ${r.runs} runs. Ratio < 1 means cairn is faster.`,
    "",
    table(
      ["input", "hasher", "seconds", "throughput", "ratio", "peak RSS"],
      [
        [
          `${r.mebibytes} MiB`,
          "cairn digestOf (node:crypto)",
          s(r.cairnSeconds),
          mbps(r.mebibytes, r.cairnSeconds),
          `${s(r.cairnVsSha256sum)}x sha256sum`,
          `+${r.cairnRssGrowthMiB} MiB (in process)`,
        ],
        [
          `${r.mebibytes} MiB`,
          "sha256sum",
          s(r.sha256sumSeconds),
          mbps(r.mebibytes, r.sha256sumSeconds),
          "1.00x",
          `${r.sha256sumPeakRssMiB} MiB`,
        ],
        [
          `${r.nobleMebibytes} MiB`,
          "cairn digestOf (node:crypto)",
          s(r.cairnSmallSeconds),
          mbps(r.nobleMebibytes, r.cairnSmallSeconds),
          `${s(r.cairnSmallSeconds / r.sha256sumSmallSeconds)}x sha256sum`,
          "",
        ],
        [
          `${r.nobleMebibytes} MiB`,
          "sha256sum",
          s(r.sha256sumSmallSeconds),
          mbps(r.nobleMebibytes, r.sha256sumSmallSeconds),
          "1.00x",
          "",
        ],
        [
          `${r.nobleMebibytes} MiB`,
          "@noble/hashes (pure JS)",
          s(r.nobleSeconds),
          mbps(r.nobleMebibytes, r.nobleSeconds),
          `${s(r.nobleVsSha256sum)}x sha256sum, ${s(r.nobleVsNodeCrypto)}x node:crypto`,
          "",
        ],
      ],
    ),
    "",
    `Tools: ${toolVersion("sha256sum")}; Node.js ${process.version} (OpenSSL ${process.versions.openssl}).`,
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  const r = await benchHash({
    mebibytes: Number(process.argv[2] ?? 1024),
    runs: Number(process.argv[3] ?? 3),
  });
  console.log(hashSection(r));
}
