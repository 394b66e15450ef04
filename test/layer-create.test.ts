/**
 * Creating layers: determinism, normalized headers, compression, sinks, and interop with
 * GNU tar in both directions.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import {
  applyLayer,
  compressStream,
  createLayer,
  decodeName,
  detectCompression,
  encodeName,
  type LayerEntry,
  openLayerStream,
  packTar,
  readTar,
  type TarHeader,
  walkTree,
  zstdDecompressStream,
} from "../src/layer/index.js";
import { buildRichTree, hasCommand, isRoot, tempDir, treeMeta } from "./layer-fixtures.js";

let work: string;
let src: string;

beforeAll(() => {
  work = tempDir("cairn-create-");
  src = path.join(work, "src");
  fs.mkdirSync(src);
  buildRichTree(src);
});

afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

async function headersOf(blob: string | Buffer): Promise<TarHeader[]> {
  const input = typeof blob === "string" ? fs.createReadStream(blob) : Readable.from([blob]);
  const out: TarHeader[] = [];
  for await (const e of readTar(openLayerStream(input))) out.push(e.header);
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("determinism", () => {
  it("the same directory gives the same digests every time", async () => {
    const a = await createLayer(src, { sourceDateEpoch: 1_700_000_000 });
    const b = await createLayer(src, { sourceDateEpoch: 1_700_000_000 });
    expect(b.descriptor).toEqual(a.descriptor);
    expect(b.diffId).toBe(a.diffId);
    expect(a.path).not.toBe(b.path);
    expect(
      createHash("sha256")
        .update(fs.readFileSync(a.path as string))
        .digest("hex"),
    ).toBe(a.descriptor.digest.slice(7));
    expect(a.descriptor.size).toBe(fs.statSync(a.path as string).size);
    // Without an epoch too, and entries collected from the walk give the same bytes as the directory.
    const c = await createLayer(src);
    const d = await createLayer(await collect(walkTree(src)));
    expect(d.descriptor.digest).toBe(c.descriptor.digest);
    const z1 = await createLayer(src, { compression: "zstd" });
    const z2 = await createLayer(src, { compression: "zstd" });
    expect(z2.descriptor.digest).toBe(z1.descriptor.digest);
    expect(z1.diffId).toBe(c.diffId);
    for (const x of [a, b, c, d, z1, z2]) fs.rmSync(x.path as string);
  });

  it("entries are sorted (parents first, siblings by bytes) and duplicates refused", async () => {
    const entries: LayerEntry[] = [
      { path: "b", type: "file", content: "b" },
      { path: "a.b", type: "file" },
      { path: "a/z", type: "file" },
      { path: "a", type: "directory" },
    ];
    const sink = async (blob: Readable) => Buffer.concat(await blob.toArray());
    const r = await createLayer(entries, { compression: "none", sink });
    expect((await headersOf(r.sinkResult as Buffer)).map((h) => h.name)).toEqual(["a/", "a/z", "a.b", "b"]);
    const shuffled = await createLayer([...entries].reverse(), { compression: "none", sink });
    expect(shuffled.descriptor.digest).toBe(r.descriptor.digest);
    const err = await createLayer([...entries, { path: "./b/", type: "file" }], { sink }).catch(
      (e: unknown) => e,
    );
    expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
  });

  it("headers are normalized: no uname/gname, no atime/ctime, ids kept, mtimes clamped to sourceDateEpoch", async () => {
    const epoch = 1_600_000_000;
    const layer = await createLayer(src, { sourceDateEpoch: epoch });
    const headers = await headersOf(layer.path as string);
    fs.rmSync(layer.path as string);
    const byName = new Map(headers.map((h) => [h.name, h]));
    for (const h of headers) {
      expect([h.uname, h.gname, h.atime, h.ctime, h.pax.atime, h.pax.ctime]).toEqual([
        "",
        "",
        undefined,
        undefined,
        undefined,
        undefined,
      ]);
      expect(h.mtime).toBeLessThanOrEqual(epoch);
      expect(Number.isInteger(h.mtime)).toBe(true);
    }
    expect(byName.get("etc/hostname")?.mtime).toBe(1_500_000_000); // older than the epoch: kept
    expect(byName.get("empty")?.mtime).toBe(epoch); // newer: clamped
    expect(byName.get("usr/bin/tool")?.mode).toBe(0o4755);
    expect(byName.get("tmp/")?.mode).toBe(0o1777);
    expect(byName.get("usr/bin/tool-alias")).toMatchObject({ type: "hardlink", linkname: "usr/bin/tool" });
    if (isRoot) {
      expect(byName.get("etc/hostname")).toMatchObject({ uid: 1234, gid: 5678 });
      expect(byName.get("srv/shared/")).toMatchObject({ uid: 3000000, gid: 3000001, format: "pax" }); // beyond USTAR: PAX
      expect(byName.get("null")).toMatchObject({ type: "char-device", devmajor: 1, devminor: 3 });
    }
    expect(byName.get("fifo")?.type).toBe("fifo");
    expect(
      [...byName.keys()].some((n) => encodeName(n).equals(Buffer.from("bad-\xff\xfe-name", "latin1"))),
    ).toBe(true);
  });

  it("gzip output has no name, mtime 0 and OS 255", async () => {
    const layer = await createLayer([{ path: "a", type: "file", content: "x" }], {
      sink: async (b) => Buffer.concat(await b.toArray()),
    });
    const gz = layer.sinkResult as Buffer;
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  });
});

describe("compression", () => {
  const entries: LayerEntry[] = [
    { path: "dir", type: "directory", mtime: 1 },
    { path: "dir/data", type: "file", content: Buffer.alloc(300_000, 3), mtime: 2 },
  ];

  it("gzip, zstd and none are detected by magic number and applied alike", async () => {
    const diffIds = new Set<string>();
    for (const compression of ["gzip", "zstd", "none"] as const) {
      const layer = await createLayer(entries, { compression });
      const head = fs.readFileSync(layer.path as string).subarray(0, 4);
      expect(detectCompression(head)).toBe(compression);
      expect(layer.descriptor.mediaType).toBe(
        {
          gzip: "application/vnd.oci.image.layer.v1.tar+gzip",
          zstd: "application/vnd.oci.image.layer.v1.tar+zstd",
          none: "application/vnd.oci.image.layer.v1.tar",
        }[compression],
      );
      const dir = path.join(work, `apply-${compression}`);
      fs.mkdirSync(dir);
      const r = await applyLayer(fs.createReadStream(layer.path as string), dir, {
        mediaType: layer.descriptor.mediaType,
      });
      expect(r).toMatchObject({
        compression,
        diffId: layer.diffId,
        entries: 2,
        uncompressedBytes: layer.uncompressedSize,
      });
      expect(fs.readFileSync(path.join(dir, "dir/data")).equals(Buffer.alloc(300_000, 3))).toBe(true);
      diffIds.add(layer.diffId);
      fs.rmSync(layer.path as string);
    }
    expect(diffIds.size).toBe(1);
  });

  it("zstd decompresses the same with the native binding and the pure-JS fallback", async () => {
    const layer = await createLayer(src, { compression: "zstd", level: 5 });
    const native = createHash("sha256");
    const js = createHash("sha256");
    await pipeline(
      fs.createReadStream(layer.path as string),
      zstdDecompressStream(),
      async (s: AsyncIterable<Buffer>) => {
        for await (const c of s) native.update(c);
      },
    );
    await pipeline(
      fs.createReadStream(layer.path as string),
      zstdDecompressStream({ backend: "fzstd" }),
      async (s: AsyncIterable<Buffer>) => {
        for await (const c of s) js.update(c);
      },
    );
    expect(`sha256:${native.digest("hex")}`).toBe(layer.diffId);
    expect(`sha256:${js.digest("hex")}`).toBe(layer.diffId);
    if (hasCommand("zstd")) {
      const out = execFileSync("zstd", ["-dc", layer.path as string], { maxBuffer: 1 << 30 });
      expect(`sha256:${createHash("sha256").update(out).digest("hex")}`).toBe(layer.diffId);
    }
    fs.rmSync(layer.path as string);
  });

  it("a media type that disagrees with the bytes is refused (E_LAYER_INVALID)", async () => {
    const gz = await createLayer(entries, { compression: "gzip" });
    for (const mediaType of [
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.v1.tar+zstd",
      "application/json",
    ]) {
      const err = await applyLayer(fs.createReadStream(gz.path as string), work, { mediaType }).catch(
        (e: unknown) => e,
      );
      expect(isCairnError(err, "E_LAYER_INVALID"), mediaType).toBe(true);
    }
    // Docker's label for the same bytes is fine.
    const tar = openLayerStream(fs.createReadStream(gz.path as string), {
      mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip",
    });
    expect(
      `sha256:${createHash("sha256")
        .update(Buffer.concat(await tar.toArray()))
        .digest("hex")}`,
    ).toBe(gz.diffId);
    fs.rmSync(gz.path as string);
  });

  it("compressStream + openLayerStream round-trip, and corrupt data is an error", async () => {
    const data = Buffer.concat([
      Buffer.from("x".repeat(10000)),
      createHash("sha512").update("seed").digest(),
    ]);
    for (const kind of ["gzip", "zstd"] as const) {
      const packed = Buffer.concat(await Readable.from([data]).pipe(compressStream(kind)).toArray());
      expect(Buffer.concat(await openLayerStream(Readable.from([packed])).toArray())).toEqual(data);
      const broken = Buffer.from(packed);
      broken.fill(0x55, 12, Math.min(40, broken.length - 8));
      await expect(openLayerStream(Readable.from([broken])).toArray()).rejects.toThrow();
      await expect(
        openLayerStream(Readable.from([packed.subarray(0, packed.length - 6)])).toArray(),
      ).rejects.toThrow();
    }
  });
});

describe("sinks and streamed content", () => {
  it("a sink receives the blob; its result is returned", async () => {
    const layer = await createLayer([{ path: "f", type: "file", content: "hello" }], {
      sink: async (blob) => {
        const bytes = Buffer.concat(await blob.toArray());
        return { stored: `sha256:${createHash("sha256").update(bytes).digest("hex")}`, size: bytes.length };
      },
    });
    expect(layer.path).toBeUndefined();
    expect(layer.sinkResult).toEqual({ stored: layer.descriptor.digest, size: layer.descriptor.size });
  });

  it("a failing sink fails createLayer", async () => {
    const err = await createLayer([{ path: "f", type: "file", content: "hello" }], {
      sink: async () => {
        throw new Error("disk full");
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });

  it("streamed content must match its declared size", async () => {
    const content = () => Readable.from([Buffer.from("12345")]);
    const err = await createLayer([{ path: "f", type: "file", size: 3, content }], {
      compression: "none",
    }).catch((e: unknown) => e);
    expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true);
    const err2 = await createLayer([{ path: "f", type: "file", size: 9, content }], {
      compression: "none",
    }).catch((e: unknown) => e);
    expect(isCairnError(err2, "E_LAYER_INVALID")).toBe(true);
    expect(fs.readdirSync(work).filter((n) => n.startsWith("cairn-layer-"))).toEqual([]);
  });

  it("unsafe entry paths are refused when writing", async () => {
    for (const p of ["../x", "/abs", "a/../../b"]) {
      const err = await createLayer([{ path: p, type: "file" }], { compression: "none" }).catch(
        (e: unknown) => e,
      );
      expect(isCairnError(err, "E_LAYER_UNSAFE_PATH"), p).toBe(true);
    }
  });
});

describe.runIf(hasCommand("tar"))("interop with GNU tar", () => {
  it("GNU tar lists and extracts what createLayer writes, reproducing the source tree", async () => {
    const layer = await createLayer(src, { xattrs: false });
    const listing = execFileSync("tar", ["-tvzf", layer.path as string]).toString();
    const entries = await headersOf(layer.path as string);
    expect(listing.trim().split("\n")).toHaveLength(entries.length);
    expect(listing).toContain("usr/bin/tool-alias link to usr/bin/tool");
    const out = path.join(work, "gnu-extract");
    fs.mkdirSync(out);
    execFileSync("tar", ["-xzpf", layer.path as string, "-C", out, "--numeric-owner"]);
    expect(treeMeta(out)).toEqual(treeMeta(src));
    fs.rmSync(layer.path as string);
  });

  for (const format of ["gnu", "posix", "ustar"] as const) {
    it(`applyLayer of a GNU tar --format=${format} archive reproduces the tree`, async () => {
      const tarFile = path.join(work, `gnu-${format}.tar`);
      const skip = format === "ustar" ? ["--exclude=./very-long-directory-name-*", "--exclude=./srv"] : [];
      execFileSync("tar", ["-cf", tarFile, `--format=${format}`, "--numeric-owner", ...skip, "-C", src, "."]);
      const out = path.join(work, `apply-gnu-${format}`);
      fs.mkdirSync(out);
      const r = await applyLayer(fs.createReadStream(tarFile), out);
      expect(r.compression).toBe("none");
      const expected = treeMeta(src);
      if (format === "ustar") {
        for (const k of Object.keys(expected))
          if (k.startsWith("very-long") || k.startsWith("srv")) delete expected[k];
      }
      // The "./" entry carries the source root's mode and mtime onto the target root.
      expect(treeMeta(out)).toEqual(expected);
    });
  }

  it("applyLayer of a real directory (/usr/share/doc subset, tar -czf) reproduces it", async () => {
    const docs = fs.existsSync("/usr/share/doc") ? fs.readdirSync("/usr/share/doc").sort().slice(0, 60) : [];
    if (docs.length === 0) return;
    const tarFile = path.join(work, "doc.tar.gz");
    execFileSync("tar", ["-czf", tarFile, "-C", "/usr/share/doc", ...docs]);
    const out = path.join(work, "apply-doc");
    fs.mkdirSync(out);
    await applyLayer(fs.createReadStream(tarFile), out);
    const reference = path.join(work, "ref-doc");
    fs.mkdirSync(reference);
    execFileSync("tar", ["-xzpf", tarFile, "-C", reference]);
    expect(treeMeta(out)).toEqual(treeMeta(reference));
    expect(Object.keys(treeMeta(out)).length).toBeGreaterThan(60);
  });

  it("sparse files from GNU tar --sparse keep their holes", async () => {
    const dir = path.join(work, "sparse-src");
    fs.mkdirSync(dir);
    const file = path.join(dir, "disk.img");
    const fd = fs.openSync(file, "w");
    fs.writeSync(fd, "head", 0);
    fs.writeSync(fd, "tail", 64 * 1024 * 1024);
    fs.closeSync(fd);
    for (const format of ["gnu", "posix"]) {
      const tarFile = path.join(work, `sparse-${format}.tar`);
      execFileSync("tar", ["-cSf", tarFile, `--format=${format}`, "-C", dir, "disk.img"]);
      expect(fs.statSync(tarFile).size).toBeLessThan(64 * 1024);
      const out = path.join(work, `sparse-out-${format}`);
      fs.mkdirSync(out);
      await applyLayer(fs.createReadStream(tarFile), out);
      const st = fs.statSync(path.join(out, "disk.img"));
      expect(st.size).toBe(64 * 1024 * 1024 + 4);
      expect(st.blocks * 512).toBeLessThan(1024 * 1024);
      const bytes = fs.readFileSync(path.join(out, "disk.img"));
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(
        createHash("sha256").update(fs.readFileSync(file)).digest("hex"),
      );
    }
  });
});

describe("tar writer/reader round trip (property)", () => {
  const name = fc
    .array(
      fc.oneof(
        fc.stringMatching(/^[a-zA-Z0-9._-]{1,40}$/),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }),
        fc.uint8Array({ minLength: 1, maxLength: 8 }).map((b) => decodeName(Buffer.from(b))),
      ),
      { minLength: 1, maxLength: 6 },
    )
    .map((parts) =>
      parts
        .map((p) => p.replace(/[/\0]/g, "_"))
        .filter((p) => p !== "." && p !== ".." && p !== "")
        .join("/"),
    )
    .filter((p) => p.length > 0);

  const entry = fc.record({
    path: name,
    type: fc.constantFrom("file", "directory", "symlink", "fifo", "char-device") as fc.Arbitrary<
      LayerEntry["type"]
    >,
    mode: fc.integer({ min: 0, max: 0o7777 }),
    uid: fc.integer({ min: 0, max: 2 ** 31 }),
    gid: fc.integer({ min: 0, max: 2 ** 31 }),
    mtime: fc.integer({ min: 0, max: 2 ** 34 }),
    content: fc.uint8Array({ maxLength: 2000 }),
    linkname: fc.string({ minLength: 1, maxLength: 300 }).map((s) => s.replace(/\0/g, "_")),
    devmajor: fc.integer({ min: 0, max: 4095 }),
    devminor: fc.integer({ min: 0, max: 65535 }),
    xattrs: fc.dictionary(fc.stringMatching(/^user\.[a-z]{1,10}$/), fc.uint8Array({ maxLength: 40 }), {
      maxKeys: 3,
    }),
  });

  it("every entry reads back as written", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(entry, { selector: (e) => e.path, maxLength: 8 }), async (entries) => {
        const layer: LayerEntry[] = entries.map((e) => ({
          ...e,
          content: e.type === "file" ? e.content : undefined,
          linkname: e.type === "symlink" ? e.linkname : undefined,
        }));
        const tar = Buffer.concat(await Readable.from(packTar(layer)).toArray());
        const back: { header: TarHeader; data: Buffer }[] = [];
        for await (const e of readTar(Readable.from([tar]))) {
          back.push({
            header: e.header,
            data: Buffer.concat((await collect(e.body())).map((c) => Buffer.from(c))),
          });
        }
        expect(back).toHaveLength(layer.length);
        layer.forEach((e, i) => {
          const b = back[i];
          if (!b) throw new Error("missing");
          expect(b.header.name.replace(/\/$/, "")).toBe(e.path);
          expect(b.header.type).toBe(e.type);
          expect(b.header).toMatchObject({ mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime });
          if (e.type === "file") expect(b.data).toEqual(Buffer.from(e.content as Uint8Array));
          if (e.type === "symlink") expect(b.header.linkname).toBe(e.linkname);
          if (e.type === "char-device")
            expect([b.header.devmajor, b.header.devminor]).toEqual([e.devmajor, e.devminor]);
          const xs = Object.fromEntries(Object.entries(b.header.xattrs).map(([k, v]) => [k, Buffer.from(v)]));
          expect(xs).toEqual(
            Object.fromEntries(
              Object.entries(e.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v as Uint8Array)]),
            ),
          );
        });
      }),
      { numRuns: 150 },
    );
  });

  it("names round-trip through the byte codec", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        expect(encodeName(decodeName(Buffer.from(bytes)))).toEqual(Buffer.from(bytes));
      }),
      { numRuns: 500 },
    );
  });
});

describe("streaming: memory does not grow with layer size", () => {
  it("creates, reads and applies a 1 GiB layer with bounded memory", async () => {
    const size = 1024 * 1024 * 1024;
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    const content = async function* () {
      for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
    };
    let peak = 0;
    const baseline = process.memoryUsage();
    const sample = () => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed - baseline.heapUsed + (m.arrayBuffers - baseline.arrayBuffers));
    };
    const timer = setInterval(sample, 5);
    try {
      const entries: LayerEntry[] = [{ path: "big.bin", type: "file", size, content }];
      // Tar + gzip level 1 into a sink that reads the blob back as a layer and applies it.
      const dir = path.join(work, "big");
      fs.mkdirSync(dir);
      const layer = await createLayer(entries, {
        level: 1,
        sink: async (blob) => applyLayer(blob, dir),
      });
      sample();
      expect(layer.uncompressedSize).toBe(size + 1536);
      expect(fs.statSync(path.join(dir, "big.bin")).size).toBe(size);
      expect((layer.sinkResult as { diffId: string }).diffId).toBe(layer.diffId);
    } finally {
      clearInterval(timer);
      fs.rmSync(path.join(work, "big"), { recursive: true, force: true });
    }
    expect(peak).toBeLessThan(96 * 1024 * 1024);
  });
});
