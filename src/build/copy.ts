/**
 * COPY and ADD as BuildKit's file operations do them, computed as the layer they produce:
 * wildcard sources, directory-contents semantics, trailing-slash and existing-directory rules
 * for the destination, symlinks resolved inside the destination root, parent directories
 * created 0755, `--chown` / `--chmod`, `--parents` and `--exclude`. Nothing is written to
 * disk: the result is the list of layer entries (copied entries and their parent directories).
 */
import type { IgnoreMatcher } from "../dockerfile/index.js";
import { CairnError } from "../errors/index.js";
import { type ContentSource, comparePaths, type LayerEntry } from "../layer/index.js";
import type { ModeChange } from "./chmod.js";
import { matchSources } from "./glob.js";
import {
  baseName,
  joinRel,
  parentRel,
  pathParts,
  resolveInTree,
  type SourceTree,
  type TreeNode,
} from "./tree.js";
import type { Owner } from "./users.js";

/** One COPY/ADD source. */
export interface CopySource {
  tree: SourceTree;
  /** The source as written, relative to the tree's root (a leading `/` is the root). */
  path: string;
  /** Matches already found (the planner's, for the build context); else `path` is matched here. */
  matched?: string[];
  /** With `--parents`: the part of each match kept under the destination starts after this prefix. */
  pivot?: string;
}

/** How to copy. */
export interface CopyToLayerOptions {
  /** The destination: absolute, as written after WORKDIR is applied (a trailing `/` means a directory). */
  dest: string;
  /** The destination root as it is before the step; undefined for an empty root (scratch, `--link`). */
  destTree?: SourceTree;
  /** `--chown`: owner of everything copied and created; without it sources keep theirs. */
  owner?: Owner;
  /** `--chmod`. */
  chmod?: ModeChange;
  /** `--exclude` matchers. */
  excludes?: readonly IgnoreMatcher[];
  /** `--parents`: keep each source's path (after its pivot) under the destination. */
  parents?: boolean;
  /** Modification time of directories the copy creates. */
  mtime: number;
  /** What to call the operation in errors (`COPY`, `ADD`). */
  what?: string;
}

interface OutNode {
  node: TreeNode;
  content?: ContentSource;
}

/** Identities of source trees, so that link keys of two trees never meet. */
const treeIds = new WeakMap<SourceTree, number>();
let nextTreeId = 0;

function treeId(tree: SourceTree): number {
  let id = treeIds.get(tree);
  if (id === undefined) {
    id = nextTreeId++;
    treeIds.set(tree, id);
  }
  return id;
}

/** The destination root as the copy changes it: new entries over the old tree. */
class DestView implements SourceTree {
  readonly name = "destination";
  readonly out = new Map<string, OutNode>();
  constructor(private readonly base: SourceTree | undefined) {}
  lstat(rel: string): TreeNode | undefined {
    const node = this.out.get(rel)?.node ?? this.base?.lstat(rel);
    if (node === undefined && rel === "")
      return { type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };
    return node;
  }
  list(rel: string): string[] {
    const names = new Set(this.base?.list(rel) ?? []);
    for (const k of this.out.keys()) if (k !== "" && parentRel(k) === rel) names.add(baseName(k));
    return [...names].sort();
  }
  content(): ContentSource {
    throw new CairnError("E_USAGE", "the destination view has no contents");
  }
  baseNode(rel: string): TreeNode | undefined {
    return this.base?.lstat(rel);
  }
}

function fail(what: string, message: string, path?: string): CairnError {
  return new CairnError("E_BUILD_FAILED", `${what}: ${message}`, path ? { path } : {});
}

/** Copies into a {@link DestView}, one source match at a time, as fsutil's `Copy` does. */
class Copier {
  readonly dest: DestView;
  private readonly what: string;
  files = 0;
  /**
   * Which source argument is being copied: hardlinks are kept among the files of one source (all
   * its wildcard matches), not between sources, which BuildKit copies one after the other.
   */
  scope = 0;

  constructor(private readonly opts: CopyToLayerOptions) {
    this.dest = new DestView(opts.destTree);
    this.what = opts.what ?? "COPY";
  }

  private owner(old: TreeNode | undefined): Owner {
    if (this.opts.owner) return this.opts.owner;
    return old ? { uid: old.uid, gid: old.gid } : { uid: 0, gid: 0 };
  }

  /** Creates the missing directories of `rel` (already resolved) with mode 0755. */
  mkdirAll(rel: string): void {
    let at = "";
    for (const part of pathParts(rel)) {
      at = at === "" ? part : `${at}/${part}`;
      const node = this.dest.lstat(at);
      if (node === undefined) {
        const { uid, gid } = this.owner(undefined);
        this.dest.out.set(at, {
          node: { type: "directory", mode: 0o755, uid, gid, size: 0, mtime: this.opts.mtime },
        });
      } else if (node.type !== "directory") {
        throw fail(this.what, `cannot create directory /${at}: a ${node.type} is in the way`, `/${at}`);
      }
    }
  }

