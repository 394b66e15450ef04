/**
 * A child process for the snapshot store's concurrency and crash tests, run as
 * `node --import tsx test/helpers/union-child.ts <store> <image> [startAtMs]`: waits until
 * `startAtMs`, prepares `image` (an `oci:DIR:TAG`) in the snapshot store `store`, printing
 * `apply <layer> <entries>` as layers are applied and `done <unpacked> <reused>` at the end.
 */
import { SnapshotStore } from "../../src/unionfs/index.js";
import { openImage } from "./union.js";

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

const [storeDir, spec, startAt] = process.argv.slice(2) as [string, string, string | undefined];
const store = await SnapshotStore.open(storeDir);
const image = await openImage(spec);
const wait = Number(startAt ?? 0) - Date.now();
if (wait > 0) await new Promise((r) => setTimeout(r, wait));
const chain = await store.prepare(image, {
  onProgress: (e) => {
    if (e.kind === "apply") say(`apply ${e.layer} ${e.entries}`);
  },
});
say(`done ${chain.unpacked} ${chain.reused}`);
await chain.release();
