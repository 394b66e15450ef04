/**
 * Assemble an image without a Dockerfile: a layer from files in memory, appended to an empty
 * image, config set, written to an OCI layout and a docker-archive.
 *
 *   npx tsx examples/assemble-image.ts [OUT_DIR]
 */
import { rm } from "node:fs/promises";
import path from "node:path";
import {
  appendLayers,
  createLayer,
  emptyImage,
  ImageLayout,
  layerFromCreated,
  setConfig,
  writeDockerArchive,
} from "../src/index.js";

const out = process.argv[2] ?? "examples-out";
const created = await createLayer(
  [
    { path: "app", type: "directory" },
    { path: "app/config.json", type: "file", content: '{"greeting":"hello"}\n' },
    { path: "app/run.sh", type: "file", mode: 0o755, content: "#!/bin/sh\necho hello\n" },
  ],
  { sourceDateEpoch: 0 },
);
let image = await appendLayers(emptyImage({ os: "linux", architecture: "amd64" }), {
  layer: layerFromCreated(created),
  history: { created_by: "examples/assemble-image.ts" },
});
image = await setConfig(image, {
  entrypoint: ["/app/run.sh"],
  env: { APP_MODE: "production" },
  labels: { "org.opencontainers.image.title": "assembled" },
  exposedPorts: ["8080"],
  workdir: "/app",
});
const layout = await ImageLayout.open(path.join(out, "layout"), { create: true });
await layout.write(image, { tag: "assembled" });
await writeDockerArchive(path.join(out, "assembled.tar"), [{ image, tags: ["example.com/assembled:1"] }]);
if (created.path) await rm(created.path, { force: true });
console.log(`digest ${await image.digest()}`);
console.log(`layers ${(await image.manifest()).layers.length}`);
console.log(`entrypoint ${JSON.stringify((await image.config()).config?.Entrypoint)}`);
