/**
 * Decoding untrusted JSON documents: size limit first, strict UTF-8, and a precise position
 * (offset, line, column) when the JSON is malformed.
 */
import { CairnError } from "../errors/index.js";
import { Problem } from "./check.js";
import { MAX_MANIFEST_BYTES } from "./media-types.js";

/** What every parse function accepts: raw bytes, a JSON string, or an already-decoded value. */
export type JsonInput = Uint8Array | string | unknown;

/** Options shared by the parse functions. */
export interface ParseOptions {
  /** Refuse bodies larger than this many bytes before parsing (default {@link MAX_MANIFEST_BYTES}). */
  maxBytes?: number;
  /**
   * Accept an OCI manifest with `layers: []`. The image-spec schema requires at least one layer,
   * but some builders emit empty images; default false.
   */
  allowEmptyLayers?: boolean;
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/**
 * UTF-8 bytes of a string.
 *
 * @example
 * ```ts
 * utf8Bytes("{}") // Uint8Array [123, 125]
 * ```
 */
export function utf8Bytes(s: string): Uint8Array {
  return encoder.encode(s);
}

/**
 * Throws `E_MANIFEST_TOO_LARGE` when `size` exceeds the limit.
 *
 * @example
 * ```ts
 * checkBodySize(body.byteLength, "manifest") // throws E_MANIFEST_TOO_LARGE over 4 MiB
 * ```
 */
export function checkBodySize(size: number, kind: string, maxBytes = MAX_MANIFEST_BYTES): void {
  if (size > maxBytes) {
    throw new CairnError(
      "E_MANIFEST_TOO_LARGE",
      `${kind} is too large: expected at most ${maxBytes} bytes, found ${size}; refusing to parse it`,
      { details: { kind, size, maxBytes } },
    );
  }
}

/**
 * Decodes `input` to a JSON value. Objects pass through unchanged; bytes must be UTF-8; both
 * bytes and strings are size-checked before parsing.
 *
 * @example
 * ```ts
 * const value = readJson(bytes, "OCI image index")
 * ```
 */
export function readJson(input: JsonInput, kind: string, options: ParseOptions = {}): unknown {
  let text: string;
  if (input instanceof Uint8Array) {
    checkBodySize(input.byteLength, kind, options.maxBytes);
    try {
      text = utf8.decode(input);
    } catch {
      throw new Problem("$", "expected UTF-8 encoded JSON, found bytes that are not valid UTF-8");
    }
  } else if (typeof input === "string") {
    // A UTF-16 code unit is at least one UTF-8 byte, so the length alone can already refuse.
    checkBodySize(input.length, kind, options.maxBytes);
    if (input.length * 3 > (options.maxBytes ?? MAX_MANIFEST_BYTES)) {
      checkBodySize(encoder.encode(input).byteLength, kind, options.maxBytes);
    }
    text = input;
  } else {
    return input;
  }
  return parseJsonText(text);
}

/**
 * `JSON.parse`, with a located {@link Problem} on failure.
 *
 * @example
 * ```ts
 * parseJsonText('{"a":1}') // { a: 1 }
 * ```
 */
export function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const found = locateJsonError(text) ?? { offset: 0, reason: (err as Error).message };
    const { line, column } = lineAndColumn(text, found.offset);
    throw new Problem(
      "$",
      `malformed JSON at line ${line} column ${column} (offset ${found.offset}): ${found.reason}`,
      { offset: found.offset, line, column },
    );
  }
}

/**
 * 1-based line and column of a UTF-16 offset.
 *
 * @example
 * ```ts
 * lineAndColumn("{\n x", 3) // { line: 2, column: 2 }
 * ```
 */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Where and why `text` is not JSON (RFC 8259), or undefined when it is. Iterative, so deep nesting is safe.
 *
 * @example
 * ```ts
 * locateJsonError("[1 2]") // { offset: 3, reason: "expected ',' or ']', found \"2\"" }
 * ```
 */
export function locateJsonError(text: string): { offset: number; reason: string } | undefined {
  const n = text.length;
  let i = 0;
  const stack: string[] = [];
  const fail = (reason: string) => ({ offset: i, reason });
  const seen = () => (i < n ? `found ${JSON.stringify(text[i])}` : "found the end of the input");
  const skipWs = () => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break;
      i++;
    }
  };
  const scanString = (): string | undefined => {
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return undefined;
      }
      if (c < 0x20) return "control character in string (must be escaped)";
      if (c === 92) {
        const e = text[i + 1];
        if (e === "u") {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return "bad \\u escape in string";
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) return "bad escape in string";
        i += 2;
        continue;
      }
      i++;
    }
    return "unterminated string";
  };
  const scanKey = (): string | undefined => {
    skipWs();
    if (text[i] !== '"') return `expected a string key, ${seen()}`;
    const err = scanString();
    if (err) return err;
    skipWs();
    if (text[i] !== ":") return `expected ':' after the key, ${seen()}`;
    i++;
    return undefined;
  };
  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

  let wantValue = true;
  for (;;) {
    skipWs();
    if (wantValue) {
      const c = text[i];
      if (c === "{" || c === "[") {
        i++;
        skipWs();
        if (text[i] === (c === "{" ? "}" : "]")) {
          i++;
          wantValue = false;
          continue;
        }
        if (c === "{") {
          const err = scanKey();
          if (err) return fail(err);
        }
        stack.push(c);
        continue;
      }
      if (c === '"') {
        const err = scanString();
        if (err) return fail(err);
      } else if (c === "-" || (c !== undefined && c >= "0" && c <= "9")) {
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(text);
        if (!m || m[0] === "-") return fail("malformed number");
        i += m[0].length;
      } else if (text.startsWith("true", i)) i += 4;
      else if (text.startsWith("false", i)) i += 5;
      else if (text.startsWith("null", i)) i += 4;
      else return fail(`expected a value, ${seen()}`);
      wantValue = false;
      continue;
    }
    const top = stack[stack.length - 1];
    if (top === undefined) {
      return i < n ? fail(`unexpected data after the JSON value, ${seen()}`) : undefined;
    }
    const close = top === "{" ? "}" : "]";
    if (text[i] === ",") {
      i++;
      if (top === "{") {
        const err = scanKey();
        if (err) return fail(err);
      }
      wantValue = true;
    } else if (text[i] === close) {
      i++;
      stack.pop();
    } else {
      return fail(`expected ',' or '${close}', ${seen()}`);
    }
  }
}
