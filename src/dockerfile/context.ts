/**
 * The build context as the planner sees it: which files are in it after `.dockerignore`, and
 * content digests of the files a COPY or ADD source names.
 */
import {
  closeSync,
  createReadStream,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  type Stats,
} from "node:fs";
import path from "node:path";
import { createHasher, type Digest, digestBytes, digestOf } from "../digest/index.js";
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
  /**
   * For a file: its stat fingerprint (device, inode, size, change and modification times), the
   * key under which a {@link ContextDigestCache} may remember its digest.
   */
  stamp?: string;
}

/**
 * Remembers file digests by stat fingerprint between builds, so an unchanged context is not read
 * again (BuildKit keeps a similar content-hash cache keyed by file metadata).
 */
export interface ContextDigestCache {
  /** The digest recorded for `rel` when its fingerprint was `stamp`. */
  get(rel: string, stamp: string): Digest | undefined;
  /** Records the digest of `rel` read at `readAt` (ms since the epoch) with fingerprint `stamp`. */
  set(rel: string, stamp: string, digest: Digest, readAt: number): void;
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
    const st = lstatSync(abs);
    if (!st.isDirectory())
      throw new CairnError("E_USAGE", `build context ${abs} is not a directory`, { path: abs });
  } catch (err) {
    if (err instanceof CairnError) throw err;
    throw new CairnError("E_NOT_FOUND", `build context ${abs} not found`, { path: abs, cause: err });
  }
  // Synchronous on purpose: tens of thousands of lstat calls through the thread pool cost a
  // round trip each, several times the syscall itself.
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (err) {
      throw new CairnError("E_IO", `cannot read ${dir}: ${(err as Error).message}`, {
        path: dir,
        cause: err,
      });
    }
    for (const name of names) {
      const childRel = rel === "" ? name : `${rel}/${name}`;
      const child = joinContext(dir, name);
      let st: Stats;
      try {
        st = lstatSync(child);
      } catch (err) {
        throw new CairnError("E_IO", `cannot stat ${child}: ${(err as Error).message}`, {
          path: child,
          cause: err,
        });
      }
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
        if (type === "file") {
          if (st.nlink > 1) entry.inode = `${st.dev}:${st.ino}`;
          entry.stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
        }
        entries.set(childRel, entry);
      }
      if (type === "dir" && (!ignored || ignore?.hasExclusions)) walk(child, childRel);
    }
  };
  walk(abs, "");
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
const encoder = new TextEncoder();

/**
 * Where a file of the index is on disk: `root/rel` by plain concatenation (the index's paths
 * are clean and relative; `path.join`'s normalizing made ~700 bytes of garbage per file).
 *
 * @example
 * ```ts
 * contextFilePath(index, "src/main.ts") // "/work/app/src/main.ts"
 * ```
 */
export function contextFilePath(index: ContextIndex, rel: string): string {
  return joinContext(index.root, rel);
}

function joinContext(root: string, rel: string): string {
  return root.endsWith("/") ? root + rel : `${root}/${rel}`;
}

// One read buffer for every small file: a fresh buffer per file left the planner of a
// 34,000-file context with ~100 MiB of garbage to collect.
let readBuffer: Buffer | undefined;

/** The digest of a small file read whole, or undefined when it has grown past the small size. */
function smallFileDigest(file: string): Digest | undefined {
  readBuffer ??= Buffer.allocUnsafe(SMALL_FILE + 1);
  const fd = openSync(file, "r");
  let length = 0;
  try {
    for (;;) {
      const n = readSync(fd, readBuffer, length, readBuffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length === readBuffer.length) return undefined;
    }
  } finally {
    closeSync(fd);
  }
  return digestBytes(readBuffer.subarray(0, length));
}

async function fileDigest(
  root: string,
  rel: string,
  entry: ContextEntry,
  cache: ContextDigestCache | undefined,
): Promise<Digest> {
  const stamp = entry.stamp;
  if (cache && stamp !== undefined) {
    const known = cache.get(rel, stamp);
    if (known !== undefined) return known;
  }
  const file = joinContext(root, rel);
  const readAt = Date.now();
  let digest: Digest;
  try {
    // A file that grew past the small size since it was listed is hashed as a stream.
    digest =
      (entry.size <= SMALL_FILE ? smallFileDigest(file) : undefined) ??
      (await digestOf(createReadStream(file, { highWaterMark: SMALL_FILE })));
  } catch (err) {
    throw new CairnError("E_IO", `cannot read ${file}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  if (cache && stamp !== undefined) cache.set(rel, stamp, digest, readAt);
  return digest;
}

/**
 * Resolves a COPY/ADD source in the context (wildcards match within path elements) and digests
 * what it names; `exclude` holds `COPY --exclude` matchers. `matched` is empty when nothing
 * matches. With `cache`, files whose stat fingerprint is unchanged are not read again.
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
  cache?: ContextDigestCache,
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
  // Hashed line by line: one string of the whole listing was tens of MiB of garbage.
  const listing = createHasher("sha256");
  const line = (text: string) => listing.update(encoder.encode(text));
  let count = 0;
  // Hardlinked files are copied as hardlinks: which names share a file is part of the source.
  const firstNames = new Map<string, string>();
  for (const root of roots) {
    const prefix = root === "." ? "" : `${root}/`;
    const members = [...index.entries.keys()].filter((p) => p === root || p.startsWith(prefix)).sort();
    line(`root ${JSON.stringify(root)}\n`);
    for (const p of members) {
      if (excluded(p, root)) continue;
      const entry = index.entries.get(p) as ContextEntry;
      let content = "";
      if (entry.type === "file") content = await fileDigest(index.root, p, entry, cache);
      else if (entry.type === "symlink") content = readlinkSync(joinContext(index.root, p));
      const inner = p === root ? "." : p.slice(prefix.length);
      let text = `${JSON.stringify(inner)} ${entry.type} ${entry.mode.toString(8)} ${JSON.stringify(content)}`;
      if (entry.inode !== undefined) {
        const first = firstNames.get(entry.inode);
        if (first === undefined) firstNames.set(entry.inode, p);
        else text += ` link=${JSON.stringify(first)}`;
      }
      line(`${text}\n`);
      count++;
    }
  }
  return { matched: roots, entries: count, digest: `sha256:${listing.hex()}` };
}