  private excluded(inner: string, full: string): boolean {
    const ex = this.opts.excludes ?? [];
    return ex.some((m) => (inner !== "" && m.matches(inner)) || (full !== "" && m.matches(full)));
  }

  /** Copies `srcRel` of `tree` (already resolved) to `dstRel`, recursively. */
  private copyNode(
    tree: SourceTree,
    srcRel: string,
    inner: string,
    dstRel: string,
    overwriteMeta: boolean,
  ): void {
    const node = tree.lstat(srcRel);
    if (!node) return;
    if (inner !== "" && this.excluded(inner, srcRel)) return;
    const existing = this.dest.lstat(dstRel);
    let writeInfo = true;
    if (node.type === "directory") {
      if (existing === undefined) {
        this.dest.out.set(dstRel, { node: { ...node } });
      } else if (existing.type !== "directory") {
        throw fail(this.what, `cannot copy to non-directory: /${dstRel}`, `/${dstRel}`);
      } else {
        writeInfo = overwriteMeta;
        if (overwriteMeta) {
          const merged: TreeNode = { ...existing, mode: node.mode, mtime: node.mtime };
          if (node.xattrs) merged.xattrs = node.xattrs;
          this.dest.out.set(dstRel, { node: merged });
        }
      }
      for (const name of tree.list(srcRel)) {
        this.copyNode(
          tree,
          srcRel === "" ? name : `${srcRel}/${name}`,
          inner === "" ? name : `${inner}/${name}`,
          dstRel === "" ? name : `${dstRel}/${name}`,
          true,
        );
      }
    } else {
      if (existing?.type === "directory") {
        throw fail(this.what, `cannot replace to directory /${dstRel} with file`, `/${dstRel}`);
      }
      const out: OutNode = { node: { ...node } };
      delete out.node.linkKey;
      if (node.type === "file") {
        out.content = tree.content(srcRel);
        if (node.linkKey !== undefined) out.node.linkKey = `${treeId(tree)}:${this.scope}:${node.linkKey}`;
        this.files++;
      }
      this.dest.out.set(dstRel, out);
    }
    if (writeInfo && dstRel !== "") {
      const o = this.dest.out.get(dstRel) as OutNode;
      const { uid, gid } = this.owner(node);
      o.node.uid = uid;
      o.node.gid = gid;
      if (this.opts.chmod && o.node.type !== "symlink") {
        o.node.mode = this.opts.chmod(node.mode, o.node.type === "directory");
      }
    }
  }

  /** One source match, as fsutil's Copy + prepareTargetDir. */
  copyMatch(tree: SourceTree, match: string, destRel: string, destIsDir: boolean): void {
    const followed = resolveInTree(tree, match, true);
    const src = tree.lstat(followed);
    if (!src) throw fail(this.what, `"/${match}": not found`, `/${match}`);
    this.mkdirAll(resolveInTree(this.dest, destIsDir ? destRel : parentRel(destRel), true));
    let dst = resolveInTree(this.dest, destRel, true);
    const destNode = this.dest.lstat(dst);
    const srcIsDir = src.type === "directory";
    if (!srcIsDir && destNode?.type === "directory") dst = joinRel(dst, baseName(match) || "");
    if (srcIsDir && destNode === undefined) this.mkdirAll(dst);
    else this.mkdirAll(parentRel(dst));
    if (srcIsDir && dst === "") {
      for (const name of tree.list(followed)) {
        this.copyNode(tree, followed === "" ? name : `${followed}/${name}`, name, name, true);
      }
      return;
    }
    this.copyNode(tree, followed, "", dst, false);
  }

