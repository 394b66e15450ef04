/**
 * Pull an image from a registry and inspect it: digest, platform, layers, config.
 *
 *   npx tsx examples/pull-inspect.ts REF        (e.g. localhost:5000/acme/app:1)
 */
import { isImageIndex, pull, registry } from "../src/index.js";

const ref = process.argv[2];
if (!ref) throw new Error("usage: pull-inspect.ts REF");
const remote = await registry.get(ref); // lazy: only the manifest is read
const image = isImageIndex(remote) ? await remote.image("linux/amd64") : remote;
const config = await image.config();
console.log(`remote digest ${await image.digest()}`);
console.log(`platform ${config.os}/${config.architecture}`);
for (const layer of await image.layers())
  console.log(`layer ${layer.descriptor.digest} ${layer.descriptor.size}`);
const pulled = await pull(ref, {
  onProgress: (e) => e.status !== "progress" && console.error(e.status, e.digest),
});
console.log(`pulled ${pulled.digest} into ${pulled.layout} as ${pulled.tag}`);
