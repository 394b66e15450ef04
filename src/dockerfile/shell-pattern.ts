/**
 * The patterns of `${v#p}`, `${v%p}` and `${v/p/r}`: shell wildcards (`*`, `?`, `\` escapes, no
 * bracket expressions) turned into regular expressions, and Go's regexp replacement rules.
 */

const REGEX_SPECIALS = new Set(["[", "]", "{", "}", ".", "+", "(", ")", "|", "^", "$"]);

/** Thrown for a pattern with an escape other than `\*`, `\?` or `\\`; the lexer reports it. */
export class ShellPatternError extends Error {}

/**
 * Converts a shell pattern to a regular expression. `*` is greedy or shortest-first, and
 * `anchored` ties the match to the start of the value.
 */
export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? "^" : "";
  const star = greedy ? ".*" : ".*?";
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i] as string;
    if (ch === "*") {
      out += star;
    } else if (ch === "?") {
      out += ".";
    } else if (ch === "\\") {
      const next = chars[i + 1];
      // `\}` and `\/` only kept the brace or slash out of the ${} syntax; the escape is not part of the pattern.
      if (next === "}" || next === "/") continue;
      if (next !== "*" && next !== "?" && next !== "\\") {
        throw new ShellPatternError(`invalid escape '\\${next ?? ""}'`);
      }
      out += `\\${next}`;
      i++;
    } else if (REGEX_SPECIALS.has(ch)) {
      out += `\\${ch}`;
    } else {
      out += ch;
    }
  }
  return new RegExp(out, "u");
}

/** Removes the shortest (or, `greedy`, the longest) prefix of `value` matching `pattern`. */
export function trimPrefixPattern(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Reverses a pattern by code points, keeping each `\x` escape pair in order. */
export function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const ch = chars[i] as string;
    const at = last - i;
    if (ch === "\\" && i !== last) {
      out[at - 1] = ch;
      out[at] = chars[i + 1] as string;
      i += 2;
    } else {
      out[at] = ch;
      i++;
    }
  }
  return out.join("");
}

function reverseString(s: string): string {
  return Array.from(s).reverse().join("");
}

/** Removes the shortest (or longest) suffix of `value` matching `pattern`. */
export function trimSuffixPattern(pattern: string, value: string, greedy: boolean): string {
  return reverseString(trimPrefixPattern(reversePattern(pattern), reverseString(value), greedy));
}

const NAME_CHAR = /[\p{L}\p{Nd}_]/u;

/** Go's `Regexp.Expand` of a replacement template for a match of a group-less expression. */
function expandTemplate(template: string, match: string): string {
  let out = "";
  let i = 0;
  while (i < template.length) {
    const dollar = template.indexOf("$", i);
    if (dollar < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, dollar);
    if (template[dollar + 1] === "$") {
      out += "$";
      i = dollar + 2;
      continue;
    }
    const brace = template[dollar + 1] === "{";
    let j = dollar + (brace ? 2 : 1);
    const start = j;
    while (j < template.length) {
      const cp = String.fromCodePoint(template.codePointAt(j) as number);
      if (!NAME_CHAR.test(cp)) break;
      j += cp.length;
    }
    let ok = j > start;
    if (ok && brace) {
      if (template[j] === "}") j++;
      else ok = false;
    }
    if (!ok) {
      out += "$";
      i = dollar + 1;
      continue;
    }
    const name = template.slice(start, brace ? j - 1 : j);
    const whole = /^[0-9]+$/.test(name) && Number(name) === 0 && !(name.length > 1 && name[0] === "0");
    if (whole) out += match;
    i = j;
  }
  return out;
}

/** Go's `Regexp.ReplaceAllString`: empty matches right after a previous match are skipped. */
export function goReplaceAll(value: string, re: RegExp, template: string): string {
  const global = new RegExp(re.source, `${re.flags.replace("g", "")}g`);
  let out = "";
  let copied = 0;
  let searchFrom = 0;
  let prevEnd = -1;
  while (searchFrom <= value.length) {
    global.lastIndex = searchFrom;
    const m = global.exec(value);
    if (!m) break;
    const start = m.index;
    const end = start + m[0].length;
    if (m[0].length === 0 && start === prevEnd) {
      searchFrom =
        start + (start < value.length ? String.fromCodePoint(value.codePointAt(start) as number).length : 1);
      continue;
    }
    out += value.slice(copied, start) + expandTemplate(template, m[0]);
    copied = end;
    prevEnd = end;
    searchFrom =
      m[0].length > 0
        ? end
        : end + (end < value.length ? String.fromCodePoint(value.codePointAt(end) as number).length : 1);
  }
  return out + value.slice(copied);
}