  /** `--parents`: the match keeps its path (after the pivot) under the destination. */
  copyWithParents(tree: SourceTree, match: string, pivot: string, destRel: string): void {
    const kept =
      pivot !== "" && (match === pivot || match.startsWith(`${pivot}/`))
        ? match.slice(pivot.length).replace(/^\//, "")
        : match;
    const root = resolveInTree(this.dest, destRel, true);
    this.mkdirAll(root);
    let at = root;
    let srcAt = pivot;
    const parts = pathParts(kept);
    for (const part of parts.slice(0, -1)) {
      at = at === "" ? part : `${at}/${part}`;
      srcAt = srcAt === "" ? part : `${srcAt}/${part}`;
      at = resolveInTree(this.dest, at, true);
      if (this.dest.lstat(at) === undefined) {
        const srcDir = tree.lstat(resolveInTree(tree, srcAt, true));
        const { uid, gid } = this.owner(srcDir);
        const mode = srcDir?.mode ?? 0o755;
        this.dest.out.set(at, {
          node: {
            type: "directory",
            mode: this.opts.chmod ? this.opts.chmod(mode, true) : mode,
            uid,
            gid,
            size: 0,
            mtime: srcDir?.mtime ?? this.opts.mtime,
          },
        });
      }
    }
    const target = parts.length === 0 ? at : joinRel(at, parts[parts.length - 1] as string);
    this.copyMatch(tree, match, target, false);
  }
}

function entryOf(rel: string, o: OutNode, linkTo?: string): LayerEntry {
  const n = o.node;
  const e: LayerEntry = { path: rel, type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, mtime: n.mtime };
  if (linkTo !== undefined) {
    e.type = "hardlink";
    e.linkname = linkTo;
    return e;
  }
  if (n.type === "file") {
    e.content = o.content ?? "";
    e.size = n.size;
  }
  if (n.linkname !== undefined) e.linkname = n.linkname;
  if (n.devmajor !== undefined) e.devmajor = n.devmajor;
  if (n.devminor !== undefined) e.devminor = n.devminor;
  if (n.xattrs) e.xattrs = n.xattrs;
  return e;
}

/** What a copy produces. */
export interface CopyToLayerResult {
  /** The layer's entries: everything copied or created, plus the parent directories that hold it. */
  entries: LayerEntry[];
  /** Regular files copied. */
  files: number;
}

/**
 * Computes what COPY/ADD writes: the layer entries for `sources` copied to `options.dest`.
 *
 * @example
 * ```ts
 * const { entries } = copyToLayer([{ tree: context, path: "app/" }], { dest: "/app/", mtime: 0 });
 * ```
 * @throws CairnError `E_BUILD_FAILED` for a missing source or a conflict with the destination
 */
export function copyToLayer(sources: readonly CopySource[], options: CopyToLayerOptions): CopyToLayerResult {
  const copier = new Copier(options);
  const what = options.what ?? "COPY";
  const destIsDir = options.dest.endsWith("/") || options.dest.endsWith("/.") || options.parents === true;
  const destRel = joinRel(options.dest);
  const matches: Array<{ source: CopySource; match: string }> = [];
  for (const source of sources) {
    const found = source.matched ?? matchSources(source.tree, source.path);
    for (const match of found) {
      const clean = match === "." ? "" : match;
      if (clean !== "" && (options.excludes ?? []).some((m) => m.matches(clean))) continue;
      matches.push({ source, match: clean });
    }
  }
  const destNode = options.destTree?.lstat(resolveInTree(options.destTree, destRel, true));
  if (matches.length > 1 && !destIsDir && destNode?.type !== "directory") {
    throw fail(
      what,
      `when copying more than one source (${matches.length} here), the destination ${options.dest} must be a directory and end with a /`,
      options.dest,
    );
  }
  for (const { source, match } of matches) {
    copier.scope = sources.indexOf(source);
    if (options.parents) copier.copyWithParents(source.tree, match, source.pivot ?? "", destRel);
    else copier.copyMatch(source.tree, match, destRel, destIsDir);
  }
  return { entries: collectEntries(copier), files: copier.files };
}

/**
 * Copied files that are hardlinks of one source file: every name but the first in archive order
 * becomes a hardlink to that first name (a layer holds the target before its links).
 */
function hardlinkTargets(out: ReadonlyMap<string, OutNode>): Map<string, string> {
  const groups = new Map<string, string[]>();
  for (const [rel, o] of out) {
    const key = o.node.type === "file" ? o.node.linkKey : undefined;
    if (key === undefined) continue;
    const names = groups.get(key);
    if (names) names.push(rel);
    else groups.set(key, [rel]);
  }
  const links = new Map<string, string>();
  for (const names of groups.values()) {
    if (names.length < 2) continue;
    names.sort(comparePaths);
    const first = names[0] as string;
    for (const rel of names.slice(1)) links.set(rel, first);
  }
  return links;
}

function collectEntries(copier: Copier): LayerEntry[] {
  const out = copier.dest.out;
  const links = hardlinkTargets(out);
  const entries: LayerEntry[] = [];
  const seen = new Set<string>();
  const add = (rel: string): void => {
    if (rel === "" || seen.has(rel)) return;
    seen.add(rel);
    add(parentRel(rel));
    const o = out.get(rel);
    if (o) entries.push(entryOf(rel, o, links.get(rel)));
    else {
      const base = copier.dest.baseNode(rel);
      if (base) entries.push(entryOf(rel, { node: base }));
    }
  };
  for (const rel of out.keys()) add(rel);
  return entries;
}

/**
 * The layer entries WORKDIR's `mkdir -p` makes: the missing directories of `dir` (0755, owned by
 * `owner`) and the existing parents that hold them; empty when `dir` exists.
 *
 * @example
 * ```ts
 * mkdirLayer(tree, "/app/src", { uid: 0, gid: 0 }, 0) // [app, app/src]
 * ```
 * @throws CairnError `E_BUILD_FAILED` when a path element is not a directory
 */
export function mkdirLayer(
  destTree: SourceTree | undefined,
  dir: string,
  owner: Owner,
  mtime: number,
): LayerEntry[] {
  const copier = new Copier({ dest: dir, owner, mtime, what: "WORKDIR", ...(destTree ? { destTree } : {}) });
  copier.mkdirAll(resolveInTree(copier.dest, joinRel(dir), true));
  return collectEntries(copier);
}
