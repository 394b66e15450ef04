/**
 * A streaming tar reader for untrusted archives: V7, USTAR, PAX (long names and links,
 * `SCHILY.xattr.*`, sub-second times, global headers surfaced but not applied), GNU (long
 * names and links, base-256 numbers, sparse files, incremental dump dirs) and star.
 * Memory is bounded by `maxHeaderBytes` plus one source chunk, whatever the archive size.
 */
import { CairnError } from "../errors/index.js";
import { ByteReader } from "./byte-reader.js";
import { decodeName } from "./names.js";
import { parsePaxInteger, parsePaxRecords, parsePaxTime } from "./pax.js";
import {
  BLOCK,
  isZeroBlock,
  parseHeaderBlock,
  type RawHeader,
  type TarFormat,
  tarError,
} from "./tar-header.js";
import {
  parsePaxSparseMap,
  paxSparseFormat,
  readOldGnuSparseMap,
  readPax1SparseMap,
  type SparseMap,
  validateSparseMap,
} from "./tar-sparse.js";

/** What an entry is. `pax-global-header` entries carry only `pax` records. */
export type TarEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "char-device"
  | "block-device"
  | "fifo"
  | "pax-global-header"
  | "gnu-volume-label"
  | "unknown";

/** One entry's metadata, after PAX records and GNU long names are applied. */
export interface TarHeader {
  /** The entry's name exactly as stored (non-UTF-8 bytes escaped, see `decodeName`). */
  name: string;
  type: TarEntryType;
  /** The raw one-character type flag (`"0"`, `"5"`, `"S"`, `"D"`, `"\0"`, …). */
  typeflag: string;
  /** The raw mode field; permission bits are `mode & 0o7777`. */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Content size in bytes (for sparse files: the expanded size). */
  size: number;
  /** Modification time in seconds since the epoch; PAX times may have a fraction. */
  mtime: number;
  atime?: number;
  ctime?: number;
  /** Symlink target or hardlink target name. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.*` records; values are raw bytes. */
  xattrs: Record<string, Uint8Array>;
  /** Every PAX record of the entry, values decoded as UTF-8. */
  pax: Record<string, string>;
  format: TarFormat;
  /** For sparse files: where the stored data goes in the expanded file. */
  sparse?: SparseMap;
}

/** A piece of an entry's content placed at a byte offset of the file. */
export interface ContentSegment {
  offset: number;
  data: Uint8Array;
}

/** An entry and its content; read the content (at most once) before asking for the next entry. */
export interface TarEntry {
  header: TarHeader;
  /** The content in order, sparse holes filled with zeros. */
  body(): AsyncIterable<Uint8Array>;
  /** The stored content as placed pieces; holes are left out (for sparse-aware writers). */
  segments(): AsyncIterable<ContentSegment>;
}

/** Limits for {@link readTar}. */
export interface ReadTarOptions {
  /** Largest PAX header or GNU long name/link accepted, in bytes (default 1 MiB). */
  maxHeaderBytes?: number;
  /** Read and discard what follows the end-of-archive marker (default true), so checksums upstream run. */
  drainTrailing?: boolean;
}

const HEADER_ONLY = new Set(["1", "2", "3", "4", "5", "6"]);
const ZEROS = Buffer.alloc(64 * 1024);

function entryType(typeflag: string, name: string): TarEntryType {
  switch (typeflag) {
    case "\0":
      return name.endsWith("/") ? "directory" : "file";
    case "0":
    case "7":
    case "S":
      return "file";
    case "1":
      return "hardlink";
    case "2":
      return "symlink";
    case "3":
      return "char-device";
    case "4":
      return "block-device";
    case "5":
    case "D":
      return "directory";
    case "6":
      return "fifo";
    case "g":
      return "pax-global-header";
    case "V":
      return "gnu-volume-label";
    default:
      return "unknown";
  }
}

