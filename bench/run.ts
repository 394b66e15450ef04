/**
 * `npm run bench`: runs cairn and the peers installed here on the same inputs, several times,
 * and writes medians and ratios to docs/BENCHMARKS.md, with the machine's description and a
 * summary of the issue's targets. Measurements, not tests.
 *
 * Environment: BENCH_RUNS (default 3), BENCH_QUICK=1 (small inputs, for trying the script),
 * BENCH_BUILD_RUNS (default min(BENCH_RUNS, 2): buildah's vfs builds are slow),
 * BENCH_ONLY=hash,gzip,put,registry,unpack,build,memory (a subset; the page then holds only those).
 * BENCH_REGISTRY_RUNS: runs of the registry section (default: BENCH_RUNS, at least 5).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BuildBench, benchBuild, buildSection, ensureDist } from "./build.js";
import { benchContentPut, type PutBench } from "./content-put.js";
import { benchGzip, type GzipBench, gzipSection } from "./gzip.js";
import { benchHash, type HashBench, hashSection } from "./hash.js";
import { benchMemory, type MemoryBench, memorySection } from "./memory.js";
import { ensureBenchPeers } from "./peers.js";
import { benchRegistryTransfer, type RegistryBench } from "./registry-transfer.js";
import { loadAverage, machineDescription, median, table } from "./report.js";
import { benchUnpack, type UnpackBench, unpackSection } from "./unpack.js";

const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3));
const QUICK = process.env.BENCH_QUICK === "1";
const ONLY = process.env.BENCH_ONLY?.split(",").map((s) => s.trim());
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Everything measured, for the summary. */
interface Results {
  hash?: HashBench;
  gzip?: GzipBench;
  put?: PutBench[][];
  registry?: { mebibytes: number; layers: number; runs: RegistryBench[] };
  unpack?: UnpackBench;
  build?: BuildBench;
  memory?: MemoryBench;
}

const fmt = (x: number) => x.toFixed(2);

function putSection(all: PutBench[][]): string {
  const rows = all.map((runs) => {
    const m = (f: (r: PutBench) => number) => median(runs.map(f));
    return [
      `${runs[0]?.mebibytes} MiB`,
      fmt(m((r) => r.putSeconds)),
      fmt(m((r) => r.sha256sumSeconds)),
      fmt(m((r) => r.cpSeconds)),
      `${fmt(m((r) => r.putVsSha256sum))}x`,
      `${fmt(m((r) => r.putVsCp))}x`,
      `+${Math.max(...runs.map((r) => r.peakRssMiB - r.baselineRssMiB))} MiB`,
    ];
  });
  return [
    "## Content store: `put` of one large blob",
    "",
    "`OciLayout.put` streams a file into `blobs/sha256/` (hash while writing, fsync, atomic rename),",
    "against `sha256sum` (hash only) and `cp` (copy only) of the same file. Ratio < 1 means cairn is faster;",
    `medians of ${all[0]?.length ?? 0} runs. Peak RSS growth is of the bench process while \`put\` runs (max over runs).`,
    "",
    table(
      ["blob", "cairn put (s)", "sha256sum (s)", "cp (s)", "put / sha256sum", "put / cp", "peak RSS growth"],
      rows,
    ),
  ].join("\n");
}

function registrySection(r: NonNullable<Results["registry"]>): string {
  const m = (f: (x: RegistryBench) => number) => median(r.runs.map(f));
  return [
    "## Registry: push and pull",
    "",
    `An image of ${r.layers} layers, ${r.mebibytes} MiB of pseudo-random bytes, pushed from an OCI layout to a local CNCF`,
    "registry (`docker-registry` on 127.0.0.1, plain HTTP, a fresh one per tool and run) and pulled back into",
    "a new layout: cairn's `push`/`pull` (library calls) against `skopeo copy --preserve-digests oci:… docker://…`",
    "and back. The flag keeps skopeo from gzipping the uncompressed layers on the way (its default), so both",
    "tools move the same bytes; the runs alternate which tool goes first.",
    `Medians of ${r.runs.length} runs; ratio < 1 means cairn is faster.`,
    "",
    table(
      ["operation", "cairn (s)", "skopeo (s)", "cairn / skopeo", "cairn peak RSS growth"],
      [
        [
          "push",
          fmt(m((x) => x.cairnPushSeconds)),
          fmt(m((x) => x.skopeoPushSeconds)),
          `${fmt(m((x) => x.pushVsSkopeo))}x`,
          `+${Math.max(...r.runs.map((x) => x.peakRssGrowthMiB))} MiB (push and pull)`,
        ],
        [
          "pull",
          fmt(m((x) => x.cairnPullSeconds)),
          fmt(m((x) => x.skopeoPullSeconds)),
          `${fmt(m((x) => x.pullVsSkopeo))}x`,
          "",
        ],
      ],
    ),
  ].join("\n");
}

