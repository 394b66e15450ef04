/**
 * Bench (not a test): unpacking a large multi-layer image made from this machine's /usr
 * (a few hundred MiB, tens of thousands of files, 4 layers) with cairn, against GNU `tar -xf`
 * of the same layer blobs and `umoci unpack` of the same image, as ratios; then the snapshot
 * store: a first `prepare` unpacks every layer, a second image sharing the 3 base layers
 * unpacks only its own. Peak memory of cairn's unpack is sampled too.
 *
 * Run: `npx tsx bench/unpack.ts [runs]` (default 3).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  appendLayers,
  emptyImage,
  type Image,
  isImageIndex,
  layerFromCreated,
  openLocal,
  writeLocal,
} from "../src/image/index.js";
import {
  type CreatedLayer,
  createLayer,
  type LayerEntry,
  walkTree,
  whiteoutEntry,
} from "../src/layer/index.js";
import { SnapshotStore, unpackImage } from "../src/unionfs/index.js";
import { median, table, toolVersion } from "./report.js";

/** What {@link benchUnpack} measured (seconds are medians). */
export interface UnpackBench {
  runs: number;
  /** Runs of the snapshot-store rows (at most `runs`). */
  snapshotRuns: number;
  layers: number;
  entries: number;
  uncompressedMiB: number;
  compressedMiB: number;
  cairnSeconds: number;
  tarSeconds: number;
  umociSeconds: number;
  cairnVsTar: number;
  cairnVsUmoci: number;
  /** cairn building the tree from a warm snapshot store (reflink/copy of the merged tree). */
  fromSnapshotsSeconds: number;
  /** First `prepare` of the image into an empty snapshot store. */
  prepareSeconds: number;
  prepareUnpacked: number;
  /** `prepare` of a second image sharing the 3 base layers. */
  secondPrepareSeconds: number;
  secondUnpacked: number;
  secondReused: number;
  /** Uncompressed size of the second image's own layer. */
  secondNewMiB: number;
  peakRssMiB: number;
  baselineRssMiB: number;
}

/** The /usr trees each layer is made of (they exist on Debian with the usual toolchain). */
const LAYERS: { dirs: string[]; whiteouts?: string[] }[] = [
  { dirs: ["/usr/include"] },
  { dirs: ["/usr/share/man"] },
  { dirs: ["/usr/share/doc", "/usr/share/icons"] },
  { dirs: ["/usr/lib/python3.11", "/usr/share/perl", "/usr/share/vim"], whiteouts: ["usr/include/linux"] },
];
const SECOND_TOP = { dirs: ["/usr/lib/python3"] };

