/**
 * `npm run demo`: the main job on the embedded default store, with no daemon and no network.
 * Assembles a base image and an app image from examples/hello, stores them in the default store,
 * inspects them, round-trips them through a docker-archive and an OCI layout, and checks the store.
 */
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  appendLayers,
  createLayer,
  emptyImage,
  hostPlatform,
  type Image,
  ImageLayout,
  type LayerEntry,
  layerFromCreated,
  openDockerArchive,
  setConfig,
  setCreated,
  writeDockerArchive,
} from "../src/index.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const EPOCH = 1_700_000_000;

function say(title: string, ...lines: string[]): void {
  console.log(`\n== ${title}`);
  for (const l of lines) console.log(`   ${l}`);
}

/** The base image: busybox-static's binary when this machine has it, else a few plain files. */
async function baseEntries(): Promise<{ entries: LayerEntry[]; note: string }> {
  const entries: LayerEntry[] = [
    { path: "etc", type: "directory" },
    { path: "etc/passwd", type: "file", content: "root:x:0:0:root:/root:/bin/sh\n" },
    { path: "etc/group", type: "file", content: "root:x:0:\n" },
    { path: "tmp", type: "directory", mode: 0o1777 },
  ];
  const busybox = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
  if (!busybox)
    return { entries, note: "no busybox here (apt-get install busybox-static): base has files only" };
  const size = (await stat(busybox)).size;
  entries.push({ path: "bin", type: "directory" });
  entries.push({
    path: "bin/busybox",
    type: "file",
    mode: 0o755,
    size,
    content: () => readFileStream(busybox),
  });
  for (const applet of ["sh", "cat", "echo", "ls"]) {
    entries.push({ path: `bin/${applet}`, type: "symlink", linkname: "busybox" });
  }
  return { entries, note: `base includes ${busybox}` };
}

async function* readFileStream(file: string): AsyncIterable<Uint8Array> {
  yield await readFile(file);
}

async function appEntries(): Promise<LayerEntry[]> {
  const dir = path.join(here, "hello/app");
  const entries: LayerEntry[] = [{ path: "app", type: "directory" }];
  for (const name of (await readdir(dir)).sort()) {
    const file = path.join(dir, name);
    const mode = (await stat(file)).mode & 0o777;
    entries.push({ path: `app/${name}`, type: "file", mode, content: await readFile(file) });
  }
  return entries;
}

async function describe(image: Image): Promise<string[]> {
  const manifest = await image.manifest();
  const config = await image.config();
  return [
    `digest   ${await image.digest()}`,
    `config   ${manifest.config.digest}`,
    ...manifest.layers.map(
      (l, i) => `layer ${i}  ${l.digest}  ${l.size} bytes  (diff ${config.rootfs.diff_ids[i]})`,
    ),
    `cmd      ${JSON.stringify(config.config?.Cmd ?? null)}`,
  ];
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), "cairn-demo-"));
  try {
    const store = await ImageLayout.openDefault();
    say("default store", store.dir);

    const platform = hostPlatform();
    const { entries, note } = await baseEntries();
    const baseLayer = await createLayer(entries, { sourceDateEpoch: EPOCH, tmpDir: work });
    let base = await appendLayers(emptyImage(platform), {
      layer: layerFromCreated(baseLayer),
      history: { created_by: "cairn demo: base files", created: new Date(EPOCH * 1000).toISOString() },
    });
    base = await setCreated(
      await setConfig(base, { env: { PATH: "/bin" }, cmd: ["/bin/sh"] }),
      new Date(EPOCH * 1000),
    );
    await store.write(base, { tag: "cairn-demo/base:latest" });
    say("base image (cairn-demo/base:latest)", note, ...(await describe(base)));

    const appLayer = await createLayer(await appEntries(), { sourceDateEpoch: EPOCH, tmpDir: work });
    let app = await appendLayers(base, {
      layer: layerFromCreated(appLayer),
      history: { created_by: "COPY app/ /app/", created: new Date(EPOCH * 1000).toISOString() },
    });
    app = await setConfig(app, {
      env: { GREETING: "hello" },
      workdir: "/app",
      cmd: ["/bin/sh", "/app/hello.sh"],
    });
    app = await setCreated(app, new Date(EPOCH * 1000));
    const events: string[] = [];
    await store.write(app, {
      tag: "cairn-demo/hello:latest",
      onProgress: (e) => events.push(e.skipped ? "skip" : "copy"),
    });
    say(
      "app image (cairn-demo/hello:latest)",
      `blobs written ${events.filter((e) => e === "copy").length}, already in the store ${events.filter((e) => e === "skip").length} (the base layer is shared)`,
      ...(await describe(app)),
    );

    const archive = path.join(work, "hello.tar");
    await writeDockerArchive(archive, [{ image: app, tags: ["cairn-demo/hello:latest"] }]);
    const fromArchive = await (await openDockerArchive(archive)).image("cairn-demo/hello:latest");
    say(
      "docker-archive round trip",
      `${archive}: ${(await stat(archive)).size} bytes`,
      `image ID kept: ${(await fromArchive.manifest()).config.digest === (await app.manifest()).config.digest}`,
      `diff IDs kept: ${JSON.stringify((await fromArchive.config()).rootfs.diff_ids) === JSON.stringify((await app.config()).rootfs.diff_ids)}`,
    );

    const layout = await ImageLayout.open(path.join(work, "oci"), { create: true });
    await layout.write(await store.image("cairn-demo/hello:latest"), { tag: "latest" });
    const again = await layout.image("latest");
    say(
      "OCI layout copy",
      `oci:${layout.dir}:latest digest kept: ${(await again.digest()) === (await app.digest())}`,
    );

    const fsck = await store.store.fsck();
    say(
      "store check",
      `tags: ${(await store.store.tags()).join(", ")}`,
      `fsck: ${fsck.checked} blobs, ${fsck.missing.length} missing, ${fsck.corrupt.length} corrupt`,
    );
    say(
      "not shown yet",
      "Dockerfile builds, union mounts, registry push/pull and running containers arrive with their modules.",
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
