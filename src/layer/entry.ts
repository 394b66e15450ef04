/**
 * The input form of a layer: one {@link LayerEntry} per file system object, in archive order.
 * `createLayer` writes them; `diffTrees`, `fromOverlayUpper` and `walkTree` produce them.
 */
import { CairnError } from "../errors/index.js";
import { compareNames } from "./names.js";

/** The kinds of objects a layer can hold. Whiteouts are `file` entries named `.wh.*`. */
export type LayerEntryType =
  | "file"
  | "directory"
  | "symlink"
  | "hardlink"
  | "char-device"
  | "block-device"
  | "fifo";

/** Where a file's bytes come from: bytes, a UTF-8 string, or a function opening a stream. */
export type ContentSource =
  | Uint8Array
  | string
  | (() => AsyncIterable<Uint8Array> | Promise<AsyncIterable<Uint8Array>>);

/**
 * One object of a layer.
 *
 * @example
 * ```ts
 * const e: LayerEntry = { path: "etc/motd", type: "file", mode: 0o644, content: "hello\n" };
 * ```
 */
export interface LayerEntry {
  /** Relative path inside the root, `/`-separated, without a leading `/` (`etc/passwd`). */
  path: string;
  type: LayerEntryType;
  /** Permission bits including setuid/setgid/sticky (default 0644 files, 0755 dirs, 0777 symlinks). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Modification time: seconds since the epoch, or a Date (default: `sourceDateEpoch` or 0). */
  mtime?: number | Date;
  /** Content of a `file` entry. */
  content?: ContentSource;
  /** Content size; required when `content` is a stream, checked against the bytes read. */
  size?: number;
  /** Symlink target (any text), or hardlink target path inside the layer/root. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (written as PAX `SCHILY.xattr.*`). */
  xattrs?: Record<string, Uint8Array | string>;
}

/** Prefix of a whiteout marker file name (OCI image-spec layer.md). */
export const WHITEOUT_PREFIX = ".wh.";
/** Name of the opaque-directory marker file. */
export const OPAQUE_MARKER = ".wh..wh..opq";

/**
 * Cleans a relative path given to a layer writer: drops `./`, leading `/` is refused, `..` is
 * refused, duplicate and trailing slashes go. Returns "" for the root itself.
 *
 * @example
 * ```ts
 * cleanEntryPath("./usr//bin/") // "usr/bin"
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH` for absolute paths and `..` components
 */
export function cleanEntryPath(p: string): string {
  if (p.startsWith("/")) {
    throw new CairnError(
      "E_LAYER_UNSAFE_PATH",
      `layer entry path ${JSON.stringify(p)} is absolute: expected a relative path`,
      {
        path: p,
      },
    );
  }
  const parts: string[] = [];
  for (const c of p.split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") {
      throw new CairnError(
        "E_LAYER_UNSAFE_PATH",
        `layer entry path ${JSON.stringify(p)} contains "..": expected a path inside the root`,
        {
          path: p,
        },
      );
    }
    if (c.includes("\0")) {
      throw new CairnError("E_LAYER_INVALID", `layer entry path ${JSON.stringify(p)} contains a NUL byte`, {
        path: p,
      });
    }
    parts.push(c);
  }
  return parts.join("/");
}

/**
 * A whiteout entry hiding `path` of lower layers.
 *
 * @example
 * ```ts
 * whiteoutEntry("etc/old.conf") // { path: "etc/.wh.old.conf", type: "file", … }
 * ```
 */
export function whiteoutEntry(path: string, mtime = 0): LayerEntry {
  const clean = cleanEntryPath(path);
  const slash = clean.lastIndexOf("/");
  const dir = slash < 0 ? "" : clean.slice(0, slash + 1);
  return {
    path: `${dir}${WHITEOUT_PREFIX}${clean.slice(slash + 1)}`,
    type: "file",
    mode: 0,
    uid: 0,
    gid: 0,
    mtime,
    content: "",
  };
}

/**
 * An opaque marker: hides everything lower layers have under `dir`.
 *
 * @example
 * ```ts
 * opaqueEntry("var/cache") // { path: "var/cache/.wh..wh..opq", … }
 * ```
 */
export function opaqueEntry(dir: string, mtime = 0): LayerEntry {
  const clean = cleanEntryPath(dir);
  return {
    path: clean ? `${clean}/${OPAQUE_MARKER}` : OPAQUE_MARKER,
    type: "file",
    mode: 0,
    uid: 0,
    gid: 0,
    mtime,
    content: "",
  };
}

/** A child of a directory being written out as layer entries: a real entry or a marker. */
export interface DirChild {
  /** The child's base name ("" for the opaque marker). */
  name: string;
  kind: "entry" | "whiteout" | "opaque";
}

/**
 * Yields a directory's children in layer tar order (by tar name, markers under their `.wh.`
 * names): whiteout and opaque markers as their entries, real children through `expand`.
 *
 * @example
 * ```ts
 * const children = [{ name: "b", kind: "entry" }, { name: "a", kind: "whiteout" }];
 * for await (const e of childrenInTarOrder("etc", children, async function* (_c, rel) {
 *   yield whiteoutEntry(rel); // stand-in for the real entry
 * })) console.log(e.path); // etc/.wh.a, then etc/b's entries
 * ```
 */
export async function* childrenInTarOrder<C extends DirChild>(
  rel: string,
  children: readonly C[],
  expand: (child: C, childRel: string) => AsyncIterable<LayerEntry>,
): AsyncGenerator<LayerEntry> {
  const tarName = (c: C): string =>
    c.kind === "opaque" ? OPAQUE_MARKER : c.kind === "whiteout" ? `${WHITEOUT_PREFIX}${c.name}` : c.name;
  const sorted = children.map((child) => ({ child, key: tarName(child) }));
  sorted.sort((a, b) => compareNames(a.key, b.key));
  for (const { child } of sorted) {
    const childRel = rel ? `${rel}/${child.name}` : child.name;
    if (child.kind === "opaque") yield opaqueEntry(rel);
    else if (child.kind === "whiteout") yield whiteoutEntry(childRel);
    else yield* expand(child, childRel);
  }
}
