import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import {
  defaultStoreDir,
  emptyIndex,
  INDEX_FILE,
  isRefName,
  OCI_LAYOUT_FILE,
  OciLayout,
  openDefaultStore,
  REF_NAME_ANNOTATION,
  TEMP_DIR,
} from "../src/content/index.js";
import { type Digest, digestBytes } from "../src/digest/index.js";
import { type CairnErrorCode, isCairnError } from "../src/errors/index.js";
import { MediaType } from "../src/manifest/media-types.js";
import type { Descriptor } from "../src/manifest/types.js";
import { seededBytes } from "./helpers/content-gen.js";
import { requireTool } from "./helpers/tools.js";

const root = fs.mkdtempSync(path.join(tmpdir(), "cairn-content-"));
let counter = 0;
let dir = "";

afterAll(async () => {
  await fsp.rm(root, { recursive: true, force: true });
});

beforeEach(() => {
  dir = path.join(root, `t${counter++}`);
});

const text = (s: string) => new TextEncoder().encode(s);

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<CairnErrorCode | "none" | "not-cairn"> {
  try {
    await (typeof p === "function" ? p() : p);
  } catch (e) {
    return isCairnError(e) ? e.code : "not-cairn";
  }
  return "none";
}

async function tmpFiles(layoutDir: string): Promise<string[]> {
  return fsp.readdir(path.join(layoutDir, TEMP_DIR)).catch(() => []);
}

async function blobFiles(layoutDir: string): Promise<string[]> {
  const out: string[] = [];
  for (const alg of await fsp.readdir(path.join(layoutDir, "blobs")).catch(() => [])) {
    for (const f of await fsp.readdir(path.join(layoutDir, "blobs", alg))) out.push(`${alg}:${f}`);
  }
  return out.sort();
}

/** A source that fails the test if anyone iterates it. */
function untouchable(): AsyncIterable<Uint8Array> {
  return {
    [Symbol.asyncIterator]() {
      throw new Error("the source was read");
    },
  };
}

