/**
 * Bench (not a test): Dockerfile builds with cairn's CLI (`node dist/cli/main.js build`) against
 * `buildah bud --storage-driver vfs --isolation chroot --layers`, both from the same busybox base
 * in an OCI layout (`FROM oci:DIR:base`, which both accept):
 *
 * - COPY-heavy: three COPY steps of a context copied from this machine's /usr (a few hundred
 *   MiB, tens of thousands of files), cold (empty store) and fully cached (same store again);
 * - RUN: a few RUN steps writing files, cold and cached;
 * - the fully cached rebuild of examples/hello (Dockerfile.no-run) with the base tag in the store,
 *   the number the "under 1 s in the CLI" target is about.
 *
 * Every build is a child process timed with GNU time, which also gives its peak RSS.
 *
 * Run: `npx tsx bench/build.ts [runs] [quick]` (default 3 runs, the full context).
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, statSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  appendLayers,
  emptyImage,
  layerFromCreated,
  setConfig,
  setCreated,
  writeLocal,
} from "../src/image/index.js";
import { createLayer, type LayerEntry } from "../src/layer/index.js";
import { hostPlatform } from "../src/manifest/index.js";
import { detectRuntime } from "../src/runtime/index.js";
import { type ChildCost, measureChild, settle } from "./measure.js";
import { buildahBudArgs, hasTool } from "./peers.js";
import { median, table, toolVersion } from "./report.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CLI = path.join(root, "dist/cli/main.js");
const EPOCH = 1_700_000_000;

/** Host trees copied into the COPY context, one COPY step each: [context dir, host dirs]. */
export const COPY_CONTEXT: [string, string[]][] = [
  ["doc", ["/usr/share/doc"]],
  ["man", ["/usr/share/man"]],
  ["lib", ["/usr/lib/python3.11", "/usr/share/perl", "/usr/share/vim"]],
];
/** The smaller context of BENCH_QUICK. */
export const COPY_CONTEXT_QUICK: [string, string[]][] = [
  ["doc", ["/usr/share/vim"]],
  ["man", ["/usr/share/perl"]],
  ["lib", ["/usr/lib/python3.11/email"]],
];

const RUN_DOCKERFILE = (base: string) =>
  [
    `FROM ${base}`,
    "RUN mkdir -p /data && dd if=/dev/zero of=/data/zeros bs=1048576 count=64 2>/dev/null",
    'RUN for i in $(seq 1 2000); do echo "line $i" > /data/f$i; done',
    "RUN cat /data/f1 /data/f2000 > /data/ends && ls /data | wc -l > /data/count",
    'CMD ["/bin/cat", "/data/count"]',
    "",
  ].join("\n");

const APPLETS = ["sh", "cat", "echo", "ls", "mkdir", "dd", "seq", "wc", "uname", "chmod", "id", "true"];

/** One builder's timings for one Dockerfile (medians over the runs). */
export interface BuildRow {
  builder: "cairn" | "buildah";
  coldSeconds: number;
  cachedSeconds: number;
  coldPeakRssMiB: number;
  cachedPeakRssMiB: number;
}

/** One Dockerfile's comparison. */
export interface BuildCase {
  name: string;
  description: string;
  rows: BuildRow[];
}

/** What {@link benchBuild} measured. */
export interface BuildBench {
  runs: number;
  contextMiB: number;
  contextFiles: number;
  cases: BuildCase[];
  /** Fully cached rebuilds of examples/hello with the CLI, every run. */
  helloCachedSeconds: number[];
  helloCachedPeakRssMiB: number;
  runtime: string;
  /** Why the buildah rows are missing, when they are. */
  buildahSkipped?: string;
}

/** A busybox-static base (the applets the RUN steps use), like the demo's base image. */
async function writeBase(layoutDir: string): Promise<string> {
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!busybox)
    throw new Error("bench build: busybox-static is not installed (apt-get install busybox-static)");
  const entries: LayerEntry[] = [
    { path: "bin", type: "directory" },
    { path: "bin/busybox", type: "file", mode: 0o755, content: await fsp.readFile(busybox) },
    ...APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: "symlink", linkname: "busybox" })),
    { path: "etc", type: "directory" },
    { path: "etc/passwd", type: "file", content: "root:x:0:0:root:/root:/bin/sh\n" },
    { path: "etc/group", type: "file", content: "root:x:0:\n" },
    { path: "tmp", type: "directory", mode: 0o1777 },
  ];
  const layer = layerFromCreated(await createLayer(entries, { sourceDateEpoch: EPOCH }));
  let base = await appendLayers(emptyImage(hostPlatform()), layer);
  base = await setConfig(base, { env: { PATH: "/bin" }, cmd: ["/bin/sh"] });
  base = await setCreated(base, new Date(EPOCH * 1000));
  const location = `oci:${layoutDir}:base`;
  await writeLocal(base, location);
  return location;
}