/** One target of issue 9: what was measured, whether it is met, what bounds it when not. */
interface TargetRow {
  target: string;
  measured: string;
  met: boolean | undefined;
  bound: string;
}

function targets(r: Results): TargetRow[] {
  const rows: TargetRow[] = [];
  const ratioRow = (target: string, ratio: number | undefined, limit: number, what: string, bound: string) =>
    rows.push({
      target,
      measured: ratio === undefined ? "not measured" : `${fmt(ratio)}x (${what})`,
      met: ratio === undefined ? undefined : ratio <= limit,
      bound: ratio !== undefined && ratio > limit ? bound : "",
    });
  const reg = r.registry;
  const memRow = (op: string, tool: string) =>
    r.memory?.rows.find((x) => x.operation === op && x.tool === tool);
  const cliRatio = (op: string, cairn: string, peer: string) => {
    const a = memRow(op, cairn);
    const b = memRow(op, peer);
    return a && b ? `; CLI on ${r.memory?.mebibytes} MiB: ${fmt(a.seconds / b.seconds)}x` : "";
  };
  ratioRow(
    "pull <= 0.6x `skopeo copy`",
    reg && median(reg.runs.map((x) => x.pullVsSkopeo)),
    0.6,
    `${reg?.mebibytes} MiB in ${reg?.layers} layers${cliRatio("pull", "cairn pull", "skopeo copy docker:// oci:")}`,
    BOUNDS.pull,
  );
  ratioRow(
    "push <= 0.6x `skopeo copy`",
    reg && median(reg.runs.map((x) => x.pushVsSkopeo)),
    0.6,
    `${reg?.mebibytes} MiB in ${reg?.layers} layers${cliRatio("push", "cairn push", "skopeo copy oci: docker://")}`,
    BOUNDS.push,
  );
  const u = r.unpack;
  ratioRow(
    "unpack <= 1.2x GNU `tar -xf`",
    u?.cairnVsTar,
    1.2,
    `${u?.uncompressedMiB} MiB, ${u?.entries} entries`,
    BOUNDS.unpackTar,
  );
  ratioRow(
    "unpack <= 0.7x `umoci unpack`",
    u?.cairnVsUmoci,
    0.7,
    `${u?.uncompressedMiB} MiB, ${u?.entries} entries`,
    BOUNDS.unpackUmoci,
  );
  const copy = r.build?.cases.find((c) => c.name === "COPY-heavy");
  const cairnCopy = copy?.rows.find((x) => x.builder === "cairn");
  const buildahCopy = copy?.rows.find((x) => x.builder === "buildah");
  ratioRow(
    "cold COPY-only build <= 0.5x `buildah bud` (vfs)",
    cairnCopy && buildahCopy ? cairnCopy.coldSeconds / buildahCopy.coldSeconds : undefined,
    0.5,
    `${fmt(cairnCopy?.coldSeconds ?? 0)} s vs ${fmt(buildahCopy?.coldSeconds ?? 0)} s; ${copy?.description}`,
    BOUNDS.build,
  );
  const hello = r.build?.helloCachedSeconds;
  const helloMedian = hello ? median(hello) : undefined;
  rows.push({
    target: "fully cached rebuild < 1 s (CLI, examples/hello)",
    measured:
      helloMedian === undefined
        ? "not measured"
        : `${fmt(helloMedian)} s median, ${fmt(Math.max(...(hello ?? [])))} s max; the COPY-heavy cached rebuild: ${fmt(cairnCopy?.cachedSeconds ?? 0)} s`,
    met: helloMedian === undefined ? undefined : helloMedian < 1,
    bound: helloMedian !== undefined && helloMedian >= 1 ? BOUNDS.cached : "",
  });
  const cairnRss = (r.memory?.rows ?? []).filter((x) => x.tool.startsWith("cairn"));
  const buildRss = cairnCopy ? Math.max(cairnCopy.coldPeakRssMiB, cairnCopy.cachedPeakRssMiB) : undefined;
  const worst = Math.max(...cairnRss.map((x) => x.peakRssMiB), buildRss ?? 0);
  rows.push({
    target: "peak RSS < 200 MiB for a 1 GiB image, every operation",
    measured: cairnRss.length
      ? `${cairnRss.map((x) => `${x.operation} ${x.peakRssMiB}`).join(", ")} MiB (CLI, ${r.memory?.mebibytes} MiB image)` +
        (buildRss !== undefined ? `; COPY build ${buildRss} MiB (${r.build?.contextMiB} MiB context)` : "")
      : "not measured",
    met: cairnRss.length ? worst < 200 : undefined,
    bound: cairnRss.length && worst >= 200 ? BOUNDS.memory : "",
  });
  return rows;
}