async function readStream(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("OciLayout.open", () => {
  it("creates oci-layout, index.json and blobs/ and opens them again", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    expect(layout.dir).toBe(fs.realpathSync(dir));
    expect(JSON.parse(await fsp.readFile(path.join(dir, OCI_LAYOUT_FILE), "utf8"))).toEqual({
      imageLayoutVersion: "1.0.0",
    });
    expect(JSON.parse(await fsp.readFile(path.join(dir, INDEX_FILE), "utf8"))).toEqual({
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [],
    });
    expect(fs.statSync(path.join(dir, "blobs")).isDirectory()).toBe(true);
    const again = await OciLayout.open(dir);
    expect(await again.index()).toEqual(emptyIndex());
  });

  it("creates one layout when many open it with create at once", async () => {
    const layouts = await Promise.all(Array.from({ length: 8 }, () => OciLayout.open(dir, { create: true })));
    const [first] = layouts;
    const desc = await first!.put("x");
    await first!.tag("a", desc);
    await OciLayout.open(dir, { create: true });
    expect(await first!.tags()).toEqual(["a"]);
  });

  it("refuses what is not a layout with E_LAYOUT_INVALID", async () => {
    expect(await codeOf(OciLayout.open(path.join(root, "nope")))).toBe("E_LAYOUT_INVALID");
    await fsp.mkdir(dir, { recursive: true });
    expect(await codeOf(OciLayout.open(dir))).toBe("E_LAYOUT_INVALID");
    const file = path.join(dir, "file");
    await fsp.writeFile(file, "x");
    expect(await codeOf(OciLayout.open(file))).toBe("E_LAYOUT_INVALID");
    expect(await codeOf(OciLayout.open(file, { create: true }))).toBe("E_LAYOUT_INVALID");
  });

  const badLayouts: [string, string][] = [
    ["not JSON", "imageLayoutVersion: 1.0.0"],
    ["a wrong version", '{"imageLayoutVersion":"2.0.0"}'],
    ["no version", "{}"],
    ["an array", "[]"],
  ];
  for (const [what, content] of badLayouts) {
    it(`refuses an oci-layout holding ${what}, even with create`, async () => {
      await fsp.mkdir(dir, { recursive: true });
      await fsp.writeFile(path.join(dir, OCI_LAYOUT_FILE), content);
      await fsp.writeFile(path.join(dir, INDEX_FILE), JSON.stringify(emptyIndex()));
      expect(await codeOf(OciLayout.open(dir))).toBe("E_LAYOUT_INVALID");
      expect(await codeOf(OciLayout.open(dir, { create: true }))).toBe("E_LAYOUT_INVALID");
    });
  }

  const badIndexes: [string, string][] = [
    ["not JSON", "{"],
    ["schemaVersion 1", '{"schemaVersion":1,"manifests":[]}'],
    ["no manifests", '{"schemaVersion":2}'],
    ["a manifest media type", `{"schemaVersion":2,"mediaType":"${MediaType.ociManifest}","manifests":[]}`],
    [
      "a bad digest",
      '{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:../../etc","size":1}]}',
    ],
    [
      "a negative size",
      `{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"${digestBytes("")}","size":-1}]}`,
    ],
    [
      "a non-string annotation",
      `{"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"${digestBytes("")}","size":0,"annotations":{"a":1}}]}`,
    ],
  ];
  for (const [what, content] of badIndexes) {
    it(`refuses an index.json with ${what}`, async () => {
      await OciLayout.open(dir, { create: true });
      await fsp.writeFile(path.join(dir, INDEX_FILE), content);
      expect(await codeOf(OciLayout.open(dir))).toBe("E_LAYOUT_INVALID");
      expect(await codeOf(OciLayout.open(dir, { create: true }))).toBe("E_LAYOUT_INVALID");
    });
  }

  it("refuses a missing index.json without create and adds it with create", async () => {
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(path.join(dir, OCI_LAYOUT_FILE), '{"imageLayoutVersion":"1.0.0"}');
    expect(await codeOf(OciLayout.open(dir))).toBe("E_LAYOUT_INVALID");
    const layout = await OciLayout.open(dir, { create: true });
    expect((await layout.index()).manifests).toEqual([]);
  });

  it("keeps unknown index.json fields on update", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    await fsp.writeFile(
      path.join(dir, INDEX_FILE),
      JSON.stringify({ schemaVersion: 2, manifests: [], annotations: { keep: "me" } }),
    );
    await layout.tag("t", await layout.put("x"));
    const raw = JSON.parse(await fsp.readFile(path.join(dir, INDEX_FILE), "utf8"));
    expect(raw.annotations).toEqual({ keep: "me" });
  });
});

