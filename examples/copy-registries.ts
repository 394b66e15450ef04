/**
 * Copy an image between registries (or repositories of one registry, where blobs are mounted
 * instead of uploaded), keeping every digest.
 *
 *   npx tsx examples/copy-registries.ts SRC_REF DEST_REF
 */
import { copy, resolveDigest } from "../src/index.js";

const [src, dest] = process.argv.slice(2);
if (!src || !dest) throw new Error("usage: copy-registries.ts SRC_REF DEST_REF");
const result = await copy(`docker://${src}`, `docker://${dest}`);
const blobs = result.write?.blobs;
console.log(
  `copied ${result.digest}: ${blobs?.uploaded ?? 0} uploaded, ${blobs?.mounted ?? 0} mounted, ${blobs?.existing ?? 0} existing`,
);
console.log(`same digest: ${(await resolveDigest(src)) === (await resolveDigest(dest))}`);
