/**
 * `npm run bench`: runs cairn and the peers installed here on the same inputs, several times,
 * and writes medians and ratios to docs/BENCHMARKS.md. Measurements, not tests.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { benchContentPut, type PutBench } from "./content-put.js";
import { machineDescription, median, table } from "./report.js";

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

async function putSection(): Promise<string> {
  const rows: (string | number)[][] = [];
  for (const mib of [256, 1024]) {
    const runs: PutBench[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await benchContentPut(mib));
    const m = (f: (r: PutBench) => number) => median(runs.map(f));
    rows.push([
      `${mib} MiB`,
      m((r) => r.putSeconds).toFixed(2),
      m((r) => r.sha256sumSeconds).toFixed(2),
      m((r) => r.cpSeconds).toFixed(2),
      `${m((r) => r.putVsSha256sum).toFixed(2)}x`,
      `${m((r) => r.putVsCp).toFixed(2)}x`,
      `${m((r) => r.peakRssMiB - r.baselineRssMiB)} MiB`,
    ]);
    console.error(`put ${mib} MiB: done`);
  }
  return [
    "## Content store: `put` of one large blob",
    "",
    "`OciLayout.put` streams a file into `blobs/sha256/` (hash while writing, fsync, atomic rename),",
    "against `sha256sum` (hash only) and `cp` (copy only) of the same file. Ratio < 1 means cairn is faster.",
    "",
    table(
      ["blob", "cairn put (s)", "sha256sum (s)", "cp (s)", "put / sha256sum", "put / cp", "peak RSS growth"],
      rows,
    ),
  ].join("\n");
}

async function main(): Promise<void> {
  const sections = [await putSection()];
  const page = [
    "# Benchmarks",
    "",
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}; medians of ${RUNS} runs.`,
    "",
    "## Machine",
    "",
    machineDescription(),
    "",
    ...sections.flatMap((s) => [s, ""]),
  ].join("\n");
  writeFileSync(path.join(root, "docs/BENCHMARKS.md"), page);
  console.log(page);
}

await main();