describe("put", () => {
  it("stores bytes, strings, Readables and async iterables under blobs/<alg>/<hex>", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const bytes = seededBytes(1, 200_000);
    const want = digestBytes(bytes);
    const sources = [
      bytes,
      Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)]),
      (async function* () {
        for (let i = 0; i < bytes.length; i += 3000) yield bytes.slice(i, i + 3000);
      })(),
    ];
    for (const source of sources) {
      await layout.delete(want);
      const desc = await layout.put(source, { mediaType: MediaType.ociLayerGzip });
      expect(desc).toEqual({ mediaType: MediaType.ociLayerGzip, digest: want, size: bytes.length });
      expect(layout.blobPath(want)).toBe(path.join(layout.dir, "blobs", "sha256", want.slice(7)));
      expect(new Uint8Array(await fsp.readFile(layout.blobPath(want)))).toEqual(bytes);
    }
    const s = await layout.put("hello");
    expect(s).toEqual({ mediaType: "application/octet-stream", digest: digestBytes("hello"), size: 5 });
    expect(await tmpFiles(dir)).toEqual([]);
  });

  it("stores the empty blob", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const desc = await layout.put((async function* () {})());
    expect(desc.digest).toBe(digestBytes(""));
    expect(desc.size).toBe(0);
    expect(await layout.readAll(desc.digest)).toEqual(new Uint8Array());
    expect(await blobFiles(dir)).toEqual([desc.digest]);
  });

  it("hashes with sha512 when the digest given is sha512", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const digest = digestBytes("abc", "sha512");
    const desc = await layout.put(Readable.from([text("a"), text("bc")]), { digest });
    expect(desc.digest).toBe(digest);
    expect(fs.existsSync(path.join(dir, "blobs", "sha512", digest.slice(7)))).toBe(true);
    expect(await blobFiles(dir)).toEqual([digest]);
  });

  it("does not read the source when the blob with the given digest is present", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const first = await layout.put("same bytes");
    const before = fs.statSync(layout.blobPath(first.digest));
    const again = await layout.put(untouchable(), { digest: first.digest, size: first.size });
    expect(again.digest).toBe(first.digest);
    const stream = new Readable({
      read() {
        throw new Error("the stream was read");
      },
    });
    await layout.put(stream, { digest: first.digest });
    expect(stream.destroyed).toBe(true);
    const after = fs.statSync(layout.blobPath(first.digest));
    expect(after.ino).toBe(before.ino);
    expect(await codeOf(layout.put(untouchable(), { digest: first.digest, size: first.size + 1 }))).toBe(
      "E_SIZE_MISMATCH",
    );
  });

  it("does not rewrite a present blob that arrives again without a digest", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const bytes = seededBytes(2, 50_000);
    const first = await layout.put(bytes);
    const ino = fs.statSync(layout.blobPath(first.digest)).ino;
    await layout.put(Readable.from([bytes]));
    await layout.put(bytes);
    expect(fs.statSync(layout.blobPath(first.digest)).ino).toBe(ino);
    expect(await tmpFiles(dir)).toEqual([]);
  });

  it("rejects a wrong digest or size and leaves nothing behind", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const bytes = seededBytes(3, 100_000);
    const wrong = digestBytes("something else");
    const cases: [() => Promise<unknown>, CairnErrorCode][] = [
      [() => layout.put(bytes, { digest: wrong }), "E_DIGEST_MISMATCH"],
      [() => layout.put(Readable.from([bytes]), { digest: wrong }), "E_DIGEST_MISMATCH"],
      [() => layout.put(bytes, { size: bytes.length - 1 }), "E_SIZE_MISMATCH"],
      [() => layout.put(Readable.from([bytes]), { size: bytes.length + 1 }), "E_SIZE_MISMATCH"],
      [() => layout.put(Readable.from([bytes]), { size: 10 }), "E_SIZE_MISMATCH"],
      [() => layout.put("x", { digest: "sha256:nothex" }), "E_DIGEST_INVALID"],
      [() => layout.put("x", { size: -1 }), "E_USAGE"],
    ];
    for (const [p, code] of cases) expect(await codeOf(p())).toBe(code);
    expect(await blobFiles(dir)).toEqual([]);
    expect(await tmpFiles(dir)).toEqual([]);
  });

  it("stops reading as soon as a stream exceeds the declared size", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    let produced = 0;
    const endless = (async function* () {
      for (;;) {
        produced++;
        yield new Uint8Array(1024);
      }
    })();
    expect(await codeOf(layout.put(endless, { size: 4096 }))).toBe("E_SIZE_MISMATCH");
    expect(produced).toBeLessThan(10);
    expect(await tmpFiles(dir)).toEqual([]);
  });

  it("reports a failing source as a CairnError and removes the temporary file", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const failing = (async function* () {
      yield new Uint8Array(10_000);
      throw new Error("network gone");
    })();
    const err = await layout.put(failing).catch((e: unknown) => e);
    expect(isCairnError(err, "E_IO")).toBe(true);
    expect(String((err as Error).message)).toContain("network gone");
    expect(await tmpFiles(dir)).toEqual([]);
    expect(
      await codeOf(
        layout.put(
          (async function* () {
            yield 42 as unknown as Uint8Array;
          })(),
        ),
      ),
    ).toBe("E_USAGE");
  });

  it("aborts with E_ABORTED and cleans up", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const ac = new AbortController();
    const slow = (async function* () {
      for (let i = 0; ; i++) {
        if (i === 3) ac.abort();
        yield new Uint8Array(1000);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    expect(await codeOf(layout.put(slow, { signal: ac.signal }))).toBe("E_ABORTED");
    expect(await codeOf(layout.put(untouchable(), { signal: AbortSignal.abort() }))).toBe("E_ABORTED");
    // a source waiting forever is interrupted too
    const stuck = new Readable({ read() {} });
    const p = layout.put(stuck, { signal: AbortSignal.timeout(50) });
    expect(await codeOf(p)).toBe("E_ABORTED");
    expect(await tmpFiles(dir)).toEqual([]);
    expect(await blobFiles(dir)).toEqual([]);
  });

  it("stores the right bytes from a producer that reuses its chunk buffer", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const expected = new Uint8Array(100 * 1000);
    const reused = new Uint8Array(1000);
    const producer = (async function* () {
      for (let i = 0; i < 100; i++) {
        reused.fill(i);
        expected.fill(i, i * 1000, (i + 1) * 1000);
        yield reused;
      }
    })();
    const desc = await layout.put(producer);
    expect(desc.digest).toBe(digestBytes(expected));
    expect(new Uint8Array(await fsp.readFile(layout.blobPath(desc.digest)))).toEqual(expected);
  });

  it("ends same-digest races in one process with one good blob", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const bytes = seededBytes(4, 2_000_000);
    const digests = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        layout.put(i % 2 ? bytes : Readable.from([bytes.subarray(0, 5), bytes.subarray(5)])),
      ),
    );
    expect(new Set(digests.map((d) => d.digest)).size).toBe(1);
    expect((await layout.fsck()).ok).toBe(true);
    expect(await tmpFiles(dir)).toEqual([]);
  });
});