function text(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

function latin1(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined
    ? undefined
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
}

/** Applies PAX records to a header (empty values leave the header field as it is). */
function mergePax(h: TarHeader, records: Map<string, Uint8Array>, offset: number): void {
  for (const [key, value] of records) {
    h.pax[key] = text(value);
    if (key.startsWith("SCHILY.xattr.")) {
      h.xattrs[key.slice("SCHILY.xattr.".length)] = Uint8Array.from(value);
      continue;
    }
    if (value.length === 0) continue;
    const v = latin1(value) ?? "";
    switch (key) {
      case "path":
        h.name = decodeName(value);
        break;
      case "linkpath":
        h.linkname = decodeName(value);
        break;
      case "uname":
        h.uname = text(value);
        break;
      case "gname":
        h.gname = text(value);
        break;
      case "uid":
        h.uid = parsePaxInteger(v, key, offset);
        break;
      case "gid":
        h.gid = parsePaxInteger(v, key, offset);
        break;
      case "size":
        h.size = parsePaxInteger(v, key, offset);
        break;
      case "mtime":
        h.mtime = parsePaxTime(v, key, offset);
        break;
      case "atime":
        h.atime = parsePaxTime(v, key, offset);
        break;
      case "ctime":
        h.ctime = parsePaxTime(v, key, offset);
        break;
    }
  }
}

function fromRaw(raw: RawHeader): TarHeader {
  const h: TarHeader = {
    name: raw.name,
    type: "unknown",
    typeflag: raw.typeflag,
    mode: raw.mode,
    uid: raw.uid,
    gid: raw.gid,
    uname: raw.uname,
    gname: raw.gname,
    size: raw.size,
    mtime: raw.mtime,
    linkname: raw.linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs: {},
    pax: {},
    format: raw.format,
  };
  if (raw.atime !== undefined) h.atime = raw.atime;
  if (raw.ctime !== undefined) h.ctime = raw.ctime;
  return h;
}

/**
 * Reads a tar stream entry by entry. Unread content is skipped when the next entry is asked
 * for. Errors are `E_LAYER_INVALID` with `details.kind` `bad-header`, `too-long`,
 * `truncated` or `unsupported`.
 *
 * @example
 * ```ts
 * for await (const entry of readTar(fs.createReadStream("layer.tar"))) {
 *   console.log(entry.header.type, entry.header.name);
 * }
 * ```
 */
export async function* readTar(
  source: AsyncIterable<Uint8Array | string>,
  options: ReadTarOptions = {},
): AsyncGenerator<TarEntry, void, undefined> {
  const maxHeader = options.maxHeaderBytes ?? 1024 * 1024;
  const r = new ByteReader(source);
  let finished = false;
  try {
    let pax: Map<string, Uint8Array> | undefined;
    let longName: string | undefined;
    let longLink: string | undefined;

    const readBlock = async (what: string): Promise<Buffer> => {
      const { bytes, complete } = await r.readExact(BLOCK);
      if (!complete) throw tarError("truncated", `archive ends inside ${what}`, r.position);
      return bytes;
    };
    // Skips the padding after `size` bytes of data; false when the input ends inside it.
    const skipPadding = async (size: number): Promise<boolean> => {
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      return (await r.skip(pad)) === pad;
    };
    const readSpecial = async (size: number, what: string, offset: number): Promise<Buffer> => {
      if (size > maxHeader) {
        throw tarError("too-long", `${what} of ${size} bytes exceeds the ${maxHeader}-byte limit`, offset);
      }
      const { bytes, complete } = await r.readExact(size);
      if (!complete) throw tarError("truncated", `archive ends inside a ${what}`, r.position);
      return Buffer.from(bytes);
    };

    for (;;) {
      const offset = r.position;
      const first = await r.readExact(BLOCK);
      if (first.bytes.length === 0) return;
      if (!first.complete) throw tarError("truncated", "archive ends inside a header block", r.position);
      let block = first.bytes;
      if (isZeroBlock(block)) {
        const second = await r.readExact(BLOCK);
        if (second.bytes.length === 0) return;
        if (!second.complete)
          throw tarError("truncated", "archive ends inside the end-of-archive marker", r.position);
        if (isZeroBlock(second.bytes)) {
          finished = true;
          return;
        }
        throw tarError("bad-header", "a zero block followed by a non-zero block", offset + BLOCK);
      }
      block = Buffer.from(block);
      const raw = parseHeaderBlock(block, offset);
      if (raw.size < 0) throw tarError("bad-header", `negative size ${raw.size}`, offset, raw.name);

      if (raw.typeflag === "x" || raw.typeflag === "L" || raw.typeflag === "K") {
        const what =
          raw.typeflag === "x" ? "PAX header" : raw.typeflag === "L" ? "GNU long name" : "GNU long link";
        const data = await readSpecial(raw.size, what, offset);
        if (raw.typeflag === "x") {
          // Several PAX headers in a row: the last one alone applies (as Go and GNU tar read it).
          pax = parsePaxRecords(data, offset);
        } else {
          const nul = data.indexOf(0);
          const name = decodeName(nul < 0 ? data : data.subarray(0, nul));
          if (raw.typeflag === "L") longName = name;
          else longLink = name;
        }
        if (!(await skipPadding(raw.size))) return;
        continue;
      }

      const h = fromRaw(raw);
      if (raw.typeflag === "g") {
        const data = await readSpecial(raw.size, "PAX global header", offset);
        mergePax(h, parsePaxRecords(data, offset), offset);
        h.type = "pax-global-header";
        h.format = "pax";
        h.size = 0;
        pax = undefined;
        yield emptyEntry(h);
        if (!(await skipPadding(raw.size))) return;
        continue;
      }

      let storedSize = raw.size;
      if (pax) {
        mergePax(h, pax, offset);
        storedSize = h.size;
        h.format = "pax";
      }
      if (longName !== undefined) h.name = longName;
      if (longLink !== undefined) h.linkname = longLink;
      const records = pax;
      pax = undefined;
      longName = undefined;
      longLink = undefined;
      h.type = entryType(h.typeflag, h.name);
      if (h.typeflag === "\0" && h.type === "directory") h.typeflag = "5";

      let dataLeft = HEADER_ONLY.has(h.typeflag) ? 0 : storedSize;
      const dataSize = dataLeft;
      if (h.typeflag === "S") {
        h.sparse = await readOldGnuSparseMap(block, () => readBlock("a GNU sparse extension block"), offset);
      } else if (records && h.type === "file") {
        const flavour = paxSparseFormat(records);
        if (flavour) {
          const realSize = latin1(records.get(flavour === "1.0" ? "GNU.sparse.realsize" : "GNU.sparse.size"));
          const sparseName = records.get("GNU.sparse.name");
          if (sparseName && sparseName.length > 0) h.name = decodeName(sparseName);
          let segments: SparseMap["segments"];
          if (flavour === "1.0") {
            const m = await readPax1SparseMap(() => readBlock("a PAX sparse map"), offset);
            if (m.consumed > dataLeft)
              throw tarError("bad-header", "PAX sparse map longer than the entry", offset, h.name);
            dataLeft -= m.consumed;
            segments = m.segments;
          } else {
            segments = parsePaxSparseMap(records, offset);
          }
          h.sparse = { realSize: parsePaxInteger(realSize ?? "", "sparse real size", offset), segments };
        }
      }
      if (h.sparse) {
        validateSparseMap(h.sparse, dataLeft, offset, h.name);
        h.size = h.sparse.realSize;
      }

      const state = { dataLeft, done: false, used: false };
      const take = async function* (): AsyncGenerator<Buffer> {
        if (state.used)
          throw new CairnError("E_USAGE", `content of tar entry ${JSON.stringify(h.name)} was already read`);
        state.used = true;
        while (state.dataLeft > 0) {
          if (state.done) {
            throw new CairnError(
              "E_USAGE",
              `tar entry ${JSON.stringify(h.name)} read after moving to the next entry`,
            );
          }
          const b = await r.readSome(state.dataLeft);
          if (b === null) throw tarError("truncated", "archive ends inside entry data", r.position, h.name);
          state.dataLeft -= b.length;
          yield b;
        }
      };
      yield makeEntry(h, take);
      state.done = true;
      if (state.dataLeft > 0) {
        const want = state.dataLeft;
        if ((await r.skip(want)) < want) {
          throw tarError("truncated", "archive ends inside entry data", r.position, h.name);
        }
        state.dataLeft = 0;
      }
      if (!(await skipPadding(dataSize))) return;
    }
  } finally {
    if (finished && options.drainTrailing !== false) await r.drain();
    else await r.close();
  }
}

function emptyEntry(h: TarHeader): TarEntry {
  return makeEntry(h, async function* () {});
}

function makeEntry(h: TarHeader, take: () => AsyncGenerator<Buffer>): TarEntry {
  const segments = async function* (): AsyncGenerator<ContentSegment> {
    if (!h.sparse) {
      let offset = 0;
      for await (const data of take()) {
        yield { offset, data };
        offset += data.length;
      }
      return;
    }
    // Stored data runs on across segments: cut chunks at segment ends.
    const it = take();
    let carry: Buffer = Buffer.alloc(0);
    for (const seg of h.sparse.segments) {
      let placed = 0;
      while (placed < seg.length) {
        if (carry.length === 0) {
          const n = await it.next();
          if (n.done) return;
          carry = n.value;
          continue;
        }
        const part = carry.subarray(0, seg.length - placed);
        yield { offset: seg.offset + placed, data: part };
        placed += part.length;
        carry = carry.subarray(part.length);
      }
    }
  };
  return {
    header: h,
    body: () => (h.sparse ? expand(h.sparse, segments()) : take()),
    segments,
  };
}

async function* expand(map: SparseMap, pieces: AsyncIterable<ContentSegment>): AsyncGenerator<Uint8Array> {
  let pos = 0;
  for await (const { offset, data } of pieces) {
    yield* zeros(offset - pos);
    yield data;
    pos = offset + data.length;
  }
  yield* zeros(map.realSize - pos);
}

function* zeros(n: number): Generator<Uint8Array> {
  let left = n;
  while (left > 0) {
    const k = Math.min(left, ZEROS.length);
    yield ZEROS.subarray(0, k);
    left -= k;
  }
}
