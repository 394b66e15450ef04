/**
 * `.dockerignore`: reading the file and matching context paths with Docker's pattern rules
 * (moby/patternmatcher): `*` and `?` stay within a path element, `**` crosses them, `!` re-includes,
 * the last matching pattern wins, and a path is ignored when it or one of its parents matches.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { CairnError } from "../errors/index.js";
import { compileGlob } from "./glob.js";
import { goTrimSpace } from "./go-text.js";

/** Matches context-relative paths against `.dockerignore` patterns. */
export interface IgnoreMatcher {
  /** The cleaned patterns, `!` kept on exclusions. */
  readonly patterns: readonly string[];
  /** True when some pattern starts with `!`. */
  readonly hasExclusions: boolean;
  /**
   * True when `relPath` (slash-separated, relative to the context root) is ignored. `isDir` is
   * accepted for callers walking a tree; Docker's rules do not depend on it.
   */
  matches(relPath: string, isDir?: boolean): boolean;
}

/** Go's `filepath.Clean` for slash paths. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}

/**
 * Reads `.dockerignore` text into patterns: `#` comment lines and blank lines dropped, each
 * pattern trimmed and cleaned, a leading `/` removed, `!` kept.
 *
 * @example
 * ```ts
 * parseDockerignore("# deps\nnode_modules/\n!/keep/../keep.txt\n") // ["node_modules", "!keep.txt"]
 * ```
 */
export function parseDockerignore(text: string | Uint8Array): string[] {
  let s = typeof text === "string" ? text : new TextDecoder("utf-8").decode(text);
  if (s.startsWith("\ufeff")) s = s.slice(1);
  const out: string[] = [];
  for (const rawLine of s.split("\n")) {
    const line = rawLine.endsWith("\r") ? rawLine.slice(0, -1) : rawLine;
    if (line.startsWith("#")) continue;
    let pattern = goTrimSpace(line);
    if (pattern === "") continue;
    const invert = pattern[0] === "!";
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern[0] === "/") pattern = pattern.slice(1);
    }
    out.push(invert ? `!${pattern}` : pattern);
  }
  return out;
}

function badPattern(pattern: string, why: string): CairnError {
  return new CairnError("E_USAGE", `invalid .dockerignore pattern ${JSON.stringify(pattern)}: ${why}`, {
    details: { pattern },
  });
}

/** Go's `filepath.Match` syntax check: classes closed, ranges well formed, no trailing `\`. */
function validateGlob(pattern: string): void {
  const chars = Array.from(pattern);
  const esc = (i: number): number => {
    const c = chars[i];
    if (c === undefined || c === "-" || c === "]") throw badPattern(pattern, "syntax error in pattern");
    let j = i;
    if (c === "\\") {
      j++;
      if (chars[j] === undefined) throw badPattern(pattern, "syntax error in pattern");
    }
    if (chars[j + 1] === undefined) throw badPattern(pattern, "unterminated character class");
    return j + 1;
  };
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === "\\") {
      i++;
      if (chars[i] === undefined) throw badPattern(pattern, "trailing backslash");
    } else if (c === "[") {
      i++;
      if (chars[i] === "^") i++;
      let ranges = 0;
      for (;;) {
        if (chars[i] === "]" && ranges > 0) break;
        i = esc(i);
        if (chars[i] === "-") i = esc(i + 1);
        ranges++;
      }
    }
  }
}

type Compiled = (p: string) => boolean;

/** Docker's fast paths (exact, prefix `x/**`, suffix `**\/x`), else the full pattern matcher. */
function compile(pattern: string): Compiled {
  const chars = Array.from(pattern);
  let type: "exact" | "prefix" | "suffix" | "pattern" = "exact";
  let pos = 0;
  for (let iteration = 0; pos < chars.length; iteration++) {
    const ch = chars[pos++] as string;
    if (ch === "*") {
      if (chars[pos] === "*") {
        pos++;
        if (chars[pos] === "/") pos++;
        if (pos >= chars.length) type = type === "exact" ? "prefix" : "pattern";
        else type = "pattern";
        if (iteration === 0) type = "suffix";
      } else type = "pattern";
    } else if (ch === "?" || ch === "[" || ch === "]") {
      type = "pattern";
    } else if (ch === "\\") {
      pos++;
      type = "pattern";
    }
  }
  switch (type) {
    case "exact":
      return (p) => p === pattern;
    case "prefix": {
      const prefix = pattern.slice(0, -2);
      return (p) => p.startsWith(prefix);
    }
    case "suffix": {
      const suffix = pattern.slice(2);
      return (p) => p.endsWith(suffix) || (suffix[0] === "/" && p === suffix.slice(1));
    }
    default:
      return compileGlob(pattern, true);
  }
}

