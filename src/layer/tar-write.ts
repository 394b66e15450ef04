/**
 * A deterministic tar writer: USTAR headers, PAX records only where USTAR cannot hold a value
 * (long or non-ASCII names, big ids/sizes, xattrs), empty uname/gname, no atime/ctime,
 * whole-second mtimes optionally clamped to SOURCE_DATE_EPOCH. Same entries, same bytes.
 */
import { CairnError } from "../errors/index.js";
import { cleanEntryPath, type LayerEntry } from "./entry.js";
import { encodeName } from "./names.js";
import { encodePaxRecords, type PaxRecord } from "./pax.js";
import {
  BLOCK,
  F,
  type HeaderCore,
  splitUstarName,
  writeBytes,
  writeChecksum,
  writeOctal,
} from "./tar-header.js";

/** Options for {@link packTar}. */
export interface PackTarOptions {
  /** Clamp every mtime to at most this (seconds or Date), as `SOURCE_DATE_EPOCH` asks. */
  sourceDateEpoch?: number | Date;
}

const TYPEFLAG: Record<LayerEntry["type"], string> = {
  file: "0",
  hardlink: "1",
  symlink: "2",
  "char-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
};

const DEFAULT_MODE: Record<LayerEntry["type"], number> = {
  file: 0o644,
  hardlink: 0o644,
  symlink: 0o777,
  "char-device": 0o644,
  "block-device": 0o644,
  directory: 0o755,
  fifo: 0o644,
};

const BATCH = 64 * 1024;
const END = Buffer.alloc(2 * BLOCK);
const PAD = Buffer.alloc(BLOCK);

/**
 * Seconds for a time given as seconds or a Date, floored to whole seconds.
 *
 * @example
 * ```ts
 * toSeconds(new Date(1500)) // 1
 * ```
 */
export function toSeconds(t: number | Date | undefined): number | undefined {
  if (t === undefined) return undefined;
  const s = t instanceof Date ? t.getTime() / 1000 : t;
  if (!Number.isFinite(s))
    throw new CairnError("E_LAYER_INVALID", `invalid time ${String(t)}: expected a finite number of seconds`);
  return Math.floor(s);
}

function isAscii(b: Uint8Array): boolean {
  for (const c of b) if (c >= 0x80) return false;
  return true;
}

function asciiOnly(s: string, max: number): Buffer {
  const b = Buffer.from(s.replace(/[^\x20-\x7e]/g, ""), "latin1");
  return b.subarray(0, max);
}

