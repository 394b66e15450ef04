/**
 * Build a Dockerfile from a Node script: the plan, then the build with progress, into the
 * default store and an OCI layout. Uses examples/hello's Dockerfile without RUN on a base
 * assembled in memory, so it needs no runtime and no registry.
 *
 *   npx tsx examples/build-image.ts [OUT_DIR]
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  appendLayers,
  build,
  createLayer,
  emptyImage,
  layerFromCreated,
  plainProgress,
  writeLocal,
} from "../src/index.js";

const out = process.argv[2] ?? "examples-out";
const here = path.dirname(fileURLToPath(import.meta.url));
const base = await appendLayers(
  emptyImage(),
  layerFromCreated(
    await createLayer([{ path: "etc/motd", type: "file", content: "base\n" }], { sourceDateEpoch: 0 }),
  ),
);
await writeLocal(base, "store:examples/base:1");
const result = await build({
  context: path.join(here, "hello"),
  dockerfile: path.join(here, "hello/Dockerfile.no-run"),
  buildArgs: { BASE: "examples/base:1" },
  tags: ["examples/hello:1"],
  output: [`oci:${path.join(out, "built")}:hello`],
  sourceDateEpoch: 1_700_000_000,
  onProgress: plainProgress((line) => console.error(line)),
});
console.log(`digest ${result.digest}`);
console.log(`steps ${result.steps.length}, cached ${result.steps.filter((s) => s.cached).length}`);