function treeSize(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    files++;
    if (e.isFile()) bytes += statSync(path.join(e.parentPath, e.name)).size;
  }
  return { bytes, files };
}

/** True when some file under src/ is newer than dist/cli/main.js (or dist is missing). */
export function distIsStale(): boolean {
  if (!existsSync(CLI)) return true;
  const built = statSync(CLI).mtimeMs;
  for (const e of readdirSync(path.join(root, "src"), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && statSync(path.join(e.parentPath, e.name)).mtimeMs > built) return true;
  }
  return false;
}

/**
 * Builds dist/ with `npm run build` when it is older than src/.
 *
 * @example
 * ```ts
 * ensureDist(); // then `node dist/cli/main.js …` runs the current code
 * ```
 */
export function ensureDist(): void {
  if (!distIsStale()) return;
  console.error("bench: dist/ is older than src/, running npm run build");
  execFileSync("npm", ["run", "build"], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
}

function cairnBuild(home: string, dockerfile: string, context: string, tag: string, extra: string[] = []) {
  return measureChild("node", [CLI, "build", "-q", "-f", dockerfile, "-t", tag, ...extra, context], {
    env: { ...process.env, CAIRN_HOME: home },
  });
}

function buildahBuild(storage: string, dockerfile: string, context: string, tag: string) {
  return measureChild("buildah", buildahBudArgs(storage, dockerfile, context, tag));
}

/** Cold then cached, `runs` times, each cold run on an empty store; returns one row. */
async function coldAndCached(
  builder: "cairn" | "buildah",
  runs: number,
  work: string,
  once: (store: string) => Promise<ChildCost>,
): Promise<BuildRow> {
  const cold: ChildCost[] = [];
  const cached: ChildCost[] = [];
  for (let i = 0; i < runs; i++) {
    const store = path.join(work, `${builder}-store`);
    await fsp.rm(store, { recursive: true, force: true });
    await fsp.mkdir(store, { recursive: true });
    settle();
    cold.push(await once(store));
    settle();
    cached.push(await once(store));
    await fsp.rm(store, { recursive: true, force: true });
  }
  return {
    builder,
    coldSeconds: median(cold.map((c) => c.seconds)),
    cachedSeconds: median(cached.map((c) => c.seconds)),
    coldPeakRssMiB: Math.max(...cold.map((c) => c.peakRssMiB)),
    cachedPeakRssMiB: Math.max(...cached.map((c) => c.peakRssMiB)),
  };
}

/**
 * Runs the build comparisons. Needs dist/ (see {@link ensureDist}), busybox-static, and buildah
 * for its rows; cairn's RUN steps use the first runtime that works here.
 *
 * @example
 * ```ts
 * const r = await benchBuild({ runs: 3 });
 * console.log(buildSection(r));
 * ```
 */
export async function benchBuild(options: { runs?: number; quick?: boolean } = {}): Promise<BuildBench> {
  const runs = options.runs ?? 3;
  // Lowercase: buildah names an `oci:DIR` base after its path, and image names are lowercase.
  const work = path.join(tmpdir(), `cairn-bench-build-${randomBytes(6).toString("hex")}`);
  await fsp.mkdir(work);
  try {
    const base = await writeBase(path.join(work, "base"));
    const runtime = await detectRuntime()
      .then((r) => r.name)
      .catch(() => "none");
    const buildahSkipped = hasTool("buildah") ? undefined : "buildah is not installed";

    const copyCtx = path.join(work, "copy-ctx");
    await fsp.mkdir(copyCtx);
    const spec = options.quick ? COPY_CONTEXT_QUICK : COPY_CONTEXT;
    for (const [name, dirs] of spec) {
      await fsp.mkdir(path.join(copyCtx, name));
      const present = dirs.filter((d) => existsSync(d));
      if (present.length) execFileSync("cp", ["-a", ...present, path.join(copyCtx, name)]);
    }
    const size = treeSize(copyCtx);
    const copyDockerfile = path.join(work, "Dockerfile.copy");
    await fsp.writeFile(
      copyDockerfile,
      [`FROM ${base}`, ...spec.map(([name]) => `COPY ${name}/ /data/${name}/`), ""].join("\n"),
    );
    const runCtx = path.join(work, "run-ctx");
    await fsp.mkdir(runCtx);
    const runDockerfile = path.join(work, "Dockerfile.run");
    await fsp.writeFile(runDockerfile, RUN_DOCKERFILE(base));

    const cases: BuildCase[] = [];
    const dockerfiles: [string, string, string, string][] = [
      [
        "COPY-heavy",
        `${spec.length} COPY steps, ${Math.round(size.bytes / 2 ** 20)} MiB in ${size.files} entries`,
        copyDockerfile,
        copyCtx,
      ],
      ["RUN", "3 RUN steps: 64 MiB of zeros, 2000 small files, a listing", runDockerfile, runCtx],
    ];
    for (const [name, description, dockerfile, context] of dockerfiles) {
      if (name === "RUN" && runtime === "none") continue;
      const rows: BuildRow[] = [];
      const tag = `bench/${name.toLowerCase().replace(/[^a-z]/g, "")}:1`;
      rows.push(
        await coldAndCached("cairn", runs, work, (home) => cairnBuild(home, dockerfile, context, tag)),
      );
      console.error(`bench build: ${name} cairn done`);
      if (!buildahSkipped) {
        rows.push(
          await coldAndCached("buildah", runs, work, (storage) =>
            buildahBuild(storage, dockerfile, context, tag),
          ),
        );
        console.error(`bench build: ${name} buildah done`);
      }
      cases.push({ name, description, rows });
    }

    // examples/hello, as the demo builds it: the base is a tag in the store.
    const home = path.join(work, "hello-home");
    const env = { ...process.env, CAIRN_HOME: home };
    execFileSync("node", [CLI, "copy", base, "store:cairn-demo/base:latest"], { env, stdio: "ignore" });
    const hello = path.join(root, "examples/hello");
    const helloArgs = ["--build-arg", "BASE=cairn-demo/base:latest"];
    const dockerfile = path.join(hello, "Dockerfile.no-run");
    await cairnBuild(home, dockerfile, hello, "cairn-demo/hello:latest", helloArgs);
    const helloRuns: ChildCost[] = [];
    for (let i = 0; i < Math.max(runs, 5); i++) {
      helloRuns.push(await cairnBuild(home, dockerfile, hello, "cairn-demo/hello:latest", helloArgs));
    }
    return {
      runs,
      contextMiB: Math.round(size.bytes / 2 ** 20),
      contextFiles: size.files,
      cases,
      helloCachedSeconds: helloRuns.map((c) => c.seconds),
      helloCachedPeakRssMiB: Math.max(...helloRuns.map((c) => c.peakRssMiB)),
      runtime,
      ...(buildahSkipped ? { buildahSkipped } : {}),
    };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * The benchmark page section for {@link benchBuild}'s result.
 *
 * @example
 * ```ts
 * sections.push(buildSection(await benchBuild()));
 * ```
 */
export function buildSection(r: BuildBench): string {
  const s = (x: number) => x.toFixed(2);
  const rows: (string | number)[][] = [];
  for (const c of r.cases) {
    const buildah = c.rows.find((x) => x.builder === "buildah");
    for (const row of c.rows) {
      const ratio = (mine: number, theirs: number | undefined) =>
        row.builder === "cairn" && theirs !== undefined ? `${s(mine / theirs)}x` : "";
      rows.push([
        `${c.name}: ${c.description}`,
        row.builder === "cairn" ? "cairn build (CLI)" : "buildah bud (vfs, chroot, --layers)",
        s(row.coldSeconds),
        ratio(row.coldSeconds, buildah?.coldSeconds),
        s(row.cachedSeconds),
        ratio(row.cachedSeconds, buildah?.cachedSeconds),
        `${row.coldPeakRssMiB} / ${row.cachedPeakRssMiB} MiB`,
      ]);
    }
  }
  const hello = r.helloCachedSeconds;
  return [
    "## Dockerfile builds",
    "",
    "Each build is a separate process: `node dist/cli/main.js build -q` against",
    "`buildah bud --storage-driver vfs --isolation chroot --layers`, both `FROM oci:DIR:base`, a",
    "busybox-static image in an OCI layout. Cold = an empty store (cairn: a fresh `CAIRN_HOME`;",
    "buildah: fresh `--root`); cached = the same build again in that store. cairn gzips each layer",
    "into its store (level 6); buildah's vfs driver keeps layers as uncompressed directories, copying",
    `the whole root file system for every step. cairn runs RUN steps with ${r.runtime}. Medians of ${r.runs} runs;`,
    `ratios are cairn / buildah (< 1: cairn is faster). Peak RSS is the build process's (cold / cached).`,
    r.buildahSkipped ? `\nbuildah rows skipped: ${r.buildahSkipped}.` : "",
    "",
    table(
      ["Dockerfile", "builder", "cold (s)", "cold ratio", "cached (s)", "cached ratio", "peak RSS"],
      rows,
    ),
    "",
    `Fully cached rebuild of examples/hello (\`cairn build -f examples/hello/Dockerfile.no-run --build-arg`,
    `BASE=cairn-demo/base:latest\`, base tag in the store), wall time of the whole CLI process over`,
    `${hello.length} runs: median ${s(median(hello))} s, min ${s(Math.min(...hello))} s, max ${s(Math.max(...hello))} s,`,
    `peak RSS ${r.helloCachedPeakRssMiB} MiB.`,
    "",
    `Tools: ${toolVersion("buildah")}; Node.js ${process.version}.`,
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  ensureDist();
  const r = await benchBuild({ runs: Number(process.argv[2] ?? 3), quick: process.argv[3] === "quick" });
  console.log(buildSection(r));
  console.log(JSON.stringify(r, null, 2));
}
