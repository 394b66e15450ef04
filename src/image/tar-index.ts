import { type FileHandle, open } from "node:fs/promises";
import path from "node:path";
import { CairnError } from "../errors/index.js";

/** Where one regular file's bytes sit inside an uncompressed tar. */
export interface TarMember {
  name: string;
  offset: number;
  size: number;
}

/** The members of an uncompressed tar, by normalized name; symlinks resolved to their targets. */
export interface TarIndex {
  file: string;
  members: Map<string, TarMember>;
}

const BLOCK = 512;
/** More entries than any docker-archive needs; bounds the work on hostile input. */
const MAX_ENTRIES = 100_000;
const MAX_META_BYTES = 1024 * 1024;

function cstring(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul < 0 ? slice.length : nul).toString("utf8");
}

function parseNumber(buf: Buffer, start: number, len: number, where: string): number {
  const field = buf.subarray(start, start + len);
  if ((field[0] ?? 0) & 0x80) {
    // base-256: big-endian, high bit set on the first byte
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(n)) throw invalid(where, "a size too large to represent");
    return n;
  }
  const text = cstring(buf, start, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw invalid(where, `a non-octal number field ${JSON.stringify(text)}`);
  return Number.parseInt(text, 8);
}

function invalid(where: string, what: string): CairnError {
  return new CairnError("E_ARCHIVE_INVALID", `${where}: not a valid tar archive: found ${what}`);
}

function checksumOk(header: Buffer): boolean {
  const stored = cstring(header, 148, 8).trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
  return sum === Number.parseInt(stored, 8);
}

function parsePax(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let rest = text;
  while (rest.length > 0) {
    const space = rest.indexOf(" ");
    const len = Number.parseInt(rest.slice(0, space), 10);
    if (space < 0 || !Number.isFinite(len) || len <= space) break;
    const record = Buffer.from(rest, "utf8").subarray(0, len).toString("utf8");
    const kv = record.slice(space + 1, -1);
    const eq = kv.indexOf("=");
    if (eq > 0) out.set(kv.slice(0, eq), kv.slice(eq + 1));
    rest = Buffer.from(rest, "utf8").subarray(len).toString("utf8");
  }
  return out;
}

/** Normalizes a member name: no leading `./` or `/`, no trailing `/`; `..` cannot climb above the root. */
export function normalizeMemberName(name: string): string {
  const n = path.posix.normalize(`/${name}`).slice(1).replace(/\/$/, "");
  return n;
}

async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, offset);
  return buf.subarray(0, bytesRead);
}

/**
 * Indexes an uncompressed tar file by reading only its headers, so members can later be read
 * in place with `fs.createReadStream(file, { start, end })`.
 *
 * @example
 * ```ts
 * const idx = await indexTar("image.tar");
 * const m = idx.members.get("manifest.json");
 * ```
 */
export async function indexTar(file: string): Promise<TarIndex> {
  const fh = await open(file, "r");
  try {
    const { size: fileSize } = await fh.stat();
    const members = new Map<string, TarMember>();
    const links = new Map<string, string>();
    let offset = 0;
    let longName: string | undefined;
    let paxPath: string | undefined;
    let paxLink: string | undefined;
    let longLink: string | undefined;
    for (let count = 0; ; count++) {
      if (count > MAX_ENTRIES) throw invalid(file, `more than ${MAX_ENTRIES} entries`);
      const header = await readAt(fh, offset, BLOCK);
      if (header.length < BLOCK) {
        if (header.length === 0 && count > 0) break;
        throw invalid(file, `a truncated header at byte ${offset}`);
      }
      if (header.every((b) => b === 0)) break;
      if (!checksumOk(header)) throw invalid(file, `a bad header checksum at byte ${offset}`);
      const type = String.fromCharCode(header[156] ?? 0);
      const size = parseNumber(header, 124, 12, file);
      const dataStart = offset + BLOCK;
      if (dataStart + size > fileSize) throw invalid(file, `an entry running past the end at byte ${offset}`);
      const prefix = cstring(header, 345, 155);
      const rawName = cstring(header, 0, 100);
      let name = paxPath ?? longName ?? (prefix ? `${prefix}/${rawName}` : rawName);
      if (type === "L" || type === "K" || type === "x" || type === "g") {
        if (size > MAX_META_BYTES) throw invalid(file, `a ${size}-byte metadata header`);
        const data = (await readAt(fh, dataStart, size)).toString("utf8");
        if (type === "L") longName = data.replace(/\0+$/, "");
        if (type === "K") longLink = data.replace(/\0+$/, "");
        if (type === "x") {
          const pax = parsePax(data);
          paxPath = pax.get("path") ?? paxPath;
          paxLink = pax.get("linkpath") ?? paxLink;
        }
      } else {
        name = normalizeMemberName(name);
        if (type === "0" || type === "\0" || type === "7")
          members.set(name, { name, offset: dataStart, size });
        else if (type === "2" || type === "1") {
          const target = paxLink ?? longLink ?? cstring(header, 157, 100);
          const resolved = type === "1" ? target : path.posix.join(path.posix.dirname(name), target);
          links.set(name, normalizeMemberName(resolved));
        }
        longName = undefined;
        longLink = undefined;
        paxPath = undefined;
        paxLink = undefined;
      }
      offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    }
    for (const [name, target] of links) {
      let t = target;
      for (let hops = 0; hops < 16 && !members.has(t) && links.has(t); hops++) t = links.get(t) as string;
      const m = members.get(t);
      if (m) members.set(name, { ...m, name });
    }
    return { file, members };
  } finally {
    await fh.close();
  }
}
