/**
 * GNU sparse files: the maps of the old GNU format (type `S`) and of PAX formats 0.0, 0.1
 * and 1.0, validated before any data is trusted.
 */
import { SPARSE_MAP } from "./pax.js";
import { BLOCK, F, field, parseNumeric, tarError } from "./tar-header.js";

/** One stretch of real data in a sparse file; everything between stretches reads as zeros. */
export interface SparseSegment {
  offset: number;
  length: number;
}

/** How a sparse entry expands: its logical size and where its stored data goes. */
export interface SparseMap {
  realSize: number;
  segments: SparseSegment[];
}

/** A source of further header blocks (old GNU extension blocks). */
export type BlockSource = () => Promise<Uint8Array>;

const MAX_SEGMENTS = 1 << 20;

function entriesFromBlock(
  block: Uint8Array,
  start: number,
  count: number,
  offset: number,
  out: SparseSegment[],
): void {
  for (let i = 0; i < count; i++) {
    const at = start + i * 24;
    // An entry whose offset field begins with NUL ends the map.
    if (block[at] === 0) return;
    out.push({
      offset: parseNumeric(block.subarray(at, at + 12), "sparse offset", offset),
      length: parseNumeric(block.subarray(at + 12, at + 24), "sparse length", offset),
    });
  }
}

/**
 * Reads the sparse map of an old-GNU `S` entry: four slots in the header, then extension
 * blocks of 21 slots while the "is extended" flag is set.
 *
 * @example
 * ```ts
 * const map = await readOldGnuSparseMap(block, () => readBlock(), offset)
 * ```
 */
export async function readOldGnuSparseMap(
  header: Uint8Array,
  nextBlock: BlockSource,
  offset: number,
): Promise<SparseMap> {
  const segments: SparseSegment[] = [];
  entriesFromBlock(header, F.gnuSparse[0], 4, offset, segments);
  let extended = header[F.gnuIsExtended[0]] !== 0;
  let blockOffset = offset;
  while (extended) {
    const ext = await nextBlock();
    blockOffset += BLOCK;
    entriesFromBlock(ext, 0, 21, blockOffset, segments);
    extended = ext[504] !== 0;
    if (segments.length > MAX_SEGMENTS) throw tarError("too-long", "sparse map has too many entries", offset);
  }
  const realSize = parseNumeric(field(header, F.gnuRealSize), "sparse real size", offset);
  return { realSize, segments };
}

/**
 * The PAX sparse flavour named by an entry's records, if any.
 *
 * @example
 * ```ts
 * paxSparseFormat(records) // "1.0"
 * ```
 */
export function paxSparseFormat(pax: Map<string, Uint8Array>): "0.x" | "1.0" | undefined {
  const text = (key: string) => {
    const v = pax.get(key);
    return v === undefined ? undefined : Buffer.from(v).toString("latin1");
  };
  const major = text("GNU.sparse.major");
  const minor = text("GNU.sparse.minor");
  if (major !== undefined || minor !== undefined) {
    if (major === "1" && minor === "0") return "1.0";
    if (major === "0" && (minor === "0" || minor === "1")) return "0.x";
    return undefined;
  }
  return pax.has(SPARSE_MAP) ? "0.x" : undefined;
}

function decimal(text: string, what: string, offset: number): number {
  if (!/^[0-9]+$/.test(text))
    throw tarError("bad-header", `${what} ${JSON.stringify(text)} is not a number`, offset);
  const v = Number(text);
  if (!Number.isSafeInteger(v)) throw tarError("bad-header", `${what} out of range`, offset);
  return v;
}

/**
 * Parses the `GNU.sparse.map` list of PAX 0.0/0.1 (`offset,length,offset,length,…`).
 *
 * @example
 * ```ts
 * parsePaxSparseMap(new Map([["GNU.sparse.map", Buffer.from("0,5,100,5")]]), 0) // two segments
 * ```
 */
export function parsePaxSparseMap(pax: Map<string, Uint8Array>, offset: number): SparseSegment[] {
  const text = Buffer.from(pax.get(SPARSE_MAP) ?? new Uint8Array()).toString("latin1");
  const nums = text === "" ? [] : text.split(",").map((s) => decimal(s, "GNU.sparse.map value", offset));
  const blocks = pax.get("GNU.sparse.numblocks");
  if (nums.length % 2 !== 0)
    throw tarError("bad-header", "GNU.sparse.map has an odd number of values", offset);
  if (
    blocks !== undefined &&
    decimal(Buffer.from(blocks).toString("latin1"), "GNU.sparse.numblocks", offset) * 2 !== nums.length
  ) {
    throw tarError("bad-header", "GNU.sparse.numblocks does not match GNU.sparse.map", offset);
  }
  const segments: SparseSegment[] = [];
  for (let i = 0; i < nums.length; i += 2) segments.push({ offset: nums[i] ?? 0, length: nums[i + 1] ?? 0 });
  return segments;
}

/**
 * Reads the PAX 1.0 sparse map from the start of the entry's data: decimal numbers, one a
 * line (count, then offset/length pairs), padded to a block. Returns the map and the bytes
 * of data it used.
 *
 * @example
 * ```ts
 * const { segments, consumed } = await readPax1SparseMap(() => readBlock(), offset)
 * ```
 */
export async function readPax1SparseMap(
  nextBlock: BlockSource,
  offset: number,
): Promise<{ segments: SparseSegment[]; consumed: number }> {
  let text = "";
  let consumed = 0;
  const numbers: number[] = [];
  let wanted = -1;
  let cursor = 0;
  const need = async (): Promise<string> => {
    for (;;) {
      const nl = text.indexOf("\n", cursor);
      if (nl >= 0) {
        const line = text.slice(cursor, nl);
        cursor = nl + 1;
        return line;
      }
      if (consumed > 64 * 1024 * 1024) throw tarError("too-long", "PAX 1.0 sparse map too long", offset);
      const b = await nextBlock();
      consumed += BLOCK;
      text += Buffer.from(b).toString("latin1");
    }
  };
  wanted = decimal(await need(), "sparse map count", offset);
  if (wanted > MAX_SEGMENTS) throw tarError("too-long", "sparse map has too many entries", offset);
  while (numbers.length < wanted * 2) numbers.push(decimal(await need(), "sparse map value", offset));
  const segments: SparseSegment[] = [];
  for (let i = 0; i < numbers.length; i += 2)
    segments.push({ offset: numbers[i] ?? 0, length: numbers[i + 1] ?? 0 });
  return { segments, consumed };
}

/**
 * Checks that segments are in order, do not overlap, stay inside `realSize`, and that their
 * lengths add up to the data actually stored.
 *
 * @example
 * ```ts
 * validateSparseMap({ realSize: 200, segments }, storedBytes, offset, "disk.img")
 * ```
 */
export function validateSparseMap(map: SparseMap, storedSize: number, offset: number, name: string): void {
  if (map.realSize < 0) throw tarError("bad-header", "negative sparse size", offset, name);
  let end = 0;
  let total = 0;
  for (const s of map.segments) {
    if (s.offset < 0 || s.length < 0 || s.offset < end || s.offset + s.length > map.realSize) {
      throw tarError(
        "bad-header",
        `sparse segment ${s.offset}+${s.length} out of order or range`,
        offset,
        name,
      );
    }
    end = s.offset + s.length;
    total += s.length;
  }
  if (total !== storedSize) {
    throw tarError(
      "bad-header",
      `sparse map covers ${total} bytes but ${storedSize} are stored`,
      offset,
      name,
    );
  }
}