/** Normalizes a path given to {@link IgnoreMatcher.matches}: slashes, no `./` or leading `/`. */
function contextPath(relPath: string): string {
  let p = cleanPath(relPath.replace(/\\/g, "/"));
  while (p.startsWith("/")) p = p.slice(1);
  return p === "" ? "." : p;
}

/**
 * Builds a matcher from `.dockerignore` patterns (as from {@link parseDockerignore}).
 *
 * @example
 * ```ts
 * const m = createIgnoreMatcher(["**\/*.log", "!important.log", "build"]);
 * m.matches("logs/a.log")    // true
 * m.matches("important.log") // false
 * m.matches("build/out/x")   // true (a parent matches)
 * ```
 * @throws CairnError `E_USAGE` for a malformed pattern (e.g. an unclosed `[`) or a lone `!`
 */
export function createIgnoreMatcher(patterns: readonly string[]): IgnoreMatcher {
  const compiled: Array<{ exclusion: boolean; match: Compiled }> = [];
  const kept: string[] = [];
  for (const raw of patterns) {
    let p = goTrimSpace(raw);
    if (p === "") continue;
    p = cleanPath(p);
    let exclusion = false;
    if (p[0] === "!") {
      if (p.length === 1) throw badPattern(raw, 'illegal exclusion pattern: "!"');
      exclusion = true;
      p = p.slice(1);
    }
    // Paths are matched relative to the context root, so a leading "/" means the root (as the reader does).
    if (p.length > 1 && p[0] === "/") p = p.slice(1);
    validateGlob(p);
    compiled.push({ exclusion, match: compile(p) });
    kept.push(exclusion ? `!${p}` : p);
  }
  return {
    patterns: kept,
    hasExclusions: compiled.some((c) => c.exclusion),
    matches(relPath: string): boolean {
      const file = contextPath(relPath);
      if (file === ".") return false;
      const slash = file.lastIndexOf("/");
      const parentDirs = slash < 0 ? [] : file.slice(0, slash).split("/");
      let matched = false;
      for (const pattern of compiled) {
        if (pattern.exclusion !== matched) continue;
        let match = pattern.match(file);
        for (let i = 0; !match && i < parentDirs.length; i++) {
          match = pattern.match(parentDirs.slice(0, i + 1).join("/"));
        }
        if (match) matched = !pattern.exclusion;
      }
      return matched;
    },
  };
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new CairnError("E_IO", `cannot read ${file}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
}

/**
 * The ignore file that applies to a build: `<Dockerfile path>.dockerignore` (next to the
 * Dockerfile, e.g. `docker/app.Dockerfile.dockerignore`) when it exists, else `.dockerignore`
 * at the context root; undefined when neither exists.
 *
 * @example
 * ```ts
 * await locateDockerignore("/src/app", "Dockerfile.dev") // "/src/app/Dockerfile.dev.dockerignore" if present
 * ```
 */
export async function locateDockerignore(
  contextDir: string,
  dockerfileName = "Dockerfile",
): Promise<{ path: string; text: string } | undefined> {
  const specific = `${path.resolve(contextDir, dockerfileName)}.dockerignore`;
  const specificText = await readIfExists(specific);
  if (specificText !== undefined) return { path: specific, text: specificText };
  const generic = path.join(contextDir, ".dockerignore");
  const genericText = await readIfExists(generic);
  return genericText === undefined ? undefined : { path: generic, text: genericText };
}

/**
 * Reads the ignore patterns for a build (see {@link locateDockerignore}); `[]` when there is no file.
 *
 * @example
 * ```ts
 * const matcher = createIgnoreMatcher(await readDockerignore("/src/app", "Dockerfile"));
 * ```
 */
export async function readDockerignore(contextDir: string, dockerfileName = "Dockerfile"): Promise<string[]> {
  const found = await locateDockerignore(contextDir, dockerfileName);
  return found ? parseDockerignore(found.text) : [];
}
