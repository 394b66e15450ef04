/**
 * Converting an overlayfs upper directory into OCI layer entries: deleted files (0:0
 * character devices, or files marked with the `overlay.whiteout` xattr) become `.wh.`
 * whiteouts, directories with the `overlay.opaque` xattr "y" get an opaque marker, and
 * overlayfs' own xattrs are dropped.
 */
import type { Stats } from "node:fs";
import { lstat } from "node:fs/promises";
import { CairnError } from "../errors/index.js";
import { childrenInTarOrder, type DirChild, type LayerEntry } from "./entry.js";
import { fsPath } from "./names.js";
import { type EntryContext, entryFromStat, HardlinkTracker, sortedNames, type TreeWarning } from "./tree.js";
import { readTreeXattrs, type Xattrs } from "./xattr.js";

/** Options for {@link fromOverlayUpper}. */
export interface FromOverlayUpperOptions {
  /** Carry the files' own (non-overlay) xattrs into the layer (default true). */
  xattrs?: boolean;
  onWarning?: (w: TreeWarning) => void;
}

function overlayXattr(x: Xattrs | undefined, name: string): string | undefined {
  const v = x?.[`trusted.overlay.${name}`] ?? x?.[`user.overlay.${name}`];
  return v === undefined ? undefined : Buffer.from(v).toString("latin1");
}

function isWhiteout(st: Stats, x: Xattrs | undefined): boolean {
  if (st.isCharacterDevice() && st.rdev === 0) return true;
  return st.isFile() && st.size === 0 && overlayXattr(x, "whiteout") !== undefined;
}

/**
 * The entries of the OCI layer equivalent to an overlayfs upper directory, in archive order.
 * Needs `getfattr` (Debian package `attr`) to see opaque directories.
 *
 * @example
 * ```ts
 * const layer = await createLayer(fromOverlayUpper("/var/lib/cairn/mounts/c1/upper"));
 * ```
 * @throws CairnError `E_IO` without `getfattr`; `E_LAYER_INVALID` for redirected or metacopy-only entries
 */
export async function* fromOverlayUpper(
  upper: string,
  options: FromOverlayUpperOptions = {},
): AsyncGenerator<LayerEntry> {
  const root = upper.replace(/\/+$/, "") || "/";
  const all = await readTreeXattrs(root);
  const ctx: EntryContext = { links: new HardlinkTracker() };
  if (options.xattrs !== false) ctx.xattrs = all;
  if (options.onWarning) ctx.onWarning = options.onWarning;

  async function* dir(rel: string, opaque: boolean): AsyncGenerator<LayerEntry> {
    const abs = rel ? `${root}/${rel}` : root;
    type Child = DirChild & { st?: Stats };
    const children: Child[] = [];
    if (opaque) children.push({ name: "", kind: "opaque" });
    for (const name of await sortedNames(abs)) {
      const childRel = rel ? `${rel}/${name}` : name;
      const st = await lstat(fsPath(`${root}/${childRel}`));
      if (isWhiteout(st, all.get(childRel))) children.push({ name, kind: "whiteout" });
      else children.push({ name, st, kind: "entry" });
    }
    yield* childrenInTarOrder(rel, children, async function* (child, childRel) {
      const x = all.get(childRel);
      for (const unsupported of ["redirect", "metacopy"]) {
        if (overlayXattr(x, unsupported) !== undefined) {
          throw new CairnError(
            "E_LAYER_INVALID",
            `overlay upper entry ${childRel} carries overlay.${unsupported}: mount without redirect_dir/metacopy to diff it as a layer`,
            { path: childRel },
          );
        }
      }
      const st = child.st as Stats;
      const entry = await entryFromStat(`${root}/${childRel}`, childRel, st, ctx);
      if (!entry) return;
      yield entry;
      if (st.isDirectory()) yield* dir(childRel, overlayXattr(x, "opaque") === "y");
    });
  }

  yield* dir("", overlayXattr(all.get(""), "opaque") === "y");
}
