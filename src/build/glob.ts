/**
 * Wildcard sources of COPY/ADD in a tree: Go's `filepath.Match` syntax (`*`, `?`, `[a-z]`,
 * `[^…]`, `\` escapes), matched one path element at a time as BuildKit's copy does.
 */

import { hasWildcard } from "../dockerfile/index.js";
import { CairnError } from "../errors/index.js";
import { pathParts, resolveInTree, type SourceTree } from "./tree.js";

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

/** Compiles one path element pattern to a regular expression. *
 * @example
 * ```ts
 * compileElement("*.[ch]").test("main.c") // true
 * ```
 */
export function compileElement(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === "\\") {
      i++;
      if (i >= pattern.length) throw badPattern(pattern);
      re += escapeRegex(pattern[i] as string);
    } else if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      let j = i + 1;
      let cls = "";
      if (pattern[j] === "^") {
        cls += "^";
        j++;
      }
      let closed = false;
      let first = true;
      for (; j < pattern.length; j++) {
        const c = pattern[j] as string;
        if (c === "]" && !first) {
          closed = true;
          break;
        }
        first = false;
        if (c === "\\") {
          j++;
          if (j >= pattern.length) break;
          cls += escapeRegex(pattern[j] as string);
        } else if (c === "-") cls += "-";
        else cls += escapeRegex(c);
      }
      if (!closed) throw badPattern(pattern);
      re += `[${cls}]`;
      i = j;
    } else re += escapeRegex(ch);
  }
  return new RegExp(`^${re}$`, "s");
}

function badPattern(pattern: string): CairnError {
  return new CairnError("E_USAGE", `syntax error in pattern ${JSON.stringify(pattern)}`, {
    details: { expected: "a pattern with closed [ ] classes and no trailing \\" },
  });
}

/**
 * The paths of `tree` a source pattern names: itself when it has no wildcard, else every match
 * (in name order). The part before the first wildcard element is resolved through symlinks.
 *
 * @example
 * ```ts
 * matchSources(tree, "/app/*.js") // ["app/a.js", "app/b.js"]
 * ```
 */
export function matchSources(tree: SourceTree, pattern: string): string[] {
  const parts = pathParts(pattern);
  const first = parts.findIndex((p) => hasWildcard(p));
  if (first < 0) return [parts.join("/")];
  const prefix = resolveInTree(tree, parts.slice(0, first).join("/"), true);
  let current = [prefix];
  for (const part of parts.slice(first)) {
    const re = compileElement(part);
    const next: string[] = [];
    for (const dir of current) {
      const node = tree.lstat(dir);
      if (node?.type !== "directory") continue;
      for (const name of tree.list(dir)) if (re.test(name)) next.push(dir === "" ? name : `${dir}/${name}`);
    }
    current = next;
  }
  return current;
}