describe("reading blobs", () => {
  it("has, stat, open, readAll, delete and list", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const a = await layout.put("aaa");
    const b = await layout.put(seededBytes(5, 5 * 1024 * 1024));
    const absent = digestBytes("absent");
    expect(await layout.has(a.digest)).toBe(true);
    expect(await layout.has(absent)).toBe(false);
    expect(await layout.stat(b.digest)).toEqual({ digest: b.digest, size: 5 * 1024 * 1024 });
    expect(await layout.stat(absent)).toBeUndefined();
    expect((await readStream(await layout.open(a.digest))).toString()).toBe("aaa");
    expect((await readStream(await layout.open(b.digest, { verify: false }))).length).toBe(b.size);
    expect(new TextDecoder().decode(await layout.readAll(a.digest))).toBe("aaa");
    expect(await codeOf(layout.readAll(b.digest))).toBe("E_SIZE_LIMIT");
    expect((await layout.readAll(b.digest, { maxBytes: b.size })).length).toBe(b.size);
    expect(await codeOf(layout.open(absent))).toBe("E_BLOB_NOT_FOUND");
    expect(await codeOf(layout.readAll(absent))).toBe("E_BLOB_NOT_FOUND");
    await fsp.writeFile(path.join(dir, "blobs", "sha256", "not-a-digest"), "junk");
    const listed: Digest[] = [];
    for await (const d of layout.list()) listed.push(d);
    expect(listed.sort()).toEqual([a.digest, b.digest].sort());
    expect(await layout.delete(a.digest)).toBe(true);
    expect(await layout.delete(a.digest)).toBe(false);
    expect(await layout.has(a.digest)).toBe(false);
  });

  it("stops reading with E_ABORTED", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const big = await layout.put(seededBytes(6, 8 * 1024 * 1024));
    expect(await codeOf(layout.open(big.digest, { signal: AbortSignal.abort() }))).toBe("E_ABORTED");
    expect(
      await codeOf(layout.readAll(big.digest, { signal: AbortSignal.abort(), maxBytes: big.size })),
    ).toBe("E_ABORTED");
    const ac = new AbortController();
    const stream = await layout.open(big.digest, { signal: ac.signal });
    let seen = 0;
    const err = await (async () => {
      for await (const chunk of stream) {
        seen += (chunk as Buffer).length;
        ac.abort();
      }
    })().catch((e: unknown) => e);
    expect(isCairnError(err, "E_ABORTED")).toBe(true);
    expect(seen).toBeLessThan(big.size);
    expect(await codeOf(layout.gc({ signal: AbortSignal.abort() }))).toBe("E_ABORTED");
    expect(await codeOf(layout.fsck({ signal: AbortSignal.abort() }))).toBe("E_ABORTED");
  });

  it("detects a corrupt blob when reading it", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const desc = await layout.put("original");
    await fsp.writeFile(layout.blobPath(desc.digest), "tampered!");
    expect(await codeOf(layout.readAll(desc.digest))).toBe("E_DIGEST_MISMATCH");
    await fsp.writeFile(layout.blobPath(desc.digest), "ORIGINAL");
    expect(await codeOf(layout.readAll(desc.digest))).toBe("E_DIGEST_MISMATCH");
    expect(await codeOf(readStream(await layout.open(desc.digest)))).toBe("E_DIGEST_MISMATCH");
    expect((await readStream(await layout.open(desc.digest, { verify: false }))).toString()).toBe("ORIGINAL");
  });

  it("refuses digests that could escape blobs/", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    for (const bad of ["sha256:../../etc/passwd", "md5:abc", "sha256", "../sha256:00"]) {
      expect(await codeOf(() => layout.blobPath(bad))).toBe("E_DIGEST_INVALID");
      expect(await codeOf(layout.has(bad))).toBe("E_DIGEST_INVALID");
    }
  });
});

