/**
 * File names in tar archives and on Linux are bytes, not text. cairn keeps them as JS strings,
 * decoding UTF-8 and mapping each byte that is not part of valid UTF-8 to a lone surrogate
 * U+DC80..U+DCFF (Python's "surrogateescape"), so every name round-trips byte-exact.
 */
import { isUtf8 } from "node:buffer";

const LONE_ESCAPE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/**
 * Decodes name bytes to a string; invalid UTF-8 bytes become U+DC80+byte.
 *
 * @example
 * ```ts
 * decodeName(Buffer.from([0x68, 0x69, 0x80])) // "hi\udc80"
 * ```
 */
export function decodeName(bytes: Uint8Array): string {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (isUtf8(buf)) return buf.toString("utf8");
  let out = "";
  let i = 0;
  while (i < buf.length) {
    const len = utf8SequenceLength(buf, i);
    if (len > 0) {
      out += buf.toString("utf8", i, i + len);
      i += len;
    } else {
      out += String.fromCharCode(0xdc00 + (buf[i] ?? 0));
      i += 1;
    }
  }
  return out;
}

// Length of a valid UTF-8 sequence starting at i, or 0 when the byte there starts none.
function utf8SequenceLength(buf: Buffer, i: number): number {
  const b0 = buf[i] ?? 0;
  if (b0 < 0x80) return 1;
  const need = b0 >= 0xf0 && b0 <= 0xf4 ? 4 : b0 >= 0xe0 ? 3 : b0 >= 0xc2 && b0 < 0xe0 ? 2 : 0;
  if (need === 0 || i + need > buf.length) return 0;
  return isUtf8(buf.subarray(i, i + need)) ? need : 0;
}

/**
 * Encodes a name back to its bytes (the inverse of {@link decodeName}).
 *
 * @example
 * ```ts
 * encodeName("hi\udc80") // <Buffer 68 69 80>
 * ```
 */
export function encodeName(name: string): Buffer {
  if (!LONE_ESCAPE.test(name)) return Buffer.from(name, "utf8");
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    const prev = i > 0 ? name.charCodeAt(i - 1) : 0;
    if (c >= 0xdc80 && c <= 0xdcff && !(prev >= 0xd800 && prev <= 0xdbff)) {
      parts.push(Buffer.from(name.slice(start, i), "utf8"), Buffer.from([c - 0xdc00]));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(name.slice(start), "utf8"));
  return Buffer.concat(parts);
}

/**
 * The form to hand to `node:fs` for a path: the string itself, or its bytes when it holds
 * escaped non-UTF-8 bytes (fs would otherwise encode them as U+FFFD).
 *
 * @example
 * ```ts
 * await fs.lstat(fsPath("/tmp/hi\udc80"))
 * ```
 */
export function fsPath(p: string): string | Buffer {
  return LONE_ESCAPE.test(p) ? encodeName(p) : p;
}

/**
 * Orders paths the way a depth-first walk with byte-sorted siblings visits them: byte order
 * of the UTF-8 encoding, with `/` ranking below every other byte (so `a/b` sorts before `a.b`).
 *
 * @example
 * ```ts
 * ["a.b", "a/b", "a"].sort(comparePaths) // ["a", "a/b", "a.b"]
 * ```
 */
export function comparePaths(a: string, b: string): number {
  if (a === b) return 0;
  const n0 = Math.min(a.length, b.length);
  for (let i = 0; i < n0; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x >= 0xd800 || y >= 0xd800) return compareEncodedPaths(a, b);
    if (x !== y) return (x === 0x2f ? -1 : x) - (y === 0x2f ? -1 : y);
  }
  return a.length - b.length;
}

// Below U+D800, UTF-16 code unit order equals UTF-8 byte order; beyond it, compare the bytes.
function compareEncodedPaths(a: string, b: string): number {
  const ab = encodeName(a);
  const bb = encodeName(b);
  const n = Math.min(ab.length, bb.length);
  for (let i = 0; i < n; i++) {
    const x = ab[i] === 0x2f ? -1 : (ab[i] ?? 0);
    const y = bb[i] === 0x2f ? -1 : (bb[i] ?? 0);
    if (x !== y) return x - y;
  }
  return ab.length - bb.length;
}

/**
 * Compares two sibling names by the bytes of their encoding.
 *
 * @example
 * ```ts
 * ["b", "a"].sort(compareNames) // ["a", "b"]
 * ```
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(encodeName(a), encodeName(b));
}
