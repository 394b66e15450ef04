/**
 * Every case of ../shared/conformance/tar/CASES.md (Go archive/tar testdata) and
 * ../shared/conformance/layers/CASES.md (layer application semantics).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isCairnError } from "../src/errors/index.js";
import { applyLayer, encodeName, readTar, type TarEntry, type TarHeader } from "../src/layer/index.js";
import { conformanceDir } from "./helpers/conformance.js";
import { applyAll, d, f, h, isRoot, l, opq, rawTar, snapshot, tempDir, wh } from "./layer-fixtures.js";

const TAR = conformanceDir("tar");
const tarFile = (name: string) => fs.readFileSync(path.join(TAR, name));

interface ReadEntry {
  header: TarHeader;
  data: Buffer;
  md5: string;
}

async function readEntries(input: Buffer, withData = true): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  for await (const e of readTar(Readable.from([input]))) {
    const chunks: Buffer[] = [];
    if (withData) for await (const c of e.body()) chunks.push(Buffer.from(c));
    const data = Buffer.concat(chunks);
    out.push({ header: e.header, data, md5: createHash("md5").update(data).digest("hex") });
  }
  return out;
}

async function readError(input: Buffer): Promise<{ kind: unknown; entries: number }> {
  let entries = 0;
  try {
    for await (const e of readTar(Readable.from([input]))) {
      entries++;
      for await (const _ of e.body()) {
        // read everything
      }
    }
  } catch (err) {
    if (!isCairnError(err, "E_LAYER_INVALID")) throw err;
    return { kind: err.details?.kind, entries };
  }
  return { kind: undefined, entries };
}

const at = <T>(xs: T[], i: number): T => {
  const x = xs[i];
  if (x === undefined) throw new Error(`no entry ${i}`);
  return x;
};

describe("tar reader: positive cases (tar/CASES.md)", () => {
  it("gnu.tar: two GNU files with owners, times and content; partial reads", async () => {
    const es = await readEntries(tarFile("gnu.tar"));
    expect(es).toHaveLength(2);
    const a = at(es, 0).header;
    expect(a).toMatchObject({
      name: "small.txt",
      type: "file",
      uid: 73025,
      gid: 5000,
      uname: "dsymonds",
      gname: "eng",
    });
    expect(a).toMatchObject({ size: 5, mtime: 1244428340, format: "gnu" });
    expect(a.mode & 0o7777).toBe(0o640);
    expect(at(es, 0).md5).toBe("e38b27eaccb4391bdec553a7f3ae6b2f");
    expect(at(es, 1).header).toMatchObject({ name: "small2.txt", size: 11, mtime: 1244436044, uid: 73025 });
    expect(at(es, 1).md5).toBe("c65bd2e50a56a2138bf1716f2fd56fe9");
    // Partial reads: take the first bytes, leave the rest to be skipped.
    const firsts: string[] = [];
    const want = [4, 6];
    for await (const e of readTar(Readable.from([tarFile("gnu.tar")]))) {
      for await (const c of e.body()) {
        firsts.push(Buffer.from(c).subarray(0, want[firsts.length]).toString());
        break;
      }
    }
    expect(firsts).toEqual(["Kilt", "Google"]);
  });

  it("star.tar: atime and ctime from the star prefix area", async () => {
    const es = await readEntries(tarFile("star.tar"));
    expect(es.map((e) => [e.header.name, e.header.size])).toEqual([
      ["small.txt", 5],
      ["small2.txt", 11],
    ]);
    for (const e of es) {
      expect(e.header).toMatchObject({
        uid: 73025,
        mtime: 1244592783,
        atime: 1244592783,
        ctime: 1244592783,
        format: "star",
      });
      expect(e.header.mode & 0o7777).toBe(0o640);
    }
  });

  it("v7.tar: old V7 headers without magic, no uname/gname", async () => {
    const es = await readEntries(tarFile("v7.tar"));
    expect(es.map((e) => [e.header.name, e.header.size, e.header.type])).toEqual([
      ["small.txt", 5, "file"],
      ["small2.txt", 11, "file"],
    ]);
    for (const e of es) {
      expect(e.header).toMatchObject({ uid: 73025, mtime: 1244593104, uname: "", gname: "", format: "v7" });
      expect(e.header.mode & 0o7777).toBe(0o444);
    }
  });

  it("ustar.tar: name split into prefix + name", async () => {
    const [e] = await readEntries(tarFile("ustar.tar"));
    expect(e?.header).toMatchObject({
      name: `${"longname/".repeat(15)}file.txt`,
      size: 6,
      uid: 501,
      mtime: 1360135598,
    });
    expect(e?.header.mode).toBe(0o644);
    expect(e?.data.toString()).toBe("hello\n");
  });

  it("pax.tar: long path and linkpath from PAX, sub-second times", async () => {
    const es = await readEntries(tarFile("pax.tar"));
    expect(es).toHaveLength(2);
    const a = at(es, 0).header;
    expect(a.name.startsWith("a/123456789101112")).toBe(true);
    expect(Buffer.byteLength(a.name)).toBeGreaterThan(100);
    expect(a).toMatchObject({ type: "file", uid: 1000, size: 7, format: "pax" });
    expect(a.mode & 0o7777).toBe(0o664);
    expect(a.pax.mtime).toBe("1350244992.023960108");
    expect(a.mtime).toBeCloseTo(Number("1350244992.023960108"), 5);
    expect(a.atime).toBeCloseTo(Number("1350244992.023960108"), 5);
    expect(a.ctime).toBeCloseTo(Number("1350244992.023960108"), 5);
    const b = at(es, 1).header;
    expect(b).toMatchObject({ name: "a/b", type: "symlink", size: 0 });
    expect(b.linkname.startsWith("123456789101112")).toBe(true);
    expect(Buffer.byteLength(b.linkname)).toBeGreaterThan(100);
    expect(b.mode & 0o7777).toBe(0o777);
    expect(b.pax.mtime).toBe("1350266320.910238425");
  });

  it("pax-pos-size-file.tar: PAX size with leading zeros overrides the header", async () => {
    const [e] = await readEntries(tarFile("pax-pos-size-file.tar"));
    expect(e?.header).toMatchObject({ name: "foo", size: 999, uid: 319973, mtime: 1442282516 });
    expect((e?.header.mode ?? 0) & 0o7777).toBe(0o640);
    expect(e?.md5).toBe("0afb597b283fe61b5d4879669a350556");
  });

  it("pax-records.tar: records kept verbatim, PAX uname applied", async () => {
    const [e] = await readEntries(tarFile("pax-records.tar"));
    expect(e?.header).toMatchObject({ name: "file", type: "file", mtime: 0, uname: "long".repeat(10) });
    expect(e?.header.pax).toMatchObject({
      "GOLANG.pkg": "tar",
      comment: "Hello, 世界",
      uname: "long".repeat(10),
    });
  });

  it("pax-global-records.tar: global headers surfaced, not applied to later entries", async () => {
    const es = await readEntries(tarFile("pax-global-records.tar"));
    expect(es.map((e) => [e.header.type, e.header.name, e.header.mtime])).toEqual([
      ["pax-global-header", "global1", 1500000000],
      ["file", "file1", 0],
      ["file", "file2", 0],
      ["pax-global-header", "GlobalHead.0.0", 0],
      ["file", "file3", 0],
      ["file", "file4", 1400000000],
    ]);
    expect(at(es, 0).header.pax).toEqual({ path: "global1", mtime: "1500000000.0" });
    expect(at(es, 1).header.format).toBe("ustar");
    expect(at(es, 2).header.pax).toEqual({ path: "file2" });
    expect(at(es, 3).header.pax).toEqual({ path: "" });
    expect(at(es, 5).header.pax).toEqual({ mtime: "1400000000" });
  });

  it("xattrs.tar: SCHILY.xattr records, binary values kept (trailing NUL)", async () => {
    const es = await readEntries(tarFile("xattrs.tar"));
    const a = at(es, 0).header;
    expect(a).toMatchObject({ name: "small.txt", size: 5, uid: 1000 });
    expect(a.mode & 0o7777).toBe(0o644);
    expect(a.mtime).toBeCloseTo(Number("1386065770.44825232"), 5);
    expect(a.atime).toBeCloseTo(Number("1389782991.41987522"), 5);
    expect(a.ctime).toBeCloseTo(Number("1389782956.794414986"), 5);
    const text = (x: Record<string, Uint8Array>) =>
      Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Buffer.from(v).toString("latin1")]));
    expect(text(a.xattrs)).toEqual({
      "user.key": "value",
      "user.key2": "value2",
      "security.selinux": "unconfined_u:object_r:default_t:s0\0",
    });
    const b = at(es, 1).header;
    expect(b).toMatchObject({ name: "small2.txt", size: 11 });
    expect(text(b.xattrs)).toEqual({ "security.selinux": "unconfined_u:object_r:default_t:s0\0" });
    expect(b.mtime).toBeCloseTo(Number("1386065770.449252304"), 5);
    expect(b.ctime).toBeCloseTo(Number("1386065770.449252304"), 5);
  });

  it("nil-uid.tar: an all-NUL uid field is 0", async () => {
    const [e] = await readEntries(tarFile("nil-uid.tar"));
    expect(e?.header).toMatchObject({ name: "P1050238.JPG.log", uid: 0, size: 14, mtime: 1365454838 });
    expect((e?.header.mode ?? 0) & 0o7777).toBe(0o664);
  });

  it("gnu-multi-hdrs.tar: the last GNU long name and long link win", async () => {
    const es = await readEntries(tarFile("gnu-multi-hdrs.tar"));
    expect(es.map((e) => [e.header.type, e.header.name, e.header.linkname, e.header.mtime])).toEqual([
      ["symlink", "GNU2/GNU2/long-path-name", "GNU4/GNU4/long-linkpath-name", 0],
    ]);
  });

  it("pax-multi-hdrs.tar: the last PAX header wins", async () => {
    const es = await readEntries(tarFile("pax-multi-hdrs.tar"));
    expect(es.map((e) => [e.header.type, e.header.name, e.header.linkname, e.header.mtime])).toEqual([
      ["symlink", "bar", "PAX4/PAX4/long-linkpath-name", 0],
    ]);
  });

  it("gnu-incremental.tar: dump dir D, atime/ctime, GNU sparse S", async () => {
    const es = await readEntries(tarFile("gnu-incremental.tar"), false);
    const [dir, foo, sparse] = es.map((e) => e.header);
    expect(dir).toMatchObject({ name: "test2/", type: "directory", typeflag: "D", mode: 0o40755, size: 14 });
    expect(dir).toMatchObject({ mtime: 1441973427, atime: 1441974501, ctime: 1441973436 });
    expect(foo).toMatchObject({ name: "test2/foo", type: "file", mode: 0o100644, size: 64 });
    expect(sparse).toMatchObject({
      name: "test2/sparse",
      typeflag: "S",
      size: 536870912,
      mtime: 1441973427,
      atime: 1441991948,
    });
    expect(es).toHaveLength(3);
  });

  it("gnu-long-nul.tar: long name cut at the first NUL", async () => {
    const [e] = await readEntries(tarFile("gnu-long-nul.tar"));
    expect(e?.header).toMatchObject({ name: "0123456789", uid: 1000, mtime: 1486082191 });
    expect((e?.header.mode ?? 0) & 0o7777).toBe(0o644);
  });

  it("gnu-utf8.tar: long UTF-8 name", async () => {
    const [e] = await readEntries(tarFile("gnu-utf8.tar"));
    expect(e?.header.name).toMatch(/^(☺☻☹)+$/u);
    expect(Buffer.byteLength(e?.header.name ?? "")).toBeGreaterThan(100);
    expect(e?.header).toMatchObject({ uid: 1000, gid: 1000, mtime: 0 });
    expect((e?.header.mode ?? 0) & 0o7777).toBe(0o644);
  });

  it("gnu-not-utf8.tar: invalid UTF-8 name preserved byte-exact", async () => {
    const [e] = await readEntries(tarFile("gnu-not-utf8.tar"));
    expect(encodeName(e?.header.name ?? "")).toEqual(Buffer.from("hi\x80\x81\x82\x83bye", "latin1"));
  });

  it("invalid-go17.tar: old Go writer's prefix in a GNU header, full-width uid", async () => {
    const [e] = await readEntries(tarFile("invalid-go17.tar"));
    expect(e?.header.name).toMatch(/^a+\/foo$/);
    expect(e?.header).toMatchObject({ uid: 2097152, mtime: 0, type: "file" });
  });

  it("ustar-file-devs.tar: device numbers on a regular file are tolerated", async () => {
    const [e] = await readEntries(tarFile("ustar-file-devs.tar"));
    expect(e?.header).toMatchObject({ name: "file", type: "file", devmajor: 1, devminor: 1 });
    expect((e?.header.mode ?? 0) & 0o7777).toBe(0o644);
  });

  it("ustar-file-reg.tar", async () => {
    const [e] = await readEntries(tarFile("ustar-file-reg.tar"));
    expect(e?.header).toMatchObject({ name: "foo", size: 684 });
    expect((e?.header.mode ?? 0) & 0o7777).toBe(0o640);
    expect(e?.data.length).toBe(684);
  });

  it("trailing-slash.tar: 300-byte PAX directory path", async () => {
    const [e] = await readEntries(tarFile("trailing-slash.tar"));
    expect(e?.header).toMatchObject({ name: "123456789/".repeat(30), type: "directory" });
  });

  it("file-and-dir.tar", async () => {
    const es = await readEntries(tarFile("file-and-dir.tar"));
    expect(es.map((e) => [e.header.name, e.header.type, e.data.toString()])).toEqual([
      ["small.txt", "file", "Kilts"],
      ["dir/", "directory", ""],
    ]);
  });

  it("hardlink.tar", async () => {
    const es = await readEntries(tarFile("hardlink.tar"));
    expect(at(es, 0).header).toMatchObject({
      name: "file.txt",
      type: "file",
      size: 15,
      uid: 1000,
      mtime: 1425484303,
    });
    expect(at(es, 0).header.mode & 0o7777).toBe(0o644);
    expect(at(es, 0).data.toString()).toBe("Slartibartfast\n");
    expect(at(es, 1).header).toMatchObject({
      name: "hard.txt",
      type: "hardlink",
      linkname: "file.txt",
      size: 0,
    });
  });

  it("writer.tar (GNU tar 1.26)", async () => {
    const es = await readEntries(tarFile("writer.tar"));
    expect(es.map((e) => [e.header.name, e.header.type, e.data.toString(), e.header.mtime])).toEqual([
      ["small.txt", "file", "Kilts", 1246508266],
      ["small2.txt", "file", "Google.com\n", 1245217492],
      ["link.txt", "symlink", "", 1314603082],
    ]);
    expect(at(es, 2).header).toMatchObject({ linkname: "small.txt", uid: 1000 });
    expect(at(es, 2).header.mode & 0o7777).toBe(0o777);
  });

  it("hdr-only.tar: header-only types never carry data, whatever their size field", async () => {
    const es = await readEntries(tarFile("hdr-only.tar"));
    expect(es).toHaveLength(16);
    expect(es.slice(0, 8).map((e) => e.header.type)).toEqual([
      "directory",
      "fifo",
      "file",
      "hardlink",
      "char-device",
      "block-device",
      "symlink",
      "symlink",
    ]);
    for (const e of es) if (e.header.type !== "file") expect(e.data.length).toBe(0);
    for (let i = 0; i < 8; i++) {
      const { size: _a, ...first } = at(es, i).header;
      const { size: _b, ...second } = at(es, i + 8).header;
      expect(second).toEqual(first);
      expect(at(es, i + 8).md5).toBe(at(es, i).md5);
    }
    expect(es.slice(8).some((e) => e.header.type !== "file" && e.header.size > 0)).toBe(true);
  });

  it("sparse-formats.tar: every GNU sparse flavour expands to the same bytes", async () => {
    const es = await readEntries(tarFile("sparse-formats.tar"));
    expect(es.map((e) => e.header.name)).toEqual([
      "sparse-gnu",
      "sparse-posix-0.0",
      "sparse-posix-0.1",
      "sparse-posix-1.0",
      "end",
    ]);
    for (const e of es.slice(0, 4)) {
      expect(e.header).toMatchObject({ type: "file", size: 200, uid: 1000, gid: 1000 });
      expect(e.header.mode & 0o7777).toBe(0o644);
      expect(e.md5).toBe("6f53234398c2449fe67c1812d993012f");
      expect(e.data.subarray(0, 8)).toEqual(Buffer.from("\0G\0o\0G\0o", "latin1"));
    }
    expect(at(es, 4).data.toString()).toBe("end\n");
    expect(at(es, 4).md5).toBe("b0061974914468de549a2af8ced10316");
  });

  it("gnu-nil-sparse-data/hole.tar: one all-data vs one all-hole region", async () => {
    const [dataE] = await readEntries(tarFile("gnu-nil-sparse-data.tar"));
    const [holeE] = await readEntries(tarFile("gnu-nil-sparse-hole.tar"));
    expect(dataE?.header).toMatchObject({ name: "sparse.db", size: 1000, mtime: 0 });
    expect(holeE?.header).toMatchObject({ name: "sparse.db", size: 1000, mtime: 0 });
    expect(dataE?.data.length).toBe(1000);
    expect(holeE?.data).toEqual(Buffer.alloc(1000));
  });

  it("pax-nil-sparse-data/hole.tar: PAX sparse 1.0 reported as a regular file of the real size", async () => {
    for (const [file, paxSize] of [
      ["pax-nil-sparse-data.tar", "1512"],
      ["pax-nil-sparse-hole.tar", "512"],
    ] as const) {
      const [e] = await readEntries(tarFile(file));
      expect(e?.header).toMatchObject({ name: "sparse.db", type: "file", size: 1000 });
      expect(e?.header.pax.size).toBe(paxSize);
      expect(
        Object.keys(e?.header.pax ?? {}).filter((k) => k.startsWith("GNU.sparse.")).length,
      ).toBeGreaterThan(0);
      expect(e?.data.length).toBe(1000);
    }
  });

  it("gnu-sparse-big.tar / pax-sparse-big.tar: 60 GB logical size, base-256 numbers", async () => {
    for (const file of ["gnu-sparse-big.tar", "pax-sparse-big.tar"]) {
      const entries: TarEntry[] = [];
      for await (const e of readTar(Readable.from([tarFile(file)]))) {
        entries.push(e);
        expect(e.header.size).toBe(60_000_000_000);
        // Writers store whole blocks: each stored region ends at the next 1e10 boundary.
        expect(e.header.sparse?.segments.map((s) => s.offset + s.length)).toEqual(
          [1, 2, 3, 4, 5, 6].map((i) => i * 1e10),
        );
        const placed = new Map<number, number>();
        for await (const seg of e.segments()) {
          const data = Buffer.from(seg.data);
          for (let k = 0; k < data.length; k++) if (data[k] !== 0) placed.set(seg.offset + k, data[k] ?? 0);
        }
        const expected = new Map<number, number>();
        for (let i = 1; i <= 6; i++) {
          const text = Buffer.from("0123456789".repeat(10));
          for (let k = 0; k < 100; k++) expected.set(i * 1e10 - 100 + k, text[k] ?? 0);
        }
        expect(placed).toEqual(expected);
      }
      expect(entries).toHaveLength(1);
    }
  });

  it("writer-big.tar / writer-big-long.tar: 16 GiB headers parse, content is truncated", async () => {
    const headers: TarHeader[] = [];
    for (const file of ["writer-big.tar", "writer-big-long.tar"]) {
      const r = await readError(tarFile(file));
      expect(r).toEqual({ kind: "truncated", entries: 1 });
      for await (const e of readTar(Readable.from([tarFile(file)]))) {
        headers.push(e.header);
        break;
      }
    }
    expect(headers[0]).toMatchObject({
      name: "tmp/16gig.txt",
      size: 17179869184,
      uid: 73025,
      mtime: 1254699560,
    });
    expect((headers[0]?.mode ?? 0) & 0o7777).toBe(0o640);
    expect(headers[1]).toMatchObject({
      name: `${"longname/".repeat(15)}16gig.txt`,
      size: 17179869184,
      uid: 1000,
      mtime: 1399583047,
    });
    expect((headers[1]?.mode ?? 0) & 0o7777).toBe(0o644);
  });

  it("pax-path-hdr.tar: a lone PAX header is zero entries; junk after it is truncation", async () => {
    expect(await readEntries(tarFile("pax-path-hdr.tar"))).toHaveLength(0);
    for (const n of [1, 100, 511]) {
      expect(await readError(Buffer.concat([tarFile("pax-path-hdr.tar"), Buffer.alloc(n, 0x41)]))).toEqual({
        kind: "truncated",
        entries: 0,
      });
    }
  });

  it("small.txt / small2.txt are the contents the archives hold", async () => {
    const es = await readEntries(tarFile("gnu.tar"));
    expect(at(es, 0).data).toEqual(tarFile("small.txt"));
    expect(at(es, 1).data).toEqual(tarFile("small2.txt"));
  });
});

describe("tar reader: negative cases (tar/CASES.md)", () => {
  for (const file of [
    "pax-bad-hdr-file.tar",
    "pax-bad-mtime-file.tar",
    "pax-nul-xattrs.tar",
    "pax-nul-path.tar",
    "neg-size.tar",
    "issue10968.tar",
    "issue11169.tar",
    "issue12435.tar",
  ]) {
    it(`${file}: bad-header`, async () => {
      expect((await readError(tarFile(file))).kind).toBe("bad-header");
    });
  }

  it("pax-bad-hdr-large.tar.bz2: an absurd PAX header is refused, not buffered (too-long)", async () => {
    const tar = execFileSync("bzip2", ["-dc", path.join(TAR, "pax-bad-hdr-large.tar.bz2")], {
      maxBuffer: 1 << 30,
    });
    expect((await readError(tar)).kind).toBe("too-long");
  });
});

describe("tar reader: truncation and end-of-archive rules (tar/CASES.md)", () => {
  const gnu = tarFile("gnu.tar");
  it("empty input is an empty archive", async () => {
    expect(await readError(Buffer.alloc(0))).toEqual({ kind: undefined, entries: 0 });
  });
  it("a header cut short, or data cut short, is truncated", async () => {
    expect((await readError(gnu.subarray(0, 100))).kind).toBe("truncated");
    expect((await readError(gnu.subarray(0, 514))).kind).toBe("truncated");
  });
  it("gnu.tar cut at 1024/2048 is a clean end with 1/2 entries; at 512/1536 truncated", async () => {
    expect(await readError(gnu.subarray(0, 1024))).toEqual({ kind: undefined, entries: 1 });
    expect(await readError(gnu.subarray(0, 2048))).toEqual({ kind: undefined, entries: 2 });
    expect((await readError(gnu.subarray(0, 512))).kind).toBe("truncated");
    expect((await readError(gnu.subarray(0, 1536))).kind).toBe("truncated");
  });
  it("missing padding after the last entry is a clean end (ustar-file-reg cut at 1196)", async () => {
    expect(await readError(tarFile("ustar-file-reg.tar").subarray(0, 1196))).toEqual({
      kind: undefined,
      entries: 1,
    });
  });
  it("after the last entry: nothing, one or two zero blocks are clean; junk after one zero block is not", async () => {
    const body = gnu.subarray(0, 2048);
    const zero = Buffer.alloc(512);
    const junk = Buffer.alloc(512, 0x41);
    expect(await readError(body)).toEqual({ kind: undefined, entries: 2 });
    expect(await readError(Buffer.concat([body, zero]))).toEqual({ kind: undefined, entries: 2 });
    expect(await readError(Buffer.concat([body, zero, zero]))).toEqual({ kind: undefined, entries: 2 });
    expect((await readError(Buffer.concat([body, zero, junk.subarray(0, 100)]))).kind).toBe("truncated");
    expect((await readError(Buffer.concat([body, zero, junk]))).kind).toBe("bad-header");
    expect(await readError(Buffer.concat([body, zero, zero, junk, junk.subarray(0, 7)]))).toEqual({
      kind: undefined,
      entries: 2,
    });
  });
  it("sparse-formats.tar cut inside the first sparse entry is truncated; cut in its padding is a clean end", async () => {
    const sparse = tarFile("sparse-formats.tar");
    // Header at 0, five extension blocks, 95 bytes of data at 3072, padding to 3584.
    for (const cut of [1, 511, 512, 1000, 3071, 3072, 3100, 3166]) {
      expect((await readError(sparse.subarray(0, cut))).kind, `cut at ${cut}`).toBe("truncated");
    }
    for (const cut of [3167, 3200, 3583, 3584]) {
      expect(await readError(sparse.subarray(0, cut)), `cut at ${cut}`).toEqual({
        kind: undefined,
        entries: 1,
      });
    }
  });
});

describe("layer application (layers/CASES.md)", () => {
  let root: string;
  let base: string;
  beforeEach(() => {
    base = tempDir();
    root = path.join(base, "rootfs");
    fs.mkdirSync(root);
  });
  afterEach(() => {
    fs.rmSync(base, { recursive: true, force: true });
  });
  const apply = (...layers: Buffer[]) => applyAll(root, layers);
  const tree = () => {
    const s = snapshot(root);
    // #30: whiteout markers never materialise, in any case.
    expect(Object.keys(s).filter((p) => path.basename(p).startsWith(".wh."))).toEqual([]);
    return s;
  };

  it("#1 plain add", async () => {
    await apply(rawTar([d("etc/"), f("etc/a", "1")]));
    expect(tree()).toEqual({ etc: "dir", "etc/a": "file 1" });
  });

  it("#2 modify file: size/mtime/mode of the upper layer", async () => {
    await apply(rawTar([f("a", "1", 0o600)]), rawTar([{ ...f("a", "22", 0o640), mtime: 1234567890 }]));
    expect(tree()).toEqual({ a: "file 22" });
    const st = fs.statSync(path.join(root, "a"));
    expect([st.size, st.mode & 0o7777, st.mtimeMs / 1000]).toEqual([2, 0o640, 1234567890]);
  });

  it("#3 delete file (layer.md whiteout example)", async () => {
    await apply(
      rawTar([f("file1"), d("a/"), f("a/file2"), d("b/"), d("c/"), f("c/file3")]),
      rawTar([wh("file1"), wh("a/file2"), wh("b"), f("file4")]),
    );
    expect(tree()).toEqual({ a: "dir", c: "dir", "c/file3": "file ", file4: "file " });
  });

  it("#4 delete dir recursively", async () => {
    await apply(rawTar([d("b/"), d("b/x/"), f("b/x/y")]), rawTar([wh("b")]));
    expect(tree()).toEqual({});
  });

  it("#5 whiteout then re-add in the same layer, either order", async () => {
    await apply(rawTar([f("a", "old")]), rawTar([wh("a"), f("a", "new")]));
    expect(tree()).toEqual({ a: "file new" });
    fs.rmSync(root, { recursive: true });
    fs.mkdirSync(root);
    await apply(rawTar([f("a", "old")]), rawTar([f("a", "new"), wh("a")]));
    expect(tree()).toEqual({ a: "file new" });
  });

  it("#6 whiteout of a non-existent path is a no-op", async () => {
    await apply(rawTar([f("x")]), rawTar([wh("nothere")]));
    expect(tree()).toEqual({ x: "file " });
  });

  it("#7 opaque dir: applied before the new entries of its directory", async () => {
    await apply(
      rawTar([d("a/"), f("a/b", "1"), f("a/c"), d("a/d/"), f("a/d/e")]),
      rawTar([d("a/"), opq("a/"), f("a/b", "2")]),
    );
    expect(tree()).toEqual({ a: "dir", "a/b": "file 2" });
  });

  it("#8 opaque marker after the new entries keeps them", async () => {
    await apply(
      rawTar([d("a/"), f("a/b", "1"), f("a/c"), d("a/d/"), f("a/d/e")]),
      rawTar([d("a/"), f("a/b", "2"), f("a/new"), opq("a/")]),
    );
    expect(tree()).toEqual({ a: "dir", "a/b": "file 2", "a/new": "file " });
  });

  it("#9 opaque keeps the directory attributes of the new layer", async () => {
    await apply(rawTar([d("a/", 0o755), f("a/x")]), rawTar([d("a/", 0o700), opq("a/")]));
    expect(snapshot(root, { mode: true })).toEqual({ a: "dir 700" });
  });

  it("#10 nested opaque only affects its subtree", async () => {
    await apply(rawTar([d("a/"), f("a/x"), d("a/s/"), f("a/s/y")]), rawTar([opq("a/s/")]));
    expect(tree()).toEqual({ a: "dir", "a/x": "file ", "a/s": "dir" });
  });

  it("#11 explicit whiteouts equal an opaque marker", async () => {
    const lower = rawTar([d("bin/"), f("bin/my-app-binary"), f("bin/my-app-tools"), d("bin/tools/")]);
    await apply(lower, rawTar([wh("bin/my-app-binary"), wh("bin/my-app-tools"), wh("bin/tools")]));
    const explicit = tree();
    fs.rmSync(root, { recursive: true });
    fs.mkdirSync(root);
    await apply(lower, rawTar([opq("bin/")]));
    expect(tree()).toEqual(explicit);
    expect(explicit).toEqual({ bin: "dir" });
  });

  it("#12 file -> directory", async () => {
    await apply(rawTar([f("p", "x")]), rawTar([d("p/"), f("p/q")]));
    expect(tree()).toEqual({ p: "dir", "p/q": "file " });
  });

  it("#13 directory -> file", async () => {
    await apply(rawTar([d("p/"), f("p/q")]), rawTar([f("p", "x")]));
    expect(tree()).toEqual({ p: "file x" });
  });

  it("#14 file -> symlink (dangling is fine)", async () => {
    await apply(rawTar([f("s", "x")]), rawTar([l("s", "t")]));
    expect(tree()).toEqual({ s: "symlink -> t" });
  });

  it("#15 symlink -> directory never follows the old symlink", async () => {
    await apply(rawTar([d("real/"), l("s", "real")]), rawTar([d("s/"), f("s/z")]));
    expect(tree()).toEqual({ real: "dir", s: "dir", "s/z": "file " });
  });

  it("#16 directory -> symlink", async () => {
    await apply(rawTar([d("s/"), f("s/z")]), rawTar([l("s", "elsewhere")]));
    expect(tree()).toEqual({ s: "symlink -> elsewhere" });
  });

  it("#17 hardlink within a layer", async () => {
    await apply(rawTar([f("file.txt", "Slartibartfast\n"), h("hard.txt", "file.txt")]));
    expect(tree()).toEqual({ "file.txt": "file Slartibartfast\n", "hard.txt": "file Slartibartfast\n" });
    const a = fs.statSync(path.join(root, "file.txt"));
    const b = fs.statSync(path.join(root, "hard.txt"));
    expect([a.ino === b.ino, a.nlink]).toEqual([true, 2]);
    // And the Go testdata archive itself.
    fs.rmSync(root, { recursive: true });
    fs.mkdirSync(root);
    await apply(tarFile("hardlink.tar"));
    expect(fs.statSync(path.join(root, "hard.txt")).ino).toBe(fs.statSync(path.join(root, "file.txt")).ino);
  });

  it("#18 hardlink to a file of a lower layer (supported)", async () => {
    await apply(rawTar([f("a", "1")]), rawTar([h("b", "a")]));
    expect(tree()).toEqual({ a: "file 1", b: "file 1" });
    expect(fs.statSync(path.join(root, "b")).ino).toBe(fs.statSync(path.join(root, "a")).ino);
  });

  it("#19 hardlinked file modified later: the link breaks", async () => {
    await apply(rawTar([f("a", "1"), h("b", "a")]), rawTar([f("a", "2")]));
    expect(tree()).toEqual({ a: "file 2", b: "file 1" });
  });

  it("#20 whiteout of one hardlink name", async () => {
    await apply(rawTar([f("a", "content"), h("b", "a")]), rawTar([wh("a")]));
    expect(tree()).toEqual({ b: "file content" });
  });

  it.runIf(isRoot)("#21 permissions, owners, times", async () => {
    await apply(
      rawTar([{ ...f("x", "", 0o4755), uid: 1000, gid: 1000, mtime: 1500000000 }, d("y/", 0o1777)]),
    );
    const x = fs.lstatSync(path.join(root, "x"));
    expect([x.mode & 0o7777, x.uid, x.gid, x.mtimeMs / 1000]).toEqual([0o4755, 1000, 1000, 1500000000]);
    expect(fs.lstatSync(path.join(root, "y")).mode & 0o7777).toBe(0o1777);
  });

  it.runIf(hasGetfattr())("#22 xattrs via PAX", async () => {
    await apply(rawTar([{ ...f("x"), xattrs: { "user.key": "value" } }]));
    const out = execFileSync("getfattr", [
      "-n",
      "user.key",
      "--only-values",
      path.join(root, "x"),
    ]).toString();
    expect(out).toBe("value");
    // And the Go testdata archive (user.* set; security.selinux set or warned about).
    const warnings = await applyAll(root, [tarFile("xattrs.tar")]);
    const got = execFileSync("getfattr", ["-d", path.join(root, "small.txt")]).toString();
    expect(got).toContain('user.key="value"');
    expect(got).toContain('user.key2="value2"');
    expect(warnings.every((w) => w.code === "xattr-failed")).toBe(true);
  });

  it("#23 long names and links (PAX and GNU L/K)", async () => {
    const longDir = "123456789/".repeat(30);
    const longLink = `${"target/".repeat(20)}end`;
    await apply(rawTar([f(`${longDir}file`, "deep"), l("s", longLink)]));
    expect(fs.readFileSync(path.join(root, longDir, "file"), "utf8")).toBe("deep");
    expect(fs.readlinkSync(path.join(root, "s"))).toBe(longLink);
    await apply(tarFile("gnu-multi-hdrs.tar"), tarFile("pax.tar"));
    expect(fs.readlinkSync(path.join(root, "GNU2/GNU2/long-path-name"))).toBe("GNU4/GNU4/long-linkpath-name");
    const paxName = (await readEntries(tarFile("pax.tar")))[0]?.header.name ?? "";
    expect(fs.readFileSync(path.join(root, paxName)).length).toBe(7);
  });

  it("#24 missing parent dirs are created", async () => {
    await apply(rawTar([f("a/b/c", "x")]));
    expect(tree()).toEqual({ a: "dir", "a/b": "dir", "a/b/c": "file x" });
  });

  it("#25 non-dir parent: replaced by a directory (umoci behaviour), never written through", async () => {
    const warnings = await applyAll(root, [rawTar([f("a", "x")]), rawTar([f("a/b", "y")])]);
    expect(tree()).toEqual({ a: "dir", "a/b": "file y" });
    expect(warnings.map((w) => w.code)).toContain("parent-replaced");
  });

  describe("#26 path breakout attempts", () => {
    const outsideFiles = () => fs.readdirSync(base).sort();
    const attempts: [string, Buffer][] = [
      ["../../etc/passwd", rawTar([f("../../etc/passwd", "pwned")])],
      ["/abs/path", rawTar([f("/abs/path", "pwned")])],
      ["symlink then write through it", rawTar([l("evil", "/etc"), f("evil/passwd", "pwned")])],
      ["hardlink to ../../outside", rawTar([h("x", "../../outside")])],
    ];
    for (const [name, layer] of attempts) {
      it(`reject mode (default): ${name} -> E_LAYER_UNSAFE_PATH, nothing outside`, async () => {
        fs.writeFileSync(path.join(base, "outside"), "sentinel");
        const err = await applyAll(root, [layer]).catch((e: unknown) => e);
        expect(isCairnError(err, "E_LAYER_UNSAFE_PATH")).toBe(true);
        expect(outsideFiles()).toEqual(["outside", "rootfs"]);
        expect(fs.readFileSync(path.join(base, "outside"), "utf8")).toBe("sentinel");
      });
    }
    it("clamp mode: names are clamped to the root, writes through symlinks resolved within it", async () => {
      fs.writeFileSync(path.join(base, "outside"), "sentinel");
      await applyAll(root, [rawTar([f("../../etc/passwd", "a"), f("/abs/path", "b")])], {
        unsafePaths: "clamp",
      });
      await applyAll(root, [rawTar([l("evil", "/etc"), f("evil/shadow", "c")])], { unsafePaths: "clamp" });
      const err = await applyAll(root, [rawTar([h("x", "../../outside")])], { unsafePaths: "clamp" }).catch(
        (e: unknown) => e,
      );
      expect(isCairnError(err, "E_LAYER_INVALID")).toBe(true); // clamped to <root>/outside, which is not there
      expect(tree()).toEqual({
        abs: "dir",
        "abs/path": "file b",
        etc: "dir",
        "etc/passwd": "file a",
        "etc/shadow": "file c",
        evil: "symlink -> /etc",
      });
      expect(outsideFiles()).toEqual(["outside", "rootfs"]);
      expect(fs.readFileSync(path.join(base, "outside"), "utf8")).toBe("sentinel");
    });
  });

  it("#27 invalid whiteouts are errors and never delete the root or a parent", async () => {
    for (const bad of [".wh.", ".wh...", "etc/.wh.."]) {
      await apply(rawTar([d("etc/"), f("etc/keep", "k"), f("keep", "k")]));
      const err = await apply(rawTar([f(bad)])).catch((e: unknown) => e);
      expect(isCairnError(err, "E_LAYER_INVALID"), bad).toBe(true);
      expect(tree()).toEqual({ etc: "dir", "etc/keep": "file k", keep: "file k" });
    }
  });

  it("#28 whiteout through a symlinked parent does not delete the target", async () => {
    await apply(rawTar([d("etc/"), l("localetc", "etc"), f("etc/x", "x")]), rawTar([wh("localetc/x")]));
    expect(tree()).toEqual({ etc: "dir", "etc/x": "file x", localetc: "symlink -> etc" });
  });

  it("#29 duplicate entries in one layer: the last wins", async () => {
    await apply(rawTar([f("a", "1"), f("a", "2")]));
    expect(tree()).toEqual({ a: "file 2" });
  });

  it("#30 whiteout marker files are never materialised (incl. AUFS metadata)", async () => {
    await apply(
      rawTar([d("a/"), f("a/x")]),
      rawTar([wh("a/x"), opq("a"), f(".wh..wh.plnk/123.456"), wh("ghost"), f("a/y")]),
    );
    expect(tree()).toEqual({ a: "dir", "a/y": "file " });
  });
});

function hasGetfattr(): boolean {
  try {
    execFileSync("getfattr", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("layer application of the tar testdata", () => {
  it("applies every readable conformance archive that holds a layer-safe tree", async () => {
    const base = tempDir();
    try {
      for (const file of [
        "gnu.tar",
        "star.tar",
        "v7.tar",
        "ustar.tar",
        "pax.tar",
        "hardlink.tar",
        "writer.tar",
        "sparse-formats.tar",
        "trailing-slash.tar",
        "file-and-dir.tar",
      ]) {
        const dir = path.join(base, file);
        fs.mkdirSync(dir);
        await applyLayer(Readable.from([tarFile(file)]), dir);
      }
      const sparse = path.join(base, "sparse-formats.tar");
      for (const name of ["sparse-gnu", "sparse-posix-0.0", "sparse-posix-0.1", "sparse-posix-1.0"]) {
        const bytes = fs.readFileSync(path.join(sparse, name));
        expect(createHash("md5").update(bytes).digest("hex")).toBe("6f53234398c2449fe67c1812d993012f");
      }
      expect(fs.readlinkSync(path.join(base, "writer.tar", "link.txt"))).toBe("small.txt");
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
