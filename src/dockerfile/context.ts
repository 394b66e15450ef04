/**
 * The build context as the planner sees it: which files are in it after `.dockerignore`, and
 * content digests of the files a COPY or ADD source names.
 */
import { createReadStream } from "node:fs";
import { lstat, readdir, readFile, readlink } from "node:fs/promises";
import path from "node:path";
import { type Digest, digestBytes, digestOf } from "../digest/index.js";
import { CairnError } from "../errors/index.js";
import { cleanPath, type IgnoreMatcher } from "./dockerignore.js";
import { compileGlob } from "./glob.js";

/** One entry of the context. */
export interface ContextEntry {
  type: "file" | "dir" | "symlink";
  /** Permission bits (and setuid/setgid/sticky). */
  mode: number;
  size: number;
  /** For a file with more than one name: its inode (`dev:ino`); files with one inode are hardlinks. */
  inode?: string;
}

/** The files of a build context that `.dockerignore` keeps, by slash-separated relative path. */
export interface ContextIndex {
  root: string;
  entries: ReadonlyMap<string, ContextEntry>;
}

/** What one COPY/ADD source resolved to in the context. */
export interface ContextSourceDigest {
  /** The matched paths, relative to the context root. */
  matched: string[];
  /** Number of files, links and directories included. */
  entries: number;
  /** Digest over paths, types, modes and contents of everything included. */
  digest: Digest;
}

/**
 * Lists the context directory, leaving out what `ignore` matches (a directory is entered only
 * when it is kept or an exclusion pattern might re-include something inside it).
 *
 * @example
 * ```ts
 * const index = await indexContext("/src/app", createIgnoreMatcher(["node_modules"]));
 * ```
 * @throws CairnError `E_NOT_FOUND` when the directory does not exist, `E_IO` on read errors
 */
export async function indexContext(root: string, ignore?: IgnoreMatcher): Promise<ContextIndex> {
  const entries = new Map<string, ContextEntry>();
  const abs = path.resolve(root);
  try {
    const st = await lstat(abs);
    if (!st.isDirectory())
      throw new CairnError("E_USAGE", `build context ${abs} is not a directory`, { path: abs });
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError("E_NOT_FOUND", `build context ${abs} not found`, { path: abs, cause: err });
  }
  const walk = async (dir: string, rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch (err) {
      throw new CairnError("E_IO", `cannot read ${dir}: ${(err as Error).message}`, {
        path: dir,
        cause: err,
      });
    }
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const child = path.join(dir, name);
      const st = await lstat(child);
      const ignored = ignore?.matches(childRel, st.isDirectory()) ?? false;
      const type = st.isDirectory()
        ? "dir"
        : st.isSymbolicLink()
          ? "symlink"
          : st.isFile()
            ? "file"
            : undefined;
      if (type === undefined) continue;
      if (!ignored) {
        const entry: ContextEntry = { type, mode: st.mode & 0o7777, size: type === "file" ? st.size : 0 };
        if (type === "file" && st.nlink > 1) entry.inode = `${st.dev}:${st.ino}`;
        entries.set(childRel, entry);
      }
      if (type === "dir" && (!ignored || ignore?.hasExclusions)) await walk(child, childRel);
    }
  };
  await walk(abs, "");
  return { root: abs, entries };
}

/** True when `p` has an unescaped `*`, `?` or `[`. */
export function hasWildcard(p: string): boolean {
  for (let i = 0; i < p.length; i++) {
    const ch = p[i];
    if (ch === "\\") i++;
    else if (ch === "*" || ch === "?" || ch === "[") return true;
  }
  return false;
}

/** A source path as it is looked up in the context: cleaned, relative, unable to leave the root. */
export function contextRelative(source: string): string {
  const p = cleanPath(`/${source}`);
  return p === "/" ? "." : p.slice(1);
}

// Small files are read whole: a stream per file costs a 64 KiB+ buffer and several event-loop
// turns each, which dominates contexts of tens of thousands of small files.
const SMALL_FILE = 1 << 20;

async function fileDigest(root: string, rel: string, size: number): Promise<Digest> {
  const file = path.join(root, rel);
  if (size <= SMALL_FILE) return digestBytes(await readFile(file));
  return digestOf(createReadStream(file, { highWaterMark: SMALL_FILE }));
}

/**
 * Resolves a COPY/ADD source in the context (wildcards match within path elements) and digests
 * what it names; `exclude` holds `COPY --exclude` matchers. `matched` is empty when nothing
 * matches.
 *
 * @example
 * ```ts
 * const { digest, entries } = await digestContextSource(index, "src/*.ts");
 * ```
 */
export async function digestContextSource(
  index: ContextIndex,
  source: string,
  exclude: readonly IgnoreMatcher[] = [],
): Promise<ContextSourceDigest> {
  const rel = contextRelative(source);
  let roots: string[];
  if (rel === ".") roots = ["."];
  else if (hasWildcard(rel)) {
    const match = compileGlob(rel, false);
    roots = [...index.entries.keys()].filter((p) => match(p)).sort();
  } else roots = index.entries.has(rel) ? [rel] : [];
  const excluded = (p: string, root: string) =>
    exclude.some(
      (m) =>
        m.matches(p) || (root !== "." && p.startsWith(`${root}/`) && m.matches(p.slice(root.length + 1))),
    );
  let listing = "";
  let count = 0;
  // Hardlinked files are copied as hardlinks: which names share a file is part of the source.
  const firstNames = new Map<string, string>();
  for (const root of roots) {
    const prefix = root === "." ? "" : `${root}/`;
    const members = [...index.entries.keys()].filter((p) => p === root || p.startsWith(prefix)).sort();
    listing += `root ${JSON.stringify(root)}\n`;
    for (const p of members) {
      if (excluded(p, root)) continue;
      const entry = index.entries.get(p) as ContextEntry;
      let content = "";
      if (entry.type === "file") content = await fileDigest(index.root, p, entry.size);
      else if (entry.type === "symlink") content = await readlink(path.join(index.root, p));
      const inner = p === root ? "." : p.slice(prefix.length);
      listing += `${JSON.stringify(inner)} ${entry.type} ${entry.mode.toString(8)} ${JSON.stringify(content)}`;
      if (entry.inode !== undefined) {
        const first = firstNames.get(entry.inode);
        if (first === undefined) firstNames.set(entry.inode, p);
        else listing += ` link=${JSON.stringify(first)}`;
      }
      listing += "\n";
      count++;
    }
  }
  return { matched: roots, entries: count, digest: digestBytes(listing) };
}
