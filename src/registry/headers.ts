/** Response headers as undici gives them: lowercased names, repeated headers as arrays. */
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/**
 * The first value of a response header, or undefined.
 *
 * @example
 * ```ts
 * headerValue(res.headers, "docker-content-digest")
 * ```
 */
export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Every value of a response header (repeated headers and comma lists are kept as sent).
 *
 * @example
 * ```ts
 * headerValues(res.headers, "link")
 * ```
 */
export function headerValues(headers: ResponseHeaders, name: string): string[] {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * The target of the `rel="next"` link in `Link` headers (RFC 8288), resolved against `base`;
 * undefined when there is none.
 *
 * @example
 * ```ts
 * nextLink(['</v2/a/tags/list?n=2&last=b>; rel="next"'], new URL("http://r/v2/a/tags/list?n=2"))?.href
 * // "http://r/v2/a/tags/list?n=2&last=b"
 * ```
 */
export function nextLink(values: readonly string[], base: URL): URL | undefined {
  for (const value of values) {
    for (const link of splitLinks(value)) {
      const m = /^\s*<([^>]*)>(.*)$/s.exec(link);
      if (!m) continue;
      const params = m[2] ?? "";
      const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
      const rels = (rel?.[1] ?? rel?.[2] ?? "").toLowerCase().split(/\s+/);
      if (!rels.includes("next")) continue;
      try {
        return new URL(m[1] ?? "", base);
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Splits a `Link` header at the commas between links (not those inside `<>` or quotes). */
function splitLinks(value: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === "\\") i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === "<") depth++;
    else if (c === ">") depth = Math.max(0, depth - 1);
    else if (c === "," && depth === 0) {
      out.push(value.slice(start, i));
      start = i + 1;
    }
  }
  out.push(value.slice(start));
  return out;
}

/**
 * The inclusive byte range of an upload's `Range` header (`0-1023`, also with a `bytes=` prefix),
 * or undefined when unreadable. A registry that has nothing yet may send `0-0` for an empty
 * upload too, so callers compare the end with what they sent.
 *
 * @example
 * ```ts
 * parseUploadRange("0-1023") // { start: 0, end: 1023 }
 * ```
 */
export function parseUploadRange(value: string | undefined): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(?:bytes[= ])?(\d+)-(\d+)\s*$/i.exec(value);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  return { start, end };
}

/**
 * The `Content-Range` value of an upload chunk: inclusive and without a unit, as the
 * distribution spec has it (`0-1023`).
 *
 * @example
 * ```ts
 * uploadContentRange(1024, 512) // "1024-1535"
 * ```
 */
export function uploadContentRange(offset: number, length: number): string {
  return `${offset}-${offset + length - 1}`;
}

/**
 * Parses a `Content-Range` answer to a ranged GET: `bytes 500-1499/5000` or `bytes 500-1499/*`.
 *
 * @example
 * ```ts
 * parseContentRange("bytes 500-1499/5000") // { start: 500, end: 1499, total: 5000 }
 * ```
 */
export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total: number | undefined } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(value);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start) return undefined;
  const total = m[3] === "*" ? undefined : Number(m[3]);
  return { start, end, total };
}

/**
 * The media type of a `Content-Type` header, without parameters, lowercased.
 *
 * @example
 * ```ts
 * bareContentType("application/json; charset=utf-8") // "application/json"
 * ```
 */
export function bareContentType(value: string | undefined): string | undefined {
  const bare = value?.split(";")[0]?.trim().toLowerCase();
  return bare ? bare : undefined;
}
