/**
 * The 512-byte tar header block: field offsets, numeric and string codecs, checksum, and the
 * flavour (V7, USTAR, GNU, star) a block is written in. Shared by the reader and the writer.
 */
import { CairnError } from "../errors/index.js";
import { decodeName, encodeName } from "./names.js";

export const BLOCK = 512;

/** The header flavours a reader can meet. PAX is USTAR plus extended-header records. */
export type TarFormat = "v7" | "ustar" | "pax" | "gnu" | "star";

/** Why a tar stream could not be read; `details.kind` of the `E_LAYER_INVALID` error. */
export type TarErrorKind = "bad-header" | "too-long" | "truncated" | "unsupported";

/**
 * Builds the error the tar reader and writer throw: `E_LAYER_INVALID` with `details.kind`.
 *
 * @example
 * ```ts
 * throw tarError("truncated", "archive ends inside the data of \"a\"", 1024)
 * ```
 */
export function tarError(kind: TarErrorKind, message: string, offset?: number, entry?: string): CairnError {
  const where = [
    entry === undefined ? "" : `entry ${JSON.stringify(entry)}`,
    offset === undefined ? "" : `offset ${offset}`,
  ]
    .filter(Boolean)
    .join(", ");
  return new CairnError("E_LAYER_INVALID", `invalid tar (${kind}): ${message}${where ? ` (${where})` : ""}`, {
    details: { kind, offset, entry },
  });
}

// Field offsets and lengths of the V7 / USTAR / GNU / star header layouts.
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
  gnuAtime: [345, 12],
  gnuCtime: [357, 12],
  gnuSparse: [386, 96],
  gnuIsExtended: [482, 1],
  gnuRealSize: [483, 12],
  starPrefix: [345, 131],
  starAtime: [476, 12],
  starCtime: [488, 12],
  starTrailer: [508, 4],
} as const satisfies Record<string, readonly [number, number]>;

type Field = readonly [number, number];

/**
 * A slice of a block for one field.
 *
 * @example
 * ```ts
 * field(block, F.size) // the 12 bytes of the size field
 * ```
 */
export function field(block: Uint8Array, f: Field): Uint8Array {
  return block.subarray(f[0], f[0] + f[1]);
}

/**
 * Bytes of a NUL-terminated field, up to the first NUL.
 *
 * @example
 * ```ts
 * fieldBytes(block, F.name) // name bytes before the NUL
 * ```
 */
export function fieldBytes(block: Uint8Array, f: Field): Uint8Array {
  const b = field(block, f);
  const nul = b.indexOf(0);
  return nul < 0 ? b : b.subarray(0, nul);
}

/**
 * A NUL-terminated string field, decoded byte-exact (see {@link decodeName}).
 *
 * @example
 * ```ts
 * parseString(block, F.uname) // "root"
 * ```
 */
export function parseString(block: Uint8Array, f: Field): string {
  return decodeName(fieldBytes(block, f));
}

/**
 * Parses a numeric field: octal text (padded with spaces or NULs), or GNU base-256 when the
 * high bit of the first byte is set. Throws `bad-header` on anything else or beyond 2^53.
 *
 * @example
 * ```ts
 * parseNumeric(field(block, F.size), "size") // 684
 * ```
 */
export function parseNumeric(b: Uint8Array, what: string, offset?: number): number {
  const first = b[0] ?? 0;
  if (first & 0x80) {
    const negative = (first & 0x40) !== 0;
    const inv = negative ? 0xff : 0;
    let x = 0n;
    for (let i = 0; i < b.length; i++) {
      let c = (b[i] ?? 0) ^ inv;
      if (i === 0) c &= 0x7f;
      x = (x << 8n) | BigInt(c);
    }
    const v = negative ? -x - 1n : x;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw tarError("bad-header", `${what} field out of range`, offset);
    }
    return Number(v);
  }
  return parseOctal(b, what, offset);
}

function parseOctal(b: Uint8Array, what: string, offset?: number): number {
  let start = 0;
  let end = b.length;
  while (start < end && (b[start] === 0x20 || b[start] === 0)) start++;
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  const nul = b.subarray(start, end).indexOf(0);
  if (nul >= 0) end = start + nul;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = b[i] ?? 0;
    if (c < 0x30 || c > 0x37) {
      throw tarError(
        "bad-header",
        `${what} field is not octal: ${JSON.stringify(Buffer.from(b).toString("latin1"))}`,
        offset,
      );
    }
    v = v * 8 + (c - 0x30);
  }
  if (v > Number.MAX_SAFE_INTEGER) throw tarError("bad-header", `${what} field out of range`, offset);
  return v;
}

/**
 * True when every byte of the block is zero (an end-of-archive marker).
 *
 * @example
 * ```ts
 * isZeroBlock(Buffer.alloc(512)) // true
 * ```
 */
export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/**
 * The header checksum, both as unsigned and as signed byte sums (old writers used signed).
 *
 * @example
 * ```ts
 * checksums(block).unsigned // what the chksum field must say
 * ```
 */
export function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += c;
    signed += c < 0x80 ? c : c - 256;
  }
  return { unsigned, signed };
}

