/**
 * Parallel gzip: one standard gzip member that every gunzip reads, the same bytes whatever the
 * write sizes or concurrency, bounded memory, errors and destroy.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import path from "node:path";
import { PassThrough, Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import zlib from "node:zlib";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { singleThreadGzipStream } from "../src/layer/compression.js";
import { compressStream, parallelGzipAvailable, parallelGzipStream } from "../src/layer/index.js";
import { requireTool } from "./helpers/tools.js";
import { tempDir } from "./layer-fixtures.js";

const KiB = 1024;
const MiB = 1024 * KiB;

let work: string;
beforeAll(() => {
  work = tempDir("cairn-pgzip-");
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

type GzipOptions = Parameters<typeof parallelGzipStream>[0];

/** Writes `data` in pieces cut at `cuts` (offsets) and returns the whole output. */
async function gzipPieces(data: Buffer, cuts: number[], options: GzipOptions): Promise<Buffer> {
  const points = [...new Set(cuts.map((c) => Math.min(c, data.length)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let at = 0;
  for (const p of [...points, data.length]) {
    if (p > at) pieces.push(data.subarray(at, p));
    at = Math.max(at, p);
  }
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces, { objectMode: false }),
    parallelGzipStream(options),
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

const gzip = (data: Buffer, options: GzipOptions = {}) => gzipPieces(data, [], options);

/** Text-like data: words from a small vocabulary with numbers, compressible like source trees. */
function textLike(size: number, seed = 1): Buffer {
  const words = ["layer", "image", "manifest", "digest", "sha256", "config", "blob", "index", "tar", "gzip"];
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x;
  };
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const r = next();
    const part = r % 7 === 0 ? `${r % 100000}\n` : `${words[r % words.length]} `;
    parts.push(part);
    length += part.length;
  }
  return Buffer.from(parts.join("")).subarray(0, size);
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

function writeTemp(name: string, data: Buffer): string {
  const file = path.join(work, name);
  fs.writeFileSync(file, data);
  return file;
}

describe("parallelGzipStream", () => {
  it("is available on this Node", () => {
    expect(parallelGzipAvailable()).toBe(true);
  });

  it("writes the fixed gzip header with zlib's XFL for the level", async () => {
    const xfl = { 0: 4, 1: 4, 2: 0, 6: 0, 9: 2 } as const;
    for (const [level, x] of Object.entries(xfl)) {
      const out = await gzip(Buffer.from("hello"), { level: Number(level) });
      expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, x, 0xff]);
      expect(zlib.gunzipSync(out).toString()).toBe("hello");
      // zlib's own header agrees on XFL.
      expect(zlib.gzipSync("x", { level: Number(level) })[8]).toBe(x);
    }
    const dflt = await gzip(Buffer.from("x"), { level: -1 });
    expect(dflt.equals(await gzip(Buffer.from("x"), { level: 6 }))).toBe(true);
  });

  it("gives a valid gzip for empty input (node, gzip, pigz, busybox)", async () => {
    const out = await gzip(Buffer.alloc(0));
    expect(zlib.gunzipSync(out).length).toBe(0);
    expect(out.subarray(out.length - 8)).toEqual(Buffer.alloc(8));
    const file = writeTemp("empty.gz", out);
    execFileSync(requireTool("gzip"), ["-t", file]);
    expect(execFileSync(requireTool("pigz"), ["-dc", file]).length).toBe(0);
    expect(execFileSync(requireTool("busybox", "busybox-static"), ["gunzip", "-c", file]).length).toBe(0);
  });

  it("round-trips sizes around the block boundaries", async () => {
    const blockSize = 1 * KiB;
    const sizes = [
      1,
      blockSize - 1,
      blockSize,
      blockSize + 1,
      2 * blockSize,
      3 * blockSize,
      3 * blockSize + 7,
    ];
    for (const size of sizes) {
      const data = Buffer.concat([textLike(size >> 1), randomBytes(size - (size >> 1))]);
      for (const concurrency of [1, 3]) {
        const out = await gzip(data, { blockSize, concurrency });
        expect(zlib.gunzipSync(out).equals(data)).toBe(true);
        expect(out.readUInt32LE(out.length - 8)).toBe(zlib.crc32(data));
        expect(out.readUInt32LE(out.length - 4)).toBe(size);
      }
    }
  });

  it("output depends on the bytes only: any write splits, concurrency 1 or 4 (property)", async () => {
    // Compressible runs and random bytes, so blocks refer back into the dictionary.
    const dataArb = fc
      .array(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 3000 }),
          fc
            .tuple(
              fc.constantFrom("abc", "layer ", "\u0000", "0123456789"),
              fc.integer({ min: 1, max: 2000 }),
            )
            .map(([s, n]) => new Uint8Array(Buffer.from(s.repeat(n)))),
        ),
        { maxLength: 12 },
      )
      .map((parts) => Buffer.concat(parts));
    await fc.assert(
      fc.asyncProperty(
        dataArb,
        fc.constantFrom(1 * KiB, 3 * KiB, 4 * KiB, 32 * KiB, 64 * KiB),
        fc.integer({ min: 0, max: 9 }),
        fc.array(fc.nat({ max: 40_000 }), { maxLength: 20 }),
        fc.array(fc.nat({ max: 40_000 }), { maxLength: 20 }),
        async (data, blockSize, level, cutsA, cutsB) => {
          const a = await gzipPieces(data, cutsA, { blockSize, level, concurrency: 1 });
          const b = await gzipPieces(data, cutsB, { blockSize, level, concurrency: 4 });
          expect(a.equals(b)).toBe(true);
          expect(zlib.gunzipSync(a).equals(data)).toBe(true);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("several MiB of compressible and incompressible data: node, gzip, pigz and busybox read it", async () => {
    const data = Buffer.concat([textLike(3 * MiB), randomBytes(2 * MiB), textLike(MiB + 12345, 7)]);
    const out = await gzipPieces(data, [1, 70_000, 3 * MiB - 5, 5 * MiB + 3], {});
    const again = await gzipPieces(data, [MiB, 2 * MiB], { concurrency: 3 });
    expect(again.equals(out)).toBe(true);
    expect(zlib.gunzipSync(out).equals(data)).toBe(true);
    const file = writeTemp("big.gz", out);
    const want = sha(data);
    const maxBuffer = 64 * MiB;
    execFileSync(requireTool("gzip"), ["-t", file]);
    expect(sha(execFileSync(requireTool("gzip"), ["-dc", file], { maxBuffer }))).toBe(want);
    expect(sha(execFileSync(requireTool("pigz"), ["-dc", file], { maxBuffer }))).toBe(want);
    const busybox = requireTool("busybox", "busybox-static");
    expect(sha(execFileSync(busybox, ["gunzip", "-c", file], { maxBuffer }))).toBe(want);
    // One member: gzip -l reads a single trailer that covers all of the input.
    expect(execFileSync(requireTool("gzip"), ["-lv", file], { encoding: "utf8" })).toContain(
      String(data.length),
    );
  });

  it("at level 6 on text-like input is within 1% of createGzip's size", async () => {
    const data = textLike(8 * MiB, 3);
    const ours = await gzip(data, { level: 6 });
    const zlibs = zlib.gzipSync(data, { level: 6 });
    expect(Math.abs(ours.length - zlibs.length) / zlibs.length).toBeLessThan(0.01);
  });

  it("reads ahead a bounded amount while the reader does not read", async () => {
    const blockSize = 64 * KiB;
    let produced = 0;
    const source = new Readable({
      highWaterMark: 64 * KiB,
      read() {
        produced += 64 * KiB;
        this.push(randomBytes(64 * KiB));
      },
    });
    const gz = parallelGzipStream({ blockSize, concurrency: 2 });
    source.pipe(gz);
    let previous = -1;
    for (let i = 0; i < 50 && produced !== previous; i++) {
      previous = produced;
      await sleep(100);
    }
    expect(produced).toBe(previous);
    // 2 blocks in zlib, 1 filling, 1 pending write, the source's and the readable buffers.
    expect(produced).toBeLessThanOrEqual(10 * blockSize);
    // And it resumes once read.
    let read = 0;
    gz.on("data", (chunk: Buffer) => {
      read += chunk.length;
    });
    while (read < 20 * blockSize) await sleep(20);
    source.unpipe(gz);
    source.destroy();
    gz.destroy();
  });

  it("propagates a source error through pipeline", async () => {
    const source = Readable.from(
      (async function* () {
        yield randomBytes(3 * MiB);
        throw new Error("source broke");
      })(),
      { objectMode: false },
    );
    await expect(
      pipeline(source, parallelGzipStream({ blockSize: 256 * KiB }), new PassThrough().resume()),
    ).rejects.toThrow("source broke");
  });

  it("stops on destroy and on abort, with blocks still in zlib", async () => {
    const gz = parallelGzipStream({ blockSize: 256 * KiB, concurrency: 4 });
    let afterDestroy = 0;
    let destroyed = false;
    gz.on("data", () => {
      if (destroyed) afterDestroy++;
    });
    const errors: Error[] = [];
    gz.on("error", (e) => errors.push(e));
    await once(gz, "data"); // the header, pushed up front
    gz.write(randomBytes(2 * MiB));
    const closed = new Promise((resolve) => gz.on("close", resolve));
    gz.destroy();
    destroyed = true;
    await closed;
    await sleep(200);
    expect(afterDestroy).toBe(0);
    expect(errors).toEqual([]);

    const failing = parallelGzipStream({ blockSize: 256 * KiB });
    failing.write(randomBytes(MiB));
    const failed = new Promise<Error>((resolve) => failing.on("error", resolve));
    failing.destroy(new Error("consumer gone"));
    expect((await failed).message).toBe("consumer gone");

    const controller = new AbortController();
    const endless = new Readable({
      read() {
        this.push(randomBytes(256 * KiB));
      },
    });
    const run = pipeline(endless, parallelGzipStream({ blockSize: 256 * KiB }), new PassThrough().resume(), {
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 100);
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
  });

  it("rejects out-of-range options with E_USAGE", () => {
    for (const options of [
      { level: 10 },
      { level: 1.5 },
      { blockSize: 0 },
      { concurrency: 0 },
      { blockSize: Number.NaN },
    ]) {
      let caught: unknown;
      try {
        parallelGzipStream(options);
      } catch (e) {
        caught = e;
      }
      expect(isCairnError(caught, "E_USAGE")).toBe(true);
    }
  });
});

describe("compressStream gzip", () => {
  it("is the parallel stream at the given level, with 1 MiB blocks", async () => {
    const data = textLike(3 * MiB + 5, 11);
    for (const level of [1, 6]) {
      const viaCompress = Buffer.concat(
        await Readable.from([data]).pipe(compressStream("gzip", { level })).toArray(),
      );
      expect(viaCompress.equals(await gzip(data, { level, blockSize: MiB }))).toBe(true);
    }
  });

  it("gives createGzip's bytes (OS byte aside) for input smaller than one block", async () => {
    for (const data of [Buffer.alloc(0), textLike(1000), textLike(MiB - 1, 2)]) {
      const ours = Buffer.concat(await Readable.from([data]).pipe(compressStream("gzip")).toArray());
      const single = Buffer.concat(await Readable.from([data]).pipe(singleThreadGzipStream(6)).toArray());
      expect(ours.equals(single)).toBe(true);
    }
  });

  it("keeps the one-thread fallback working: valid gzip, OS byte 255", async () => {
    const data = textLike(600 * KiB, 5);
    const out = Buffer.concat(await Readable.from([data]).pipe(singleThreadGzipStream(6)).toArray());
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    expect(zlib.gunzipSync(out).equals(data)).toBe(true);
  });
});
