/**
 * A linear-time matcher for the path patterns of `.dockerignore` and COPY sources: `*` and `?`
 * within a path element, `**` across elements, `[...]` classes and `\` escapes. It simulates all
 * positions at once instead of backtracking, so hostile patterns cannot make it slow.
 */

type Token =
  | { t: "lit"; c: string }
  | { t: "one" }
  | { t: "star" }
  | { t: "anyStar" }
  | { t: "dirs" }
  | { t: "start" }
  | { t: "class"; negated: boolean; ranges: Array<[number, number]> };

/** A compiled pattern. */
export type GlobMatcher = (path: string) => boolean;

function parseClass(chars: string[], at: number): { token: Token; next: number } | undefined {
  let i = at + 1;
  let negated = false;
  if (chars[i] === "^") {
    negated = true;
    i++;
  }
  const ranges: Array<[number, number]> = [];
  const take = (): number | undefined => {
    let c = chars[i];
    if (c === "\\") c = chars[++i];
    if (c === undefined) return undefined;
    i++;
    return c.codePointAt(0);
  };
  while (chars[i] !== "]" || ranges.length === 0) {
    const lo = take();
    if (lo === undefined) return undefined;
    let hi = lo;
    if (chars[i] === "-" && chars[i + 1] !== "]") {
      i++;
      const h = take();
      if (h === undefined) return undefined;
      hi = h;
    }
    ranges.push([lo, hi]);
  }
  return { token: { t: "class", negated, ranges }, next: i + 1 };
}

/**
 * Compiles a pattern. `doubleStar` turns on `**` (for `.dockerignore`); without it `**` is two `*`.
 *
 * @example
 * ```ts
 * compileGlob("src/**\/*.ts", true)("src/a/b.ts") // true
 * ```
 */
export function compileGlob(pattern: string, doubleStar: boolean): GlobMatcher {
  const chars = Array.from(pattern);
  const tokens: Token[] = [];
  for (let i = 0; i < chars.length; ) {
    const ch = chars[i] as string;
    if (ch === "*") {
      if (doubleStar && chars[i + 1] === "*") {
        i += 2;
        if (chars[i] === "/") i++;
        tokens.push(i >= chars.length ? { t: "anyStar" } : { t: "dirs" });
      } else {
        tokens.push({ t: "star" });
        i++;
      }
    } else if (ch === "?") {
      tokens.push({ t: "one" });
      i++;
    } else if (ch === "\\" && i + 1 < chars.length) {
      tokens.push({ t: "lit", c: chars[i + 1] as string });
      i += 2;
    } else if (ch === "[") {
      const cls = parseClass(chars, i);
      if (cls) {
        tokens.push(cls.token);
        i = cls.next;
      } else {
        tokens.push({ t: "lit", c: ch });
        i++;
      }
    } else if (ch === "^" && doubleStar) {
      // Docker passes a bare ^ into its regexp, where it anchors at the start.
      tokens.push({ t: "start" });
      i++;
    } else {
      tokens.push({ t: "lit", c: ch });
      i++;
    }
  }
  const n = tokens.length;
  // State 2k: about to match token k; state 2k+1: inside the `(.*/)?` loop of token k.
  return (path: string) => {
    let current = new Set<number>();
    const add = (set: Set<number>, state: number, pos: number) => {
      const stack = [state];
      while (stack.length > 0) {
        const s = stack.pop() as number;
        if (set.has(s)) continue;
        set.add(s);
        if (s % 2 === 1) continue;
        const tok = tokens[s / 2];
        if (!tok) continue;
        if (tok.t === "star" || tok.t === "anyStar" || tok.t === "dirs") stack.push(s + 2);
        else if (tok.t === "start" && pos === 0) stack.push(s + 2);
      }
    };
    add(current, 0, 0);
    let pos = 0;
    for (const ch of path) {
      const next = new Set<number>();
      const code = ch.codePointAt(0) as number;
      for (const s of current) {
        const k = Math.floor(s / 2);
        const tok = tokens[k];
        if (!tok) continue;
        if (s % 2 === 1) {
          if (ch !== "\n") {
            add(next, s, pos + 1);
            if (ch === "/") add(next, 2 * k + 2, pos + 1);
          }
          continue;
        }
        switch (tok.t) {
          case "lit":
            if (tok.c === ch) add(next, s + 2, pos + 1);
            break;
          case "one":
            if (ch !== "/") add(next, s + 2, pos + 1);
            break;
          case "star":
            if (ch !== "/") add(next, s, pos + 1);
            break;
          case "anyStar":
            if (ch !== "\n") add(next, s, pos + 1);
            break;
          case "dirs":
            if (ch !== "\n") {
              add(next, s + 1, pos + 1);
              if (ch === "/") add(next, s + 2, pos + 1);
            }
            break;
          case "class": {
            const inside = tok.ranges.some(([lo, hi]) => code >= lo && code <= hi);
            if (inside !== tok.negated) add(next, s + 2, pos + 1);
            break;
          }
          default:
            break;
        }
      }
      current = next;
      pos += ch.length;
      if (current.size === 0) return false;
    }
    return current.has(2 * n);
  };
}