function bytesOf(v: Uint8Array | string): Buffer {
  return typeof v === "string" ? Buffer.from(v, "utf8") : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** The fields of one header, already normalized. */
export interface HeaderFields extends HeaderCore {
  xattrs?: Record<string, Uint8Array | string>;
}

function ustarBlock(
  f: HeaderFields,
  name: { prefix: Uint8Array; name: Uint8Array },
  linkname: Uint8Array,
): Buffer {
  const b = Buffer.alloc(BLOCK);
  writeBytes(b, F.name, name.name);
  writeOctal(b, F.mode, f.mode);
  writeOctal(b, F.uid, f.uid);
  writeOctal(b, F.gid, f.gid);
  writeOctal(b, F.size, f.size);
  writeOctal(b, F.mtime, f.mtime);
  b[F.typeflag[0]] = f.typeflag.charCodeAt(0);
  writeBytes(b, F.linkname, linkname);
  b.write("ustar\x0000", F.magic[0], "latin1");
  writeOctal(b, F.devmajor, f.devmajor);
  writeOctal(b, F.devminor, f.devminor);
  writeBytes(b, F.prefix, name.prefix);
  writeChecksum(b);
  return b;
}

/**
 * Encodes the header block(s) of one entry: a PAX header first when needed.
 *
 * @example
 * ```ts
 * encodeHeader({ name: "a", typeflag: "0", mode: 0o644, uid: 0, gid: 0, size: 3, mtime: 0, linkname: "", devmajor: 0, devminor: 0 })
 * ```
 */
export function encodeHeader(f: HeaderFields): Buffer[] {
  const records: PaxRecord[] = [];
  const nameBytes = encodeName(f.name);
  let split = isAscii(nameBytes) ? splitUstarName(f.name) : undefined;
  if (!split) {
    records.push({ key: "path", value: nameBytes });
    split = { prefix: new Uint8Array(0), name: asciiOnly(f.name, 100) };
  }
  let linkBytes: Uint8Array = encodeName(f.linkname);
  if (linkBytes.length > 100 || !isAscii(linkBytes)) {
    records.push({ key: "linkpath", value: linkBytes });
    linkBytes = asciiOnly(f.linkname, 100);
  }
  const fields = { ...f };
  const big = (key: "uid" | "gid" | "size" | "mtime", max: number) => {
    if (f[key] < 0 || f[key] > max) {
      records.push({ key, value: Buffer.from(String(f[key]), "latin1") });
      fields[key] = 0;
    }
  };
  big("uid", 0o7777777);
  big("gid", 0o7777777);
  big("size", 0o77777777777);
  big("mtime", 0o77777777777);
  for (const key of ["devmajor", "devminor"] as const) {
    if (f[key] < 0 || f[key] > 0o7777777) {
      throw new CairnError(
        "E_LAYER_INVALID",
        `${key} ${f[key]} of ${JSON.stringify(f.name)} does not fit a tar header`,
        {
          path: f.name,
        },
      );
    }
  }
  for (const [k, v] of Object.entries(f.xattrs ?? {})) {
    if (k === "" || k.includes("=") || k.includes("\0")) {
      throw new CairnError(
        "E_LAYER_INVALID",
        `xattr name ${JSON.stringify(k)} of ${JSON.stringify(f.name)} cannot be stored`,
        {
          path: f.name,
        },
      );
    }
    records.push({ key: `SCHILY.xattr.${k}`, value: bytesOf(v) });
  }
  const main = ustarBlock(fields, split, linkBytes);
  if (records.length === 0) return [main];
  const data = encodePaxRecords(records);
  const base = f.name.replace(/\/+$/, "");
  const slash = base.lastIndexOf("/");
  const paxName = `${slash < 0 ? "" : base.slice(0, slash + 1)}PaxHeaders.0/${base.slice(slash + 1)}`;
  const paxHeader = ustarBlock(
    {
      name: "",
      typeflag: "x",
      mode: 0,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: 0,
      linkname: "",
      devmajor: 0,
      devminor: 0,
    },
    { prefix: new Uint8Array(0), name: asciiOnly(paxName, 100) },
    new Uint8Array(0),
  );
  const pad = (BLOCK - (data.length % BLOCK)) % BLOCK;
  return [paxHeader, data, PAD.subarray(0, pad), main];
}

async function* contentOf(entry: LayerEntry): AsyncGenerator<Uint8Array> {
  const c = entry.content;
  if (c === undefined) return;
  if (typeof c === "string" || c instanceof Uint8Array) {
    yield bytesOf(c);
    return;
  }
  yield* await c();
}

function knownSize(entry: LayerEntry): number {
  const c = entry.content;
  if (typeof c === "string") return Buffer.byteLength(c, "utf8");
  if (c instanceof Uint8Array) return c.length;
  if (c === undefined) return 0;
  if (entry.size === undefined || !Number.isSafeInteger(entry.size) || entry.size < 0) {
    throw new CairnError(
      "E_LAYER_INVALID",
      `layer entry ${JSON.stringify(entry.path)} has streamed content but no valid size`,
      {
        path: entry.path,
      },
    );
  }
  return entry.size;
}

/**
 * Normalizes one entry into header fields (mode bits, times, names).
 *
 * @example
 * ```ts
 * headerFieldsOf({ path: "etc", type: "directory", mtime: 2e9 }, 1.7e9) // name "etc/", mtime 1.7e9
 * ```
 */
export function headerFieldsOf(entry: LayerEntry, epoch: number | undefined): HeaderFields {
  const path = cleanEntryPath(entry.path);
  if (path === "" && entry.type !== "directory") {
    throw new CairnError(
      "E_LAYER_INVALID",
      `layer entry ${JSON.stringify(entry.path)} names the root but is a ${entry.type}`,
    );
  }
  const typeflag = TYPEFLAG[entry.type];
  if (typeflag === undefined) {
    throw new CairnError(
      "E_LAYER_INVALID",
      `layer entry ${JSON.stringify(entry.path)} has unknown type ${JSON.stringify(entry.type)}`,
      {
        path: entry.path,
      },
    );
  }
  let mtime = toSeconds(entry.mtime) ?? epoch ?? 0;
  if (epoch !== undefined && mtime > epoch) mtime = epoch;
  let linkname = entry.linkname ?? "";
  if (entry.type === "hardlink") linkname = cleanEntryPath(linkname);
  if ((entry.type === "symlink" || entry.type === "hardlink") && linkname === "") {
    throw new CairnError(
      "E_LAYER_INVALID",
      `${entry.type} entry ${JSON.stringify(entry.path)} has no link target`,
      { path: entry.path },
    );
  }
  const isDevice = entry.type === "char-device" || entry.type === "block-device";
  return {
    name: entry.type === "directory" ? (path === "" ? "./" : `${path}/`) : path,
    typeflag,
    mode: (entry.mode ?? DEFAULT_MODE[entry.type]) & 0o7777,
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size: entry.type === "file" ? knownSize(entry) : 0,
    mtime,
    linkname: entry.type === "symlink" || entry.type === "hardlink" ? linkname : "",
    devmajor: isDevice ? (entry.devmajor ?? 0) : 0,
    devminor: isDevice ? (entry.devminor ?? 0) : 0,
    ...(entry.xattrs ? { xattrs: entry.xattrs } : {}),
  };
}

/**
 * Writes entries, in the order given, as a tar stream (two zero blocks at the end). File
 * content is read lazily, one entry at a time; small pieces are batched into 64 KiB chunks.
 *
 * @example
 * ```ts
 * const tar = Readable.from(packTar([{ path: "hello.txt", type: "file", content: "hi\n" }]));
 * ```
 * @throws CairnError `E_LAYER_INVALID` when a streamed file yields a different size than declared
 */
export async function* packTar(
  entries: AsyncIterable<LayerEntry> | Iterable<LayerEntry>,
  options: PackTarOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const epoch = toSeconds(options.sourceDateEpoch);
  let batch: Buffer[] = [];
  let batched = 0;
  const flush = (): Buffer | undefined => {
    if (batched === 0) return undefined;
    const out = batch.length === 1 ? (batch[0] as Buffer) : Buffer.concat(batch, batched);
    batch = [];
    batched = 0;
    return out;
  };
  const add = (b: Buffer): Buffer | undefined => {
    if (b.length === 0) return undefined;
    batch.push(b);
    batched += b.length;
    return batched >= BATCH ? flush() : undefined;
  };
  for await (const entry of entries) {
    const f = headerFieldsOf(entry, epoch);
    for (const part of encodeHeader(f)) {
      const out = add(part);
      if (out) yield out;
    }
    if (entry.type !== "file") continue;
    let written = 0;
    for await (const chunk of contentOf(entry)) {
      written += chunk.length;
      if (written > f.size) break;
      const b = bytesOf(chunk);
      if (b.length >= BATCH) {
        const out = flush();
        if (out) yield out;
        yield b;
      } else {
        const out = add(b);
        if (out) yield out;
      }
    }
    if (written !== f.size) {
      throw new CairnError(
        "E_LAYER_INVALID",
        `content of ${JSON.stringify(entry.path)} has ${written > f.size ? "more than " : ""}${written} bytes, expected ${f.size} (did the file change while it was read?)`,
        { path: entry.path },
      );
    }
    const pad = (BLOCK - (f.size % BLOCK)) % BLOCK;
    const out = add(PAD.subarray(0, pad));
    if (out) yield out;
  }
  const last = add(END);
  if (last) yield last;
  const rest = flush();
  if (rest) yield rest;
}
