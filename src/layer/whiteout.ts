/**
 * Whiteout marker names (OCI image-spec layer.md): `.wh.NAME` hides NAME of lower layers,
 * `.wh..wh..opq` hides everything lower layers have in its directory. Other `.wh..wh.*`
 * names are AUFS bookkeeping and are never materialised.
 */
import { CairnError } from "../errors/index.js";
import { OPAQUE_MARKER, WHITEOUT_PREFIX } from "./entry.js";

/** What a base name means. */
export type WhiteoutKind =
  | { kind: "none" }
  | { kind: "opaque" }
  | { kind: "whiteout"; target: string }
  /** `.wh..wh.*` other than the opaque marker (AUFS metadata such as `.wh..wh.plnk`). */
  | { kind: "meta" };

/**
 * Classifies a base name as a whiteout marker or not.
 *
 * @example
 * ```ts
 * parseWhiteout(".wh.passwd") // { kind: "whiteout", target: "passwd" }
 * parseWhiteout(".wh..wh..opq") // { kind: "opaque" }
 * ```
 * @throws CairnError `E_LAYER_INVALID` for `.wh.` without a name, `.wh..` and `.wh...`
 */
export function parseWhiteout(base: string, entry = base): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: "none" };
  if (base === OPAQUE_MARKER) return { kind: "opaque" };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: "meta" };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === "" || target === "." || target === "..") {
    throw new CairnError(
      "E_LAYER_INVALID",
      `invalid whiteout ${JSON.stringify(entry)}: expected ".wh." followed by a file name, found ${JSON.stringify(target)}`,
      { path: entry },
    );
  }
  return { kind: "whiteout", target };
}

/**
 * True when a marker met so far hides a proper ancestor's lower content of `rel`: an ancestor
 * (the root included) made opaque, or a non-root ancestor whited out.
 *
 * @example
 * ```ts
 * hiddenByAncestor("etc/passwd", new Set(["etc"]), new Set()) // true
 * hiddenByAncestor("etc/passwd", new Set(), new Set([""])) // true (root made opaque)
 * ```
 */
export function hiddenByAncestor(
  rel: string,
  hiddenPaths: ReadonlySet<string>,
  hiddenChildren: ReadonlySet<string>,
): boolean {
  if (hiddenPaths.size === 0 && hiddenChildren.size === 0) return false;
  let p = rel;
  while (p !== "") {
    const i = p.lastIndexOf("/");
    p = i < 0 ? "" : p.slice(0, i);
    if (hiddenChildren.has(p) || (p !== "" && hiddenPaths.has(p))) return true;
  }
  return false;
}