function seconds(fn: () => void): number {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

async function secondsAsync(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/** The entries of host directories, under their own paths, parents first. */
async function* hostEntries(dirs: string[], whiteouts: string[] = []): AsyncGenerator<LayerEntry> {
  const seen = new Set<string>();
  for (const dir of [...dirs].sort()) {
    const rel = dir.replace(/^\/+/, "");
    const parts = rel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join("/");
      if (seen.has(p)) continue;
      seen.add(p);
      const st = fs.statSync(`/${p}`);
      yield { path: p, type: "directory", mode: st.mode & 0o7777, uid: 0, gid: 0, mtime: st.mtimeMs / 1000 };
    }
    for await (const e of walkTree(dir)) {
      const entry: LayerEntry = { ...e, path: `${rel}/${e.path}` };
      if (e.type === "hardlink" && e.linkname !== undefined) entry.linkname = `${rel}/${e.linkname}`;
      yield entry;
    }
  }
  for (const w of whiteouts) yield whiteoutEntry(w);
}

async function makeLayer(
  spec: { dirs: string[]; whiteouts?: string[] },
  tmp: string,
  counter: { entries: number },
) {
  async function* counted() {
    for await (const e of hostEntries(spec.dirs, spec.whiteouts)) {
      counter.entries++;
      yield e;
    }
  }
  return createLayer(counted(), { compression: "gzip", level: 1, tmpDir: tmp });
}

function mib(n: number): number {
  return Math.round((n / 2 ** 20) * 10) / 10;
}

/**
 * Builds the images and measures. Needs GNU tar and umoci (Debian packages tar, umoci). The
 * snapshot-store rows run `snapshotRuns` times (default `runs`).
 *
 * @example
 * ```ts
 * const r = await benchUnpack({ runs: 3 }); console.log(r.cairnVsTar)
 * ```
 */
export async function benchUnpack(
  options: { runs?: number; snapshotRuns?: number } = {},
): Promise<UnpackBench> {
  const runs = options.runs ?? 3;
  // The snapshot-store rows cost as much again; `npm run bench` runs them fewer times.
  const snapshotRuns = Math.max(1, Math.min(runs, options.snapshotRuns ?? runs));
  const work = await fsp.mkdtemp(path.join(tmpdir(), "cairn-bench-unpack-"));
  try {
    const counter = { entries: 0 };
    const layers: CreatedLayer[] = [];
    for (const spec of LAYERS) layers.push(await makeLayer(spec, work, counter));
    const top2 = await makeLayer(SECOND_TOP, work, { entries: 0 });
    const layout = path.join(work, "layout");
    await writeLocal(
      await appendLayers(emptyImage(), ...layers.map(layerFromCreated)),
      `oci:${layout}:first`,
    );
    await writeLocal(
      await appendLayers(emptyImage(), ...layers.slice(0, 3).map(layerFromCreated), layerFromCreated(top2)),
      `oci:${layout}:second`,
    );
    const open = async (tag: string): Promise<Image> => {
      const x = await openLocal(`oci:${layout}:${tag}`);
      if (isImageIndex(x)) throw new Error("expected an image");
      return x;
    };
    const first = await open("first");
    const second = await open("second");

    const cairn: number[] = [];
    const tar: number[] = [];
    const umoci: number[] = [];
    const fromSnapshots: number[] = [];
    const baselineRss = process.memoryUsage().rss;
    let peakRss = baselineRss;
    const out = path.join(work, "out");
    // Each timed step starts with no dirty pages left by the previous one (removing 400 MiB is
    // written back lazily and would be charged to whoever runs next).
    const clean = () => {
      fs.rmSync(out, { recursive: true, force: true });
      execFileSync("sync");
    };
    const warm = await SnapshotStore.open(path.join(work, "warm-snapshots"));
    await (await warm.prepare(first)).release();
    execFileSync("sync");
    for (let i = 0; i < runs; i++) {
      clean();
      fs.mkdirSync(out);
      tar.push(
        seconds(() => {
          for (const l of layers)
            execFileSync("tar", ["-xf", l.path as string, "-C", out], { stdio: "ignore" });
        }),
      );
      clean();
      umoci.push(
        seconds(() =>
          execFileSync("umoci", ["unpack", "--image", `${layout}:first`, out], { stdio: "ignore" }),
        ),
      );
      clean();
      const sampler = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }, 20);
      cairn.push(await secondsAsync(() => unpackImage(first, out)));
      clearInterval(sampler);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      clean();
      if (i < snapshotRuns) {
        fromSnapshots.push(await secondsAsync(() => unpackImage(first, out, { store: warm })));
        clean();
      }
    }

    const prepare: number[] = [];
    const secondPrepare: number[] = [];
    let prepareUnpacked = 0;
    let secondUnpacked = 0;
    let secondReused = 0;
    for (let i = 0; i < snapshotRuns; i++) {
      execFileSync("sync");
      const store = await SnapshotStore.open(path.join(work, `snapshots-${i}`));
      let chain: Awaited<ReturnType<SnapshotStore["prepare"]>> | undefined;
      prepare.push(
        await secondsAsync(async () => {
          chain = await store.prepare(first);
        }),
      );
      prepareUnpacked = chain?.unpacked ?? 0;
      execFileSync("sync");
      secondPrepare.push(
        await secondsAsync(async () => {
          const c = await store.prepare(second);
          secondUnpacked = c.unpacked;
          secondReused = c.reused;
        }),
      );
      fs.rmSync(store.root, { recursive: true, force: true });
    }

    const cairnSeconds = median(cairn);
    const tarSeconds = median(tar);
    const umociSeconds = median(umoci);
    return {
      runs,
      snapshotRuns,
      layers: layers.length,
      entries: counter.entries,
      uncompressedMiB: mib(layers.reduce((n, l) => n + l.uncompressedSize, 0)),
      compressedMiB: mib(layers.reduce((n, l) => n + l.descriptor.size, 0)),
      cairnSeconds,
      tarSeconds,
      umociSeconds,
      cairnVsTar: cairnSeconds / tarSeconds,
      cairnVsUmoci: cairnSeconds / umociSeconds,
      fromSnapshotsSeconds: median(fromSnapshots),
      prepareSeconds: median(prepare),
      prepareUnpacked,
      secondPrepareSeconds: median(secondPrepare),
      secondUnpacked,
      secondReused,
      secondNewMiB: mib(top2.uncompressedSize),
      peakRssMiB: Math.round(peakRss / 2 ** 20),
      baselineRssMiB: Math.round(baselineRss / 2 ** 20),
    };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}

