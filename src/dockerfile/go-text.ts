/**
 * Text helpers that behave like the Go standard library functions BuildKit's front end uses
 * (`unicode.IsSpace`, `strings.TrimSpace`, `strings.ToLower`, `strconv.Quote`), so the parser
 * splits, trims and prints exactly as BuildKit does.
 */

/** True for the characters Go's `unicode.IsSpace` accepts. */
export function isGoSpace(ch: string): boolean {
  const c = ch.codePointAt(0) ?? -1;
  if (c <= 0xff) {
    return c === 0x20 || (c >= 0x09 && c <= 0x0d) || c === 0x85 || c === 0xa0;
  }
  return (
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000
  );
}

/** `strings.TrimLeftFunc(s, unicode.IsSpace)`. */
export function goTrimLeft(s: string): string {
  let i = 0;
  while (i < s.length && isGoSpace(s[i] as string)) i++;
  return i === 0 ? s : s.slice(i);
}

/** `strings.TrimRightFunc(s, unicode.IsSpace)`. */
export function goTrimRight(s: string): string {
  let end = s.length;
  while (end > 0 && isGoSpace(s[end - 1] as string)) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** `strings.TrimSpace`. */
export function goTrimSpace(s: string): string {
  return goTrimRight(goTrimLeft(s));
}

/** `strings.ToLower`: lower-cases code point by code point (no context-dependent mappings). */
export function goToLower(s: string): string {
  let out = "";
  for (const ch of s) {
    if (ch === "\u0130") {
      out += "i";
      continue;
    }
    const lower = ch.toLowerCase();
    out += Array.from(lower).length === 1 ? lower : ch;
  }
  return out;
}

const PRINTABLE_ABOVE_LATIN1 = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

function isGoPrint(c: number, ch: string): boolean {
  if (c <= 0xff) return (c >= 0x20 && c < 0x7f) || (c >= 0xa1 && c !== 0xad);
  if (c >= 0xd800 && c <= 0xdfff) return false;
  return PRINTABLE_ABOVE_LATIN1.test(ch);
}

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  7: "\\a",
  8: "\\b",
  12: "\\f",
  10: "\\n",
  13: "\\r",
  9: "\\t",
  11: "\\v",
};

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/**
 * Go's `strconv.Quote`: double-quoted with Go escapes; printable Unicode is kept as is.
 * A lone UTF-16 surrogate (which a Go string cannot hold) is written as U+FFFD.
 *
 * @example
 * ```ts
 * goQuote('a"b\n') // '"a\\"b\\n"'
 * ```
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) as number;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += "\\\\";
    else if (c >= 0xd800 && c <= 0xdfff) out += "\ufffd";
    else if (isGoPrint(c, ch)) out += ch;
    else if (SHORT_ESCAPES[c] !== undefined) out += SHORT_ESCAPES[c];
    else if (c < 0x20 || c === 0x7f) out += `\\x${hex(c, 2)}`;
    else if (c < 0x10000) out += `\\u${hex(c, 4)}`;
    else out += `\\U${hex(c, 8)}`;
  }
  return `${out}"`;
}

/** Byte length of `s` in UTF-8 (lone surrogates count as the 3 bytes of U+FFFD). */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** Replaces lone UTF-16 surrogates by U+FFFD, as Go's decoders do for invalid input. */
export function toWellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\ufffd");
}