/**
 * What bounds each target when it is missed: from `--cpu-prof` profiles and experiments on this
 * machine (docs/BENCHMARKS.md shows them only for missed targets).
 */
const BOUNDS = {
  pull:
    "the same job as skopeo's (download, sha256 of every byte, write, fsync of each blob) must fit in ~0.4 s. " +
    "On this VM 4 parallel `curl`s only writing the blobs to files take 0.24 s, but `curl | tee FILE | sha256sum` " +
    "and `sync FILE` per blob take 0.83-0.89 s, and a 40-line Node program doing just undici GET, sha256, 1 MiB " +
    "writes and fsync 0.55-0.66 s (cairn 0.65-0.76 s in the same runs). A raw-socket prototype reading into " +
    "reused buffers (no HTTP features) got to 0.48-0.56 s: here, reading 256 MiB into fresh buffers costs 0.30 s " +
    "of CPU against 0.08 s into one reused buffer, as first-touched memory is expensive in this VM",
  push:
    "the registry, which hashes and stores every byte: it spends 0.86-0.93 s of CPU on these 256 MiB (cairn " +
    "0.56-0.72 s) on 2 cores. 4 parallel streamed `curl -T` uploads take 0.69-0.82 s, cairn 0.80-0.98 s and " +
    "skopeo 1.17-1.26 s (same image, no recompression), so 0.6x of skopeo is at or below curl's time",
  unpackTar:
    "inode allocation in the kernel: on this ext4 (no journal), after the mass deletes between runs every new inode " +
    "costs up to ~470 us of kernel time (perf: the allocator skipping recently deleted inodes), for every tool; " +
    "whichever tool runs on a quiet allocator wins. cairn makes 5.81 syscalls per entry (GNU tar 7.26)",
  unpackUmoci:
    "inode allocation in the kernel: on this ext4 (no journal), after the mass deletes between runs every new inode " +
    "costs up to ~470 us of kernel time (perf: the allocator skipping recently deleted inodes), for every tool; " +
    "cairn's own CPU is 3.6 s of user time for 48,907 entries",
  build:
    "gzip level 6 of each layer (now on both cores), tar, sha256 of the tar and of the blob on the main thread, " +
    "and re-reading each new layer to index the stage's file tree for the next COPY; buildah's vfs keeps layers " +
    "uncompressed and copies the whole tree per step instead",
  cached:
    "Node start and module loading, then the context walk (one lstat per file) and the digest cache load",
  memory:
    "V8's heap growth under a high allocation rate: a COPY build of 34,000 files has ~45 MiB live but the old " +
    "space grows to ~110 MiB of mostly garbage before a full collection; the CLI sets `--heap-growing-percent=20` " +
    "(243 -> ~185 MiB)",
};

function summary(r: Results): string {
  const rows = targets(r).map((t) => [
    t.target,
    t.measured,
    t.met === undefined ? "not measured" : t.met ? "met" : "**missed**",
    t.bound,
  ]);
  return [
    "## Targets",
    "",
    "Issue 9's targets, for the 2-core machine with inputs of a few hundred MiB over several layers.",
    "",
    table(["target", "measured", "result", "what bounds it"], rows),
  ].join("\n");
}

async function section<T>(
  name: string,
  timings: string[],
  fn: () => Promise<T>,
): Promise<{ value?: T; error?: string }> {
  if (ONLY && !ONLY.includes(name)) return {};
  const t = Date.now();
  console.error(`bench: ${name} (load ${loadAverage()})`);
  try {
    const value = await fn();
    return { value };
  } catch (e) {
    console.error(`bench: ${name} failed:`, e);
    return { error: `## ${name}\n\nThis section failed: ${(e as Error).message.split("\n")[0]}` };
  } finally {
    timings.push(`${name} ${Math.round((Date.now() - t) / 1000)} s (load after: ${loadAverage()})`);
  }
}