describe("names", () => {
  it("tags, resolves, lists and untags like skopeo and umoci", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const m1 = await layout.put('{"schemaVersion":2,"manifests":[]}', { mediaType: MediaType.ociIndex });
    const m2 = await layout.put('{"schemaVersion":2,"manifests":[],"x":1}', {
      mediaType: MediaType.ociIndex,
    });
    const tagged = await layout.tag("latest", m1);
    expect(tagged.annotations?.[REF_NAME_ANNOTATION]).toBe("latest");
    await layout.tag("v1.0", { ...m1, annotations: { other: "kept" } });
    await layout.tag("latest", m2);
    expect(await layout.tags()).toEqual(["v1.0", "latest"]);
    const index = await layout.index();
    expect(index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === "latest")).toHaveLength(1);
    expect(await layout.resolve("latest")).toMatchObject({
      digest: m2.digest,
      mediaType: MediaType.ociIndex,
    });
    expect((await layout.resolve("v1.0")).annotations).toEqual({
      other: "kept",
      [REF_NAME_ANNOTATION]: "v1.0",
    });
    expect((await layout.resolve(m1.digest)).digest).toBe(m1.digest);
    expect(await layout.untag("latest")).toBe(true);
    expect(await layout.untag("latest")).toBe(false);
    expect(await layout.tags()).toEqual(["v1.0"]);
    expect(await codeOf(layout.resolve("latest"))).toBe("E_NOT_FOUND");
    expect(await codeOf(layout.resolve(digestBytes("nothing")))).toBe("E_NOT_FOUND");
  });

  it("resolves a present digest outside index.json by sniffing its JSON", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const manifest = await layout.put(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.dockerManifest, config: {}, layers: [] }),
    );
    expect((await layout.resolve(manifest.digest)).mediaType).toBe(MediaType.dockerManifest);
    const binary = await layout.put(new Uint8Array([0, 1, 2]));
    expect(await layout.resolve(binary.digest)).toEqual({
      mediaType: "application/octet-stream",
      digest: binary.digest,
      size: 3,
    });
  });

  it("refuses bad names and absent blobs", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const desc = await layout.put("x");
    for (const bad of ["", "a b", "../x", "-x", "x/", "a//b", "é"]) {
      expect(isRefName(bad)).toBe(false);
      expect(await codeOf(layout.tag(bad, desc))).toBe("E_REFERENCE_INVALID");
    }
    for (const good of ["latest", "v1.0.0", "a--b", "example.com/app:1", "sha-1_2+3@x"]) {
      expect(isRefName(good)).toBe(true);
    }
    expect(await codeOf(layout.tag("t", { ...desc, digest: digestBytes("absent") }))).toBe(
      "E_BLOB_NOT_FOUND",
    );
    expect(await codeOf(layout.tag("t", { ...desc, size: -1 }))).toBe("E_LAYOUT_INVALID");
  });

  it("adds unnamed roots once, and updates and replaces index.json under the lock", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const desc = await layout.put("root");
    await layout.addManifest(desc);
    await layout.addManifest(desc);
    expect((await layout.index()).manifests).toEqual([desc]);
    await layout.updateIndex((index) => {
      index.annotations = { a: "b" };
      return undefined;
    });
    expect((await layout.index()).annotations).toEqual({ a: "b" });
    await layout.setIndex(emptyIndex());
    expect(await layout.index()).toEqual(emptyIndex());
    const bad = { schemaVersion: 1, manifests: [] } as unknown as ReturnType<typeof emptyIndex>;
    expect(await codeOf(layout.setIndex(bad))).toBe("E_LAYOUT_INVALID");
    expect(await layout.index()).toEqual(emptyIndex());
    expect(fs.existsSync(path.join(dir, "index.json.lock"))).toBe(false);
  });

  it("serializes many concurrent index updates in one process", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const other = await OciLayout.open(dir);
    const desc = await layout.put("x");
    await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? layout : other).tag(`t${i}`, desc)));
    expect((await layout.tags()).sort()).toEqual(Array.from({ length: 40 }, (_, i) => `t${i}`).sort());
  });
});

