/**
 * `npm run demo`: the whole story on the embedded default store, with no daemon and no network.
 * Makes a base image locally, plans and builds examples/hello, lists its files through the union
 * view, runs it when a runtime is available, rebuilds it fully cached, and checks the store.
 */
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build, plainProgress } from "../src/build/index.js";
import { formatPlan, planBuild } from "../src/dockerfile/index.js";
import {
  appendLayers,
  emptyImage,
  type Image,
  ImageLayout,
  layerFromCreated,
  setConfig,
  setCreated,
  writeLocal,
} from "../src/image/index.js";
import { createLayer, type LayerEntry } from "../src/layer/index.js";
import { hostPlatform } from "../src/manifest/index.js";
import { detectRuntime, type Runtime, runImage } from "../src/runtime/index.js";
import { UnionView } from "../src/unionfs/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const context = path.join(here, "hello");
const EPOCH = 1_700_000_000;
const BASE = "cairn-demo/base:latest";
const TAG = "cairn-demo/hello:latest";
const skipped: string[] = [];

function say(title: string, ...lines: string[]): void {
  console.log(`\n== ${title}`);
  for (const l of lines) console.log(`   ${l}`);
}

/** The base image's files: busybox-static's binary and applets when this machine has it. */
async function baseEntries(): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [
    { path: "etc", type: "directory" },
    {
      path: "etc/passwd",
      type: "file",
      content: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
    },
    { path: "etc/group", type: "file", content: "root:x:0:\nnogroup:x:65534:\n" },
    { path: "tmp", type: "directory", mode: 0o1777 },
  ];
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!busybox) {
    skipped.push("busybox: not installed (apt-get install busybox-static), so the base has no shell");
    return entries;
  }
  const bytes = await readFile(busybox);
  entries.push({ path: "bin", type: "directory" });
  entries.push({ path: "bin/busybox", type: "file", mode: 0o755, content: bytes });
  for (const applet of ["sh", "cat", "echo", "ls", "uname", "chmod", "id"]) {
    entries.push({ path: `bin/${applet}`, type: "symlink", linkname: "busybox" });
  }
  return entries;
}

async function makeBase(): Promise<{ base: Image; layerFile: string | undefined }> {
  const created = await createLayer(await baseEntries(), { sourceDateEpoch: EPOCH });
  const layer = layerFromCreated(created);
  let base = await appendLayers(emptyImage(hostPlatform()), {
    layer,
    history: { created_by: "cairn demo: busybox base", created: new Date(EPOCH * 1000).toISOString() },
  });
  base = await setConfig(base, { env: { PATH: "/bin" }, cmd: ["/bin/sh"] });
  return { base: await setCreated(base, new Date(EPOCH * 1000)), layerFile: created.path };
}

async function pickRuntime(): Promise<Runtime | undefined> {
  if (process.getuid?.() !== 0)
    skipped.push("root: not running as root, so overlay mounts fall back to copies");
  try {
    return await detectRuntime();
  } catch (e) {
    skipped.push(`RUN and run: no runtime works here (${(e as Error).message.split("\n")[0]})`);
    return undefined;
  }
}

async function describe(image: Image): Promise<string[]> {
  const manifest = await image.manifest();
  const config = await image.config();
  return [
    `digest ${await image.digest()}`,
    ...manifest.layers.map(
      (l, i) =>
        `layer ${i} ${l.digest.slice(0, 19)}…  ${l.size} bytes  ${config.history?.filter((h) => !h.empty_layer)[i]?.created_by ?? ""}`,
    ),
    `cmd    ${JSON.stringify(config.config?.Cmd ?? null)}  workdir ${config.config?.WorkingDir ?? "/"}`,
  ];
}

async function main(): Promise<void> {
  const store = await ImageLayout.openDefault();
  say("default store", store.dir);

  const { base, layerFile } = await makeBase();
  await writeLocal(base, `store:${BASE}`);
  if (layerFile) await rm(layerFile, { force: true }); // the store has its own copy now
  say(`base image ${BASE} (made locally, no registry)`, ...(await describe(base)));

  const runtime = await pickRuntime();
  say("runtime", runtime ? `${runtime.name} (RUN steps and cairn run use it)` : "none: building without RUN");
  const dockerfile = path.join(context, runtime ? "Dockerfile" : "Dockerfile.no-run");
  const buildArgs = { BASE };

  const plan = await planBuild({
    dockerfile: await readFile(dockerfile),
    dockerfileName: path.basename(dockerfile),
    context,
    buildArgs,
  });
  say(`plan of ${path.relative(process.cwd(), dockerfile)}`, ...formatPlan(plan).trimEnd().split("\n"));

  const options = {
    context,
    dockerfile,
    buildArgs,
    tags: [TAG],
    sourceDateEpoch: EPOCH,
    ...(runtime ? { runtime } : {}),
  };
  console.log("\n== build (progress as docker build --progress=plain)");
  const first = await build({ ...options, onProgress: plainProgress((l) => console.log(`   ${l}`)) });
  say(`built ${TAG}`, ...(await describe(first.image)));

  const view = await UnionView.open(first.image);
  const files = await view.readdir("/app");
  say(
    "files through the union view (nothing unpacked)",
    `/app: ${files.join(", ")}`,
    `/app/message.txt: ${Buffer.from(await view.readFile("/app/message.txt"))
      .toString("utf8")
      .trim()}`,
    `/bin entries: ${(await view.exists("/bin")) ? (await view.readdir("/bin")).length : 0}`,
  );

  if (runtime && existsSync("/bin/busybox")) {
    const chunks: Buffer[] = [];
    const result = await runImage(first.image, {
      runtime,
      io: { stdout: "pipe", stderr: "pipe" },
    });
    chunks.push(result.stdout ?? Buffer.alloc(0));
    say(
      `cairn run ${TAG} (via ${result.runtime})`,
      ...Buffer.concat(chunks).toString("utf8").trim().split("\n"),
      `exit ${result.exitCode}`,
    );
  } else if (!runtime) skipped.push("cairn run: no runtime");

  const started = performance.now();
  const second = await build(options);
  const ms = Math.round(performance.now() - started);
  const cached = second.steps.filter((s) => s.cached).length;
  say(
    "rebuild",
    `${cached} of ${second.steps.length} steps CACHED in ${ms} ms`,
    `same digest: ${second.digest === first.digest}`,
  );

  const fsck = await store.store.fsck();
  say(
    "store",
    `tags: ${(await store.store.tags()).filter((t) => t.includes("cairn-demo")).join(", ")}`,
    `fsck: ${fsck.checked} blobs, ${fsck.missing.length} missing, ${fsck.corrupt.length} corrupt`,
    `size of ${TAG}'s layers: ${(await first.image.manifest()).layers.reduce((a, l) => a + l.size, 0)} bytes`,
  );
  say("skipped", ...(skipped.length ? skipped : ["nothing: every part of the demo ran"]));
}

await main();