/** Where the last run's results are kept, so the page can be written again without re-running. */
const RESULTS_FILE = path.join(tmpdir(), "cairn-bench-results.json");

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadAverage();
  const peers = ensureBenchPeers();
  ensureDist();
  const timings: string[] = [];
  const results: Results = {};
  const sections: string[] = [];
  const keep = <T>(out: { value?: T; error?: string }, render: (v: T) => string): T | undefined => {
    if (out.error) sections.push(out.error);
    if (out.value !== undefined) sections.push(render(out.value));
    return out.value;
  };

  results.hash = keep(
    await section("hash", timings, () =>
      benchHash({ mebibytes: QUICK ? 256 : 1024, nobleMebibytes: QUICK ? 64 : 256, runs: RUNS }),
    ),
    hashSection,
  );
  results.gzip = keep(
    await section("gzip", timings, () => benchGzip({ runs: RUNS, quick: QUICK })),
    gzipSection,
  );
  results.put = keep(
    await section("put", timings, async () => {
      const all: PutBench[][] = [];
      for (const mib of QUICK ? [64, 256] : [256, 1024]) {
        const runs: PutBench[] = [];
        for (let i = 0; i < RUNS; i++) runs.push(await benchContentPut(mib));
        all.push(runs);
      }
      return all;
    }),
    putSection,
  );
  results.registry = keep(
    await section("registry", timings, async () => {
      const mebibytes = QUICK ? 64 : 256;
      const runs: RegistryBench[] = [];
      // cheap (seconds per run) and the noisiest section on a VM: more runs than the others
      const registryRuns = Math.max(1, Number(process.env.BENCH_REGISTRY_RUNS ?? Math.max(RUNS, 5)));
      for (let i = 0; i < registryRuns; i++)
        runs.push(await benchRegistryTransfer(mebibytes, 4, i % 2 ? "skopeo-first" : "cairn-first"));
      return { mebibytes, layers: 4, runs };
    }),
    registrySection,
  );
  results.unpack = keep(
    await section("unpack", timings, () => benchUnpack({ runs: QUICK ? 1 : RUNS, snapshotRuns: 1 })),
    unpackSection,
  );
  // A cold + cached pair of the COPY-heavy build costs minutes with buildah's vfs driver.
  const buildRuns = Math.max(1, Number(process.env.BENCH_BUILD_RUNS ?? Math.min(RUNS, 2)));
  results.build = keep(
    await section("build", timings, () => benchBuild({ runs: buildRuns, quick: QUICK })),
    buildSection,
  );
  results.memory = keep(
    await section("memory", timings, () => benchMemory({ mebibytes: QUICK ? 256 : 1024 })),
    memorySection,
  );

  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const run: SavedRun = { results, sections, timings, minutes, loadBefore, loadAfter: loadAverage() };
  writeFileSync(RESULTS_FILE, JSON.stringify(run));
  writePage(run, peers.missing);
}

/** A finished run, as kept in {@link RESULTS_FILE}. */
interface SavedRun {
  results: Results;
  sections: string[];
  timings: string[];
  minutes: string;
  loadBefore: string;
  loadAfter: string;
}

function writePage(run: SavedRun, missingPeers: string[]): void {
  const { results, sections, timings, minutes, loadBefore } = run;
  const page = [
    "# Benchmarks",
    "",
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: medians of ${RUNS} runs${QUICK ? " (BENCH_QUICK: small inputs)" : ""},`,
    `${minutes} minutes in all. Ratios are cairn / peer: below 1, cairn is faster. Other work was running on`,
    `this machine: the load average (1 / 5 / 15 min, ${cpus().length} cores) was ${loadBefore} at the start and`,
    `${run.loadAfter} at the end, so the absolute times are noisy; cairn and its peer run alternately on the`,
    "same inputs, which keeps the ratios fairer than the seconds.",
    "",
    "## Machine",
    "",
    machineDescription(),
    missingPeers.length ? `- Missing peers (their rows are skipped): ${missingPeers.join(", ")}` : "",
    "",
    summary(results),
    "",
    ...sections.flatMap((s) => [s, ""]),
    "## Sections run",
    "",
    ...timings.map((t) => `- ${t}`),
    "",
  ].join("\n");
  writeFileSync(path.join(root, "docs/BENCHMARKS.md"), page);
  console.log(page);
}

// BENCH_FROM=1 writes the page again from the last run's saved results (e.g. after editing BOUNDS).
if (process.env.BENCH_FROM) writePage(JSON.parse(readFileSync(RESULTS_FILE, "utf8")) as SavedRun, []);
else await main();