/** A small image graph with every kind of link, plus garbage. */
async function buildGraph(layout: OciLayout) {
  const put = (v: unknown, mediaType: string) =>
    layout.put(typeof v === "string" || v instanceof Uint8Array ? v : JSON.stringify(v), { mediaType });
  const manifestOf = (config: Descriptor, layers: Descriptor[], extra: Record<string, unknown> = {}) =>
    put(
      { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers, ...extra },
      MediaType.ociManifest,
    );

  const config = await put(
    { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
    MediaType.ociConfig,
  );
  const layer1 = await put(seededBytes(11, 5000), MediaType.ociLayerGzip);
  const layer2 = await put(seededBytes(12, 7000), MediaType.ociLayerGzip);
  const image = await manifestOf(config, [layer1, layer2]);
  const armConfig = await put(
    { architecture: "arm64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
    MediaType.ociConfig,
  );
  const armImage = await manifestOf(armConfig, [layer1]);
  const inner = await put(
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [armImage] },
    MediaType.ociIndex,
  );
  const index = await put(
    { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [image, inner] },
    MediaType.ociIndex,
  );
  await layout.tag("multi", index);

  const dockerConfig = await put(
    { architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
    MediaType.dockerConfig,
  );
  const dockerLayer = await put(seededBytes(13, 3000), MediaType.dockerLayerGzip);
  const docker = await put(
    { schemaVersion: 2, mediaType: MediaType.dockerManifest, config: dockerConfig, layers: [dockerLayer] },
    MediaType.dockerManifest,
  );
  await layout.tag("docker", docker);

  // A tagged manifest whose subject is reachable only through it.
  const empty = await put("{}", MediaType.ociEmpty);
  const subjectLayer = await put(seededBytes(14, 900), MediaType.ociLayer);
  const subject = await manifestOf(config, [subjectLayer]);
  const pointer = await manifestOf(empty, [], { subject });
  await layout.tag("pointer", pointer);

  // A referrer (a signature) of a reachable image, not itself in index.json.
  const sigLayer = await put("signature bytes", "application/vnd.example.signature");
  const referrer = await manifestOf(empty, [sigLayer], {
    subject: image,
    artifactType: "application/vnd.example.sig",
  });
  // A referrer of the referrer.
  const counterSig = await manifestOf(empty, [], { subject: referrer });

  // Garbage: an untagged image tree, a lone blob, and a referrer of garbage.
  const oldLayer = await put(seededBytes(15, 4000), MediaType.ociLayerGzip);
  const oldConfig = await put(
    { architecture: "s390x", os: "linux", rootfs: { type: "layers", diff_ids: [] } },
    MediaType.ociConfig,
  );
  const oldImage = await manifestOf(oldConfig, [oldLayer]);
  const lone = await put(seededBytes(16, 123), "application/octet-stream");
  const oldSig = await manifestOf(empty, [], { subject: oldImage });

  return {
    live: [
      config,
      layer1,
      layer2,
      image,
      armConfig,
      armImage,
      inner,
      index,
      dockerConfig,
      dockerLayer,
      docker,
      empty,
      subjectLayer,
      subject,
      pointer,
      sigLayer,
      referrer,
      counterSig,
    ],
    referrers: [referrer, counterSig, sigLayer],
    garbage: [oldLayer, oldConfig, oldImage, lone, oldSig],
    layer2,
    image,
  };
}

const digestsOf = (ds: Descriptor[]) => [...new Set(ds.map((d) => d.digest))].sort();
const sizeOf = (ds: Descriptor[]) => ds.reduce((n, d) => n + d.size, 0);

async function age(layout: OciLayout, ms: number): Promise<void> {
  const then = new Date(Date.now() - ms);
  for await (const d of layout.list()) await fsp.utimes(layout.blobPath(d), then, then);
}

describe("gc and fsck", () => {
  it("fsck reports garbage as unreachable; gc removes exactly the garbage", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const g = await buildGraph(layout);
    const before = await layout.fsck();
    expect(before).toMatchObject({ ok: true, missing: [], corrupt: [] });
    expect(before.unreachable).toEqual(digestsOf(g.garbage));
    expect(before.checked).toBe(digestsOf([...g.live, ...g.garbage]).length);

    const dry = await layout.gc({ gracePeriodMs: 0, dryRun: true });
    expect(dry.removed).toEqual(digestsOf(g.garbage));
    expect((await layout.fsck()).unreachable).toEqual(digestsOf(g.garbage));

    const result = await layout.gc({ gracePeriodMs: 0 });
    expect(result.removed).toEqual(digestsOf(g.garbage));
    expect(result.freedBytes).toBe(sizeOf(g.garbage));
    expect(result.reachable).toBe(digestsOf(g.live).length);
    const after = await layout.fsck();
    expect(after).toEqual({
      ok: true,
      missing: [],
      corrupt: [],
      unreachable: [],
      checked: digestsOf(g.live).length,
    });
    expect((await layout.gc({ gracePeriodMs: 0 })).removed).toEqual([]);
  });

  it("keeps young garbage within the grace period", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const g = await buildGraph(layout);
    const young = await layout.gc();
    expect(young.removed).toEqual([]);
    expect(young.keptRecent).toEqual(digestsOf(g.garbage));
    await age(layout, 60 * 60 * 1000);
    // a put of a present blob refreshes it, so a writer about to tag it is not swept under it
    const lone = g.garbage[3]!;
    await layout.put(untouchable(), { digest: lone.digest });
    const old = await layout.gc();
    expect(old.removed).toEqual(digestsOf(g.garbage.filter((d) => d !== lone)));
    expect(old.keptRecent).toEqual([lone.digest]);
  });

  it("drops referrers with keepReferrers: false", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const g = await buildGraph(layout);
    const result = await layout.gc({ gracePeriodMs: 0, keepReferrers: false });
    expect(result.removed).toEqual(digestsOf([...g.garbage, ...g.referrers]));
  });

  it("fsck reports corrupt and missing blobs; gc survives them", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const g = await buildGraph(layout);
    await fsp.writeFile(layout.blobPath(g.layer2.digest), "bit rot");
    await layout.delete(g.live[0]!.digest); // the shared config
    const report = await layout.fsck();
    expect(report.ok).toBe(false);
    expect(report.corrupt).toEqual([g.layer2.digest]);
    expect(report.missing).toEqual([g.live[0]!.digest]);
    const result = await layout.gc({ gracePeriodMs: 0 });
    expect(result.removed).toEqual(digestsOf(g.garbage));
  });

  it("gc removes stale temporary files and keeps live ones", async () => {
    const layout = await OciLayout.open(dir, { create: true });
    const tmp = path.join(dir, TEMP_DIR);
    await fsp.mkdir(tmp, { recursive: true });
    const dead = spawnDeadPid();
    const hostTag = (await import("../src/content/atomic.js")).HOST_TAG;
    const names = {
      deadWriter: `blob-${dead}-${hostTag}-00ff.tmp`,
      liveWriter: `blob-${process.ppid}-${hostTag}-00ff.tmp`,
      otherHost: `blob-${dead}-00000000-00ff.tmp`,
      unknownFresh: "something-else",
      unknownOld: "old-thing",
    };
    for (const n of Object.values(names)) await fsp.writeFile(path.join(tmp, n), "partial");
    const old = new Date(Date.now() - 2 * 24 * 60 * 60 * 1000);
    await fsp.utimes(path.join(tmp, names.unknownOld), old, old);
    const result = await layout.gc();
    expect(result.tempFilesRemoved).toBe(2);
    expect((await fsp.readdir(tmp)).sort()).toEqual(
      [names.liveWriter, names.otherHost, names.unknownFresh].sort(),
    );
    expect((await layout.gc({ tempMaxAgeMs: 0 })).tempFilesRemoved).toBe(3);
  });
});