/**
 * The benchmark page section for {@link benchUnpack}'s result.
 *
 * @example
 * ```ts
 * sections.push(unpackSection(await benchUnpack()))
 * ```
 */
export function unpackSection(r: UnpackBench): string {
  const s = (x: number) => x.toFixed(2);
  return [
    "## Unpacking a multi-layer image",
    "",
    `An image of ${r.layers} gzip layers made from this machine's /usr: ${r.entries} entries, ${r.uncompressedMiB} MiB`,
    `uncompressed (${r.compressedMiB} MiB compressed), whiteouts included. cairn \`unpackImage\` against GNU`,
    "`tar -xf` of the same layer blobs one after the other (no whiteout handling) and `umoci unpack` of the",
    `same image; medians of ${r.runs} runs. Ratio < 1 means cairn is faster.`,
    "",
    table(
      [
        "cairn unpack (s)",
        "tar -xf (s)",
        "umoci unpack (s)",
        "cairn / tar",
        "cairn / umoci",
        "peak RSS growth",
      ],
      [
        [
          s(r.cairnSeconds),
          s(r.tarSeconds),
          s(r.umociSeconds),
          `${s(r.cairnVsTar)}x`,
          `${s(r.cairnVsUmoci)}x`,
          `${r.peakRssMiB - r.baselineRssMiB} MiB`,
        ],
      ],
    ),
    "",
    "The snapshot store unpacks each layer once, keyed by chain ID. A second image sharing the 3 base",
    `layers costs only its own layer (medians of ${r.snapshotRuns} run${r.snapshotRuns === 1 ? "" : "s"}):`,
    "",
    table(
      ["step", "seconds", "layers unpacked", "layers reused"],
      [
        ["prepare image 1 (empty store)", s(r.prepareSeconds), r.prepareUnpacked, 0],
        [
          `prepare image 2 (own layer ${r.secondNewMiB} MiB)`,
          s(r.secondPrepareSeconds),
          r.secondUnpacked,
          r.secondReused,
        ],
        ["unpack image 1 from warm snapshots (copy)", s(r.fromSnapshotsSeconds), 0, r.layers],
      ],
    ),
    "",
    `Tools: ${toolVersion("tar")}; ${toolVersion("umoci", ["--version"])}.`,
  ].join("\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  const result = await benchUnpack({ runs: Number(process.argv[2] ?? 3) });
  console.log(unpackSection(result));
  console.table(result);
}
