/**
 * A child process for the content-store crash and concurrency tests, run as
 * `node --import tsx test/helpers/content-child.ts <mode> <layout> [args…]`.
 *
 * Modes:
 * - `put-large <layout> <MiB>`: puts {@link largeBlob}, printing `chunk <i>` before each chunk,
 *   `end` when the source is drained and `done <digest>` when put returns.
 * - `writer <layout> <w> <startAtMs>`: waits until `startAtMs`, then puts writer w's blobs (mixed
 *   sources, in parallel) and tags them; prints `done`.
 * - `tag-loop <layout>`: puts a blob, then tags it `t0`, `t1`… forever, printing `tagged <i>`.
 * - `hold-lock <layout>`: takes the index.json lock, prints `locked`, and waits to be killed.
 */

import path from "node:path";
import { Readable } from "node:stream";
import { acquireFileLock, INDEX_LOCK_FILE, OciLayout } from "../../src/content/index.js";
import { digestBytes } from "../../src/digest/index.js";
import { largeBlob, setBlob, writerBlobs } from "./content-gen.js";

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function putLarge(dir: string, mebibytes: number): Promise<void> {
  const layout = await OciLayout.open(dir, { create: true });
  async function* source() {
    yield* largeBlob(mebibytes, (i) => say(`chunk ${i}`));
    say("end");
  }
  const desc = await layout.put(source());
  say(`done ${desc.digest}`);
}

async function writer(dir: string, w: number, startAt: number): Promise<void> {
  const layout = await OciLayout.open(dir, { create: true });
  await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
  await Promise.all(
    writerBlobs(w).map(async (k, i) => {
      const bytes = setBlob(k);
      const digest = digestBytes(bytes);
      // Vary the source kinds and whether the digest is known up front.
      const source =
        i % 3 === 0
          ? bytes
          : i % 3 === 1
            ? Readable.from([bytes.subarray(0, 7), bytes.subarray(7)])
            : (async function* () {
                for (let off = 0; off < bytes.length; off += 65_536) yield bytes.slice(off, off + 65_536);
              })();
      const desc = await layout.put(source, i % 2 === 0 ? { digest, size: bytes.length } : {});
      if (desc.digest !== digest)
        throw new Error(`writer ${w}: blob ${k} stored as ${desc.digest}, expected ${digest}`);
      await layout.tag(`w${w}-k${k}`, desc);
      await layout.tag(`shared-k${k}`, desc);
      await layout.tag("shared", desc);
    }),
  );
  say("done");
}

async function tagLoop(dir: string): Promise<void> {
  const layout = await OciLayout.open(dir, { create: true });
  const desc = await layout.put("tagged by the loop");
  for (let i = 0; ; i++) {
    await layout.tag(`t${i}`, desc);
    say(`tagged ${i}`);
  }
}

async function holdLock(dir: string): Promise<void> {
  await acquireFileLock(path.join(dir, INDEX_LOCK_FILE));
  say("locked");
  setInterval(() => {}, 1000);
}

const [mode, dir, a, b] = process.argv.slice(2);
if (!dir) throw new Error("usage: content-child.ts <mode> <layout> [args…]");
if (mode === "put-large") await putLarge(dir, Number(a));
else if (mode === "writer") await writer(dir, Number(a), Number(b));
else if (mode === "tag-loop") await tagLoop(dir);
else if (mode === "hold-lock") await holdLock(dir);
else throw new Error(`unknown mode ${mode}`);