function equalsAscii(b: Uint8Array, s: string): boolean {
  if (b.length !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (b[i] !== s.charCodeAt(i)) return false;
  return true;
}

/**
 * Verifies the checksum of a header block and tells its flavour.
 * Throws `bad-header` when the checksum does not match.
 *
 * @example
 * ```ts
 * headerFormat(block, 0) // "gnu"
 * ```
 */
export function headerFormat(block: Uint8Array, offset: number): Exclude<TarFormat, "pax"> {
  const stored = parseNumeric(field(block, F.chksum), "checksum", offset);
  const { unsigned, signed } = checksums(block);
  if (stored !== unsigned && stored !== signed) {
    throw tarError(
      "bad-header",
      `checksum mismatch: header says ${stored}, block sums to ${unsigned}`,
      offset,
    );
  }
  const magic = field(block, F.magic);
  if (equalsAscii(magic, "ustar\0")) {
    return equalsAscii(field(block, F.starTrailer), "tar\0") ? "star" : "ustar";
  }
  if (equalsAscii(magic, "ustar ") && equalsAscii(field(block, F.version), " \0")) return "gnu";
  return "v7";
}

/** The fields every tar header block stores, as numbers and decoded strings. */
export interface HeaderCore {
  name: string;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
}

/** The fields of a header block before PAX records and GNU long names are applied. */
export interface RawHeader extends HeaderCore {
  uname: string;
  gname: string;
  atime?: number;
  ctime?: number;
  format: Exclude<TarFormat, "pax">;
}

function isPrintableAscii(b: Uint8Array): boolean {
  for (const c of b) if (c >= 0x80) return false;
  return true;
}

/**
 * Parses one header block (checksum already known to be valid or not: this checks it).
 *
 * @example
 * ```ts
 * const h = parseHeaderBlock(block, 0); h.name; h.typeflag
 * ```
 */
export function parseHeaderBlock(block: Uint8Array, offset: number): RawHeader {
  const format = headerFormat(block, offset);
  const num = (f: Field, what: string) => parseNumeric(field(block, f), what, offset);
  const h: RawHeader = {
    name: parseString(block, F.name),
    typeflag: String.fromCharCode(block[F.typeflag[0]] ?? 0),
    mode: num(F.mode, "mode"),
    uid: num(F.uid, "uid"),
    gid: num(F.gid, "gid"),
    size: num(F.size, "size"),
    mtime: num(F.mtime, "mtime"),
    linkname: parseString(block, F.linkname),
    uname: "",
    gname: "",
    devmajor: 0,
    devminor: 0,
    format,
  };
  if (format === "v7") return h;
  h.uname = parseString(block, F.uname);
  h.gname = parseString(block, F.gname);
  h.devmajor = num(F.devmajor, "devmajor");
  h.devminor = num(F.devminor, "devminor");
  let prefix = "";
  if (format === "ustar") {
    prefix = parseString(block, F.prefix);
  } else if (format === "star") {
    prefix = parseString(block, F.starPrefix);
    h.atime = num(F.starAtime, "atime");
    h.ctime = num(F.starCtime, "ctime");
  } else {
    // GNU has no prefix; it keeps atime/ctime there. Go before 1.8 wrote a USTAR prefix into
    // a GNU header by mistake: when the times do not parse and the bytes look like a name, use them.
    try {
      if (field(block, F.gnuAtime)[0] !== 0) h.atime = num(F.gnuAtime, "atime");
      if (field(block, F.gnuCtime)[0] !== 0) h.ctime = num(F.gnuCtime, "ctime");
    } catch {
      h.atime = undefined;
      h.ctime = undefined;
      const p = fieldBytes(block, F.prefix);
      if (isPrintableAscii(p)) prefix = decodeName(p);
    }
  }
  if (prefix) h.name = `${prefix}/${h.name}`;
  return h;
}

// ---- encoding --------------------------------------------------------------------------

/**
 * Writes `value` as zero-padded octal followed by NUL; false when it does not fit.
 *
 * @example
 * ```ts
 * writeOctal(block, F.mode, 0o644) // "0000644\0"
 * ```
 */
export function writeOctal(block: Uint8Array, f: Field, value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0) return false;
  const digits = value.toString(8);
  if (digits.length > f[1] - 1) return false;
  const text = digits.padStart(f[1] - 1, "0");
  for (let i = 0; i < text.length; i++) block[f[0] + i] = text.charCodeAt(i);
  block[f[0] + f[1] - 1] = 0;
  return true;
}

/**
 * Writes bytes into a field; false when they do not fit.
 *
 * @example
 * ```ts
 * writeBytes(block, F.name, Buffer.from("etc/passwd"))
 * ```
 */
export function writeBytes(block: Uint8Array, f: Field, bytes: Uint8Array): boolean {
  if (bytes.length > f[1]) return false;
  block.set(bytes, f[0]);
  return true;
}

/**
 * Writes the checksum field of a filled-in block (six octal digits, NUL, space).
 *
 * @example
 * ```ts
 * writeChecksum(block) // last step of building a header
 * ```
 */
export function writeChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  const { unsigned } = checksums(block);
  const text = unsigned.toString(8).padStart(6, "0");
  for (let i = 0; i < 6; i++) block[148 + i] = text.charCodeAt(i);
  block[154] = 0;
  block[155] = 0x20;
}

/**
 * Splits a name into USTAR `prefix` and `name` fields at a `/`, or returns undefined when it
 * cannot be stored in them (then a PAX `path` record carries it).
 *
 * @example
 * ```ts
 * splitUstarName(`${"d/".repeat(60)}file`) // { prefix: "d/d/…d", name: "d/…/file" }
 * ```
 */
export function splitUstarName(name: string): { prefix: Uint8Array; name: Uint8Array } | undefined {
  const bytes = encodeName(name);
  if (bytes.length <= 100) return { prefix: new Uint8Array(0), name: bytes };
  // The prefix may hold at most 155 bytes and the name at most 100; split at the last fitting '/'.
  const maxPrefix = Math.min(155, bytes.length - 2);
  for (let i = maxPrefix; i >= 1; i--) {
    if (bytes[i] === 0x2f && bytes.length - i - 1 <= 100 && bytes.length - i - 1 > 0) {
      return { prefix: bytes.subarray(0, i), name: bytes.subarray(i + 1) };
    }
  }
  return undefined;
}
