/**
 * PAX extended-header records (`"%d %s=%s\n"`): strict parsing of untrusted records and
 * deterministic encoding (keys sorted).
 */
import { tarError } from "./tar-header.js";

/** One record, its value kept as bytes (xattr values may be binary). */
export interface PaxRecord {
  key: string;
  value: Uint8Array;
}

const SPARSE_OFFSET = "GNU.sparse.offset";
const SPARSE_NUMBYTES = "GNU.sparse.numbytes";
/** The key GNU sparse 0.0 offset/numbytes pairs are folded into (as in format 0.1). */
export const SPARSE_MAP = "GNU.sparse.map";

// Keys whose values name things: a NUL in them is an attack or corruption (BSD tar and Go agree).
const NAME_KEYS = new Set(["path", "linkpath", "uname", "gname"]);

/**
 * Parses the data of a PAX header. Repeated GNU sparse 0.0 `offset`/`numbytes` pairs are
 * folded into one `GNU.sparse.map` record. Throws `bad-header` on any malformed record.
 *
 * @example
 * ```ts
 * parsePaxRecords(Buffer.from("11 path=a\n"), 512) // Map { "path" => <61> }
 * ```
 */
export function parsePaxRecords(data: Uint8Array, offset: number): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const sparse: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    const rest = data.subarray(pos);
    const sp = rest.indexOf(0x20);
    if (sp <= 0) throw tarError("bad-header", "PAX record without a length", offset);
    const lenText = Buffer.from(rest.subarray(0, sp)).toString("latin1");
    if (!/^[0-9]+$/.test(lenText))
      throw tarError("bad-header", `PAX record length ${JSON.stringify(lenText)}`, offset);
    const n = Number(lenText);
    if (n < 5 || n > rest.length) {
      throw tarError(
        "bad-header",
        `PAX record length ${n} does not fit the ${rest.length} bytes left`,
        offset,
      );
    }
    if (rest[n - 1] !== 0x0a) throw tarError("bad-header", "PAX record does not end in a newline", offset);
    const rec = rest.subarray(sp + 1, n - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw tarError("bad-header", "PAX record without key=value", offset);
    const keyBytes = rec.subarray(0, eq);
    const value = rec.subarray(eq + 1);
    const key = Buffer.from(keyBytes).toString("utf8");
    if (keyBytes.includes(0))
      throw tarError("bad-header", `PAX record key contains NUL: ${JSON.stringify(key)}`, offset);
    if (NAME_KEYS.has(key) && value.includes(0)) {
      throw tarError("bad-header", `PAX ${key} value contains NUL`, offset);
    }
    if (key === SPARSE_OFFSET || key === SPARSE_NUMBYTES) {
      const expected = sparse.length % 2 === 0 ? SPARSE_OFFSET : SPARSE_NUMBYTES;
      const text = Buffer.from(value).toString("latin1");
      if (key !== expected || text.includes(",")) {
        throw tarError("bad-header", `GNU sparse 0.0 record ${key} out of order`, offset);
      }
      sparse.push(text);
    } else {
      out.set(key, value);
    }
    pos += n;
  }
  if (sparse.length > 0) out.set(SPARSE_MAP, Buffer.from(sparse.join(","), "latin1"));
  return out;
}

/**
 * Encodes records, sorted by key, into the data of a PAX header.
 *
 * @example
 * ```ts
 * encodePaxRecords([{ key: "path", value: Buffer.from("a".repeat(200)) }])
 * ```
 */
export function encodePaxRecords(records: PaxRecord[]): Buffer {
  const sorted = [...records].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const parts: Buffer[] = [];
  for (const { key, value } of sorted) {
    const body = Buffer.concat([Buffer.from(` ${key}=`, "utf8"), value, Buffer.from("\n")]);
    // The length counts its own digits: grow until stable.
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    parts.push(Buffer.from(String(len), "latin1"), body);
  }
  return Buffer.concat(parts);
}

/**
 * Parses a PAX time (`seconds[.fraction]`), as `mtime`, `atime` and `ctime` records hold it.
 * Throws `bad-header` when malformed.
 *
 * @example
 * ```ts
 * parsePaxTime("1350244992.023960108", "mtime", 0) // 1350244992.02396
 * ```
 */
export function parsePaxTime(text: string, what: string, offset: number): number {
  if (!/^-?[0-9]+(\.[0-9]*)?$/.test(text)) {
    throw tarError("bad-header", `PAX ${what} ${JSON.stringify(text)} is not a decimal time`, offset);
  }
  const v = Number(text);
  if (!Number.isFinite(v)) throw tarError("bad-header", `PAX ${what} out of range`, offset);
  return v;
}

/**
 * Parses a PAX decimal integer record (`size`, `uid`, `gid`); throws `bad-header` otherwise.
 *
 * @example
 * ```ts
 * parsePaxInteger("000000000000000000000999", "size", 0) // 999
 * ```
 */
export function parsePaxInteger(text: string, what: string, offset: number): number {
  if (!/^[0-9]+$/.test(text))
    throw tarError("bad-header", `PAX ${what} ${JSON.stringify(text)} is not a number`, offset);
  const v = Number(text);
  if (!Number.isSafeInteger(v)) throw tarError("bad-header", `PAX ${what} out of range`, offset);
  return v;
}