function spawnDeadPid(): number {
  const out = execFileSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
    encoding: "utf8",
  });
  return Number(out);
}

describe("default store", () => {
  it("is CAIRN_HOME, else $XDG_CACHE_HOME/cairn, else ~/.cache/cairn", () => {
    expect(defaultStoreDir({ CAIRN_HOME: "/srv/cairn", XDG_CACHE_HOME: "/c" })).toBe("/srv/cairn");
    expect(defaultStoreDir({ XDG_CACHE_HOME: "/c" })).toBe("/c/cairn");
    expect(defaultStoreDir({ XDG_CACHE_HOME: "relative", HOME: "/home/u" })).toBe("/home/u/.cache/cairn");
    expect(defaultStoreDir({ HOME: "/home/u" })).toBe("/home/u/.cache/cairn");
  });

  it("openDefaultStore creates the layout", async () => {
    const store = await openDefaultStore({ env: { CAIRN_HOME: dir } });
    expect(store.dir).toBe(fs.realpathSync(dir));
    expect(fs.existsSync(path.join(dir, OCI_LAYOUT_FILE))).toBe(true);
  });
});

describe("interop with skopeo and umoci", () => {
  it("a layout cairn writes is copied by skopeo and listed by umoci, and read back by cairn", async () => {
    const skopeo = requireTool("skopeo");
    const umoci = requireTool("umoci");
    const layout = await OciLayout.open(dir, { create: true });
    const tar = new Uint8Array(1024); // an empty tar: two zero blocks
    const layer = await layout.put(gzipSync(tar), { mediaType: MediaType.ociLayerGzip });
    const config = await layout.put(
      JSON.stringify({
        architecture: "amd64",
        os: "linux",
        rootfs: { type: "layers", diff_ids: [digestBytes(tar)] },
      }),
      { mediaType: MediaType.ociConfig },
    );
    const manifest = await layout.put(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }),
      { mediaType: MediaType.ociManifest },
    );
    await layout.tag("v1", manifest);
    // leftovers cairn may leave must not bother the peers
    await fsp.writeFile(path.join(dir, TEMP_DIR, "blob-1-00000000-00.tmp"), "partial");
    const other = path.join(root, `skopeo-${counter}`);
    execFileSync(skopeo, ["copy", "--quiet", `oci:${dir}:v1`, `oci:${other}:copied`], { stdio: "pipe" });
    expect(execFileSync(umoci, ["ls", "--layout", dir], { encoding: "utf8" }).trim()).toBe("v1");
    const copied = await OciLayout.open(other);
    expect((await copied.resolve("copied")).digest).toBe(manifest.digest);
    expect((await copied.fsck()).ok).toBe(true);
    await copied.tag("again", await copied.resolve("copied"));
    expect(
      execFileSync(umoci, ["ls", "--layout", other], { encoding: "utf8" }).trim().split("\n").sort(),
    ).toEqual(["again", "copied"]);
  });

  it("a layout umoci writes is opened, checked and collected by cairn without losing anything", async () => {
    const umoci = requireTool("umoci");
    execFileSync(umoci, ["init", "--layout", dir], { stdio: "pipe" });
    execFileSync(umoci, ["new", "--image", `${dir}:base`], { stdio: "pipe" });
    execFileSync(umoci, ["config", "--image", `${dir}:base`, "--tag", "configured", "--config.env", "A=1"], {
      stdio: "pipe",
    });
    const layout = await OciLayout.open(dir);
    expect((await layout.tags()).sort()).toEqual(["base", "configured"]);
    const before = await layout.fsck();
    expect(before).toMatchObject({ ok: true, missing: [], corrupt: [] });
    await layout.untag("base");
    const result = await layout.gc({ gracePeriodMs: 0 });
    expect(result.removed.length).toBeGreaterThan(0); // base's own manifest and config
    expect(await layout.fsck()).toMatchObject({ ok: true, missing: [], corrupt: [], unreachable: [] });
    execFileSync(umoci, ["stat", "--image", `${dir}:configured`], { stdio: "pipe" });
  });
});

describe("memory", () => {
  it("a put with an AbortSignal does not keep chunks alive (256 MiB grows RSS by well under 256 MiB)", async () => {
    const dir = await fsp.mkdtemp(path.join(tmpdir(), "cairn-put-mem-"));
    try {
      const layout = await OciLayout.open(dir, { create: true });
      async function* chunks() {
        for (let i = 0; i < 256; i++) yield new Uint8Array(1 << 20).fill(i);
      }
      globalThis.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 10);
      await layout.put(chunks(), { signal: new AbortController().signal });
      clearInterval(sampler);
      expect((peak - base) / 2 ** 20).toBeLessThan(128);
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
    }
  });
});
