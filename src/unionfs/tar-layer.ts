/**
 * Layers read straight from their tars: one pass per layer records each entry's header (no
 * file is written), resolving names exactly as a diff-mode `applyLayer` would place them
 * over the layers below (symlinked parents followed inside the root, missing parents copied
 * up, whiteouts and opaque markers acting on lower layers only). A file's bytes are read by
 * streaming its layer again up to that entry.
 */
import { CairnError } from "../errors/index.js";
import type { Layer } from "../image/index.js";
import {
  cleanName,
  openLayerStream,
  parseWhiteout,
  readTar,
  type TarEntry,
  type TarHeader,
} from "../layer/index.js";
import { invalidHardlink, MAX_SYMLINKS, tooManySymlinks, unsafePath } from "../layer/safe-path.js";
import { hiddenByAncestor } from "../layer/whiteout.js";
import { defaultDirInfo, type LayerContent, LayerStack, type NodeInfo, type NodeType } from "./stack.js";

/** Options for {@link indexLayerTars}. */
export interface TarIndexOptions {
  /** Fail a layer beyond this many uncompressed bytes. */
  maxUncompressedBytes?: number;
  signal?: AbortSignal;
}

/** Where a file's bytes are: entry number `ordinal` of a layer's tar. */
interface ContentRef {
  layer: TarLayer;
  ordinal: number;
}

interface TarNode {
  info: NodeInfo;
  linkname?: string;
  content?: ContentRef;
}

function nodeType(h: TarHeader): NodeType {
  switch (h.type) {
    case "directory":
      return "directory";
    case "symlink":
      return "symlink";
    case "char-device":
      return "char-device";
    case "block-device":
      return "block-device";
    case "fifo":
      return "fifo";
    default:
      return "file";
  }
}

function infoOf(h: TarHeader): NodeInfo {
  const type = nodeType(h);
  return {
    type,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    size: type === "file" ? h.size : 0,
    mtime: h.mtime,
    devmajor: h.devmajor,
    devminor: h.devminor,
    nlink: 1,
  };
}

/**
 * One layer tar as {@link LayerContent}, indexed by reading its headers once.
 *
 * @example
 * ```ts
 * const [base] = await indexLayerTars(await image.layers());
 * base?.names("etc");
 * ```
 */
export class TarLayer implements LayerContent {
  private readonly nodes = new Map<string, TarNode>();
  private readonly kids = new Map<string, Set<string>>();
  private readonly whiteouts = new Set<string>();
  private readonly opaques = new Set<string>();
  private nextLinkKey = 0;
  /** While building: what this layer's markers met so far hide below. */
  private readonly hiddenPaths = new Set<string>();
  private readonly hiddenChildren = new Set<string>();
  private readonly pending: { kind: "whiteout" | "opaque"; path: string }[] = [];
  /** Lower files copied here as hardlink targets (not entries of this layer). */
  private readonly copiedUp = new Set<string>();

  constructor(
    readonly name: string,
    private readonly source: Layer,
    private readonly options: TarIndexOptions,
  ) {}

  stat(rel: string): NodeInfo | undefined {
    return this.nodes.get(rel)?.info;
  }

  names(rel: string): string[] {
    return [...(this.kids.get(rel) ?? [])];
  }

  readlink(rel: string): string {
    return this.nodes.get(rel)?.linkname ?? "";
  }

  isWhiteout(rel: string): boolean {
    return this.whiteouts.has(rel);
  }

  isOpaque(rel: string): boolean {
    return this.opaques.has(rel);
  }

  async open(rel: string): Promise<AsyncIterable<Uint8Array>> {
    const ref = this.nodes.get(rel)?.content;
    if (!ref) throw new CairnError("E_NOT_FOUND", `/${rel} is not a regular file of layer ${this.name}`);
    return ref.layer.body(ref.ordinal);
  }

  private async tar(): Promise<AsyncGenerator<TarEntry>> {
    const blob = await this.source.open(this.options.signal ? { signal: this.options.signal } : {});
    return readTar(
      openLayerStream(blob, {
        mediaType: this.source.descriptor.mediaType,
        ...(this.options.maxUncompressedBytes !== undefined
          ? { maxUncompressedBytes: this.options.maxUncompressedBytes }
          : {}),
      }),
    );
  }

  private async *body(ordinal: number): AsyncGenerator<Uint8Array> {
    let n = 0;
    const entries = await this.tar();
    try {
      for await (const e of entries) {
        if (n++ === ordinal) {
          yield* e.body();
          return;
        }
      }
    } finally {
      await entries.return(undefined);
    }
    throw new CairnError("E_LAYER_INVALID", `layer ${this.name} changed: entry ${ordinal} is gone`);
  }

  // --- building the index -------------------------------------------------------------

  private set(rel: string, node: TarNode): void {
    const existing = this.nodes.get(rel);
    if (existing && existing.info.type === "directory" && node.info.type !== "directory") this.drop(rel);
    this.nodes.set(rel, node);
    if (rel === "") return;
    const i = rel.lastIndexOf("/");
    const parent = i < 0 ? "" : rel.slice(0, i);
    let set = this.kids.get(parent);
    if (!set) {
      set = new Set();
      this.kids.set(parent, set);
    }
    set.add(i < 0 ? rel : rel.slice(i + 1));
  }

  /** Removes `rel` and everything below it. */
  private drop(rel: string): void {
    const node = this.nodes.get(rel);
    if (!node) return;
    this.nodes.delete(rel);
    if (node.info.type === "directory") {
      for (const name of this.kids.get(rel) ?? []) this.drop(rel ? `${rel}/${name}` : name);
      this.kids.delete(rel);
    }
    const i = rel.lastIndexOf("/");
    this.kids.get(i < 0 ? "" : rel.slice(0, i))?.delete(i < 0 ? rel : rel.slice(i + 1));
  }

  /** A directory replacing this layer's own non-directory starts empty (see apply.ts). */
  private replacedByDir(rel: string): void {
    this.pending.push({ kind: "opaque", path: rel });
    this.hiddenChildren.add(rel);
  }

  /** True when a marker of this layer met so far hides a proper ancestor's lower content of `rel`. */
  private hiddenAbove(rel: string): boolean {
    return hiddenByAncestor(rel, this.hiddenPaths, this.hiddenChildren);
  }

  /** The layers below at `rel`, as this layer's later entries see them. */
  private below(rel: string, lower: LayerStack) {
    return this.hiddenPaths.has(rel) || this.hiddenAbove(rel) ? undefined : lower.lookup(rel);
  }

  /** A directory of the layers below, recreated here to hold something (copy-up). */
  private copyUpDir(rel: string, lower: LayerStack): void {
    const below = this.below(rel, lower)?.info;
    this.set(rel, { info: below ? { ...below, implicit: true } : defaultDirInfo() });
  }

  /**
   * As `SafeRoot.resolveParent`: the real path of the parent of `parts`, through this layer's
   * entries first and the layers below second. `create` makes missing directories.
   */
  private resolveParent(
    parts: readonly string[],
    entry: string,
    lower: LayerStack,
    mode: "create" | "lookup" | "nofollow",
  ): string[] | undefined {
    const queue = parts.slice(0, -1);
    const real: string[] = [];
    let links = 0;
    while (queue.length > 0) {
      const c = queue.shift() as string;
      if (c === "" || c === ".") continue;
      if (c === "..") {
        if (real.length === 0) throw unsafePath(entry, "a symlink in its path climbs above the root");
        real.pop();
        continue;
      }
      real.push(c);
      const rel = real.join("/");
      const here = this.nodes.get(rel);
      const below = here ? undefined : this.below(rel, lower);
      const type = here?.info.type ?? below?.info.type;
      if (type === "directory") {
        if (!here && mode === "create") this.copyUpDir(rel, lower);
        continue;
      }
      if (type === "symlink") {
        if (mode === "nofollow") return undefined;
        if (++links > MAX_SYMLINKS) throw tooManySymlinks(entry);
        const target = here ? (here.linkname ?? "") : lower.readlink(rel);
        real.pop();
        if (target.startsWith("/")) {
          throw unsafePath(
            entry,
            `its parent ${JSON.stringify(rel)} is a symlink to the absolute path ${JSON.stringify(target)}`,
          );
        }
        queue.unshift(...target.split("/"));
        continue;
      }
      if (mode !== "create") return undefined;
      if (here) {
        this.drop(rel);
        this.replacedByDir(rel);
      }
      this.set(rel, { info: defaultDirInfo() });
    }
    return real;
  }

  /** Reads the tar once and records its entries over the layers below. */
  async build(lower: LayerStack): Promise<void> {
    if (lower.layers.length > 0) this.copyUpDir("", lower);
    else this.set("", { info: { ...defaultDirInfo(), implicit: true } });
    let ordinal = -1;
    for await (const e of await this.tar()) {
      ordinal++;
      if (this.options.signal?.aborted)
        throw new CairnError("E_ABORTED", `reading layer ${this.name} was aborted`);
      const h = e.header;
      if (h.type === "pax-global-header" || h.type === "gnu-volume-label") continue;
      if (h.type === "unknown") {
        throw new CairnError(
          "E_LAYER_INVALID",
          `layer entry ${JSON.stringify(h.name)} has unsupported tar type ${JSON.stringify(h.typeflag)}`,
          {
            path: h.name,
          },
        );
      }
      const parts = cleanName(h.name, "reject");
      if (parts.length === 0) {
        if (h.type === "directory") this.set("", { info: infoOf(h) });
        continue;
      }
      const base = parts[parts.length - 1] as string;
      const wh = parseWhiteout(base, h.name);
      if (wh.kind === "opaque" || wh.kind === "whiteout") {
        const parent = this.resolveParent(parts, h.name, lower, "nofollow");
        if (!parent) continue;
        const marker =
          wh.kind === "opaque"
            ? { kind: "opaque" as const, path: parent.join("/") }
            : { kind: "whiteout" as const, path: [...parent, wh.target].join("/") };
        this.pending.push(marker);
        (marker.kind === "opaque" ? this.hiddenChildren : this.hiddenPaths).add(marker.path);
        continue;
      }
      if (wh.kind === "meta" || parts.slice(0, -1).some((p) => p.startsWith(".wh."))) continue;
      const parent = this.resolveParent(parts, h.name, lower, "create") as string[];
      const rel = [...parent, base].join("/");
      if (h.type === "hardlink") {
        this.hardlink(rel, h, lower);
        continue;
      }
      const node: TarNode = { info: infoOf(h) };
      if (h.type === "symlink") node.linkname = h.linkname;
      if (node.info.type === "file") node.content = { layer: this, ordinal };
      const existing = this.nodes.get(rel);
      if (h.type === "directory" && existing?.info.type === "directory") {
        this.nodes.set(rel, node);
        continue;
      }
      this.drop(rel);
      this.set(rel, node);
      if (h.type === "directory" && existing) this.replacedByDir(rel);
    }
    this.resolveMarkers(this.pending, lower);
  }

  private hardlink(rel: string, h: TarHeader, lower: LayerStack): void {
    const targetParts = cleanName(h.linkname, "reject");
    const invalid = (why: string) => invalidHardlink(h.name, h.linkname, why);
    if (targetParts.length === 0) throw invalid("the target is the root");
    const parent = this.resolveParent(targetParts, h.name, lower, "lookup");
    if (!parent) throw invalid("the target does not exist");
    const targetRel = [...parent, targetParts[targetParts.length - 1]].join("/");
    if (targetRel === rel) return;
    let target = this.nodes.get(targetRel);
    if (!target) {
      const below = this.below(targetRel, lower);
      if (!below) throw invalid("the target does not exist");
      if (below.info.type === "directory") throw invalid("the target is a directory");
      // Copied up, as a diff-mode unpack does, so both names share one file.
      const from = lower.layers[below.layer] as LayerContent;
      target = { info: { ...below.info } };
      this.copiedUp.add(targetRel);
      if (below.info.type === "symlink") target.linkname = lower.readlink(targetRel);
      if (below.info.type === "file") {
        const ref = from instanceof TarLayer ? from.nodes.get(targetRel)?.content : undefined;
        if (ref) target.content = ref;
      }
      this.resolveParent(targetParts, h.name, lower, "create");
      this.set(targetRel, target);
      const visible = (n: string) => !(this.hiddenPaths.has(n) || this.hiddenAbove(n));
      for (const other of lower.linkedNames(targetRel).filter(visible)) {
        const parts = other.split("/");
        this.resolveParent(parts, h.name, lower, "create");
        if (this.nodes.has(other)) continue;
        this.set(other, target);
        this.copiedUp.add(other);
        target.info.nlink++;
      }
    }
    if (target.info.type === "directory") throw invalid("the target is a directory");
    if (target.info.linkKey === undefined) target.info.linkKey = `h${this.nextLinkKey++}`;
    target.info.nlink++;
    this.drop(rel);
    this.set(rel, target);
  }

  /** As the diff-mode applier decides: what each marker hides, knowing the whole layer. */
  private resolveMarkers(pending: { kind: "whiteout" | "opaque"; path: string }[], lower: LayerStack): void {
    for (const m of pending) {
      let local = this.nodes.get(m.path);
      if (local && this.copiedUp.has(m.path) && m.kind === "whiteout") {
        this.drop(m.path);
        local = undefined;
      }
      if (local) {
        if (local.info.type === "directory") this.opaques.add(m.path);
        continue;
      }
      if (this.hiddenAbove(m.path)) continue;
      const below = lower.lookup(m.path);
      if (!below) continue;
      const parts = m.path === "" ? [] : m.path.split("/");
      if (m.kind === "opaque") {
        if (below.info.type !== "directory") continue;
        this.resolveParent([...parts, "-"], m.path, lower, "create");
        this.opaques.add(m.path);
        continue;
      }
      this.resolveParent(parts, m.path, lower, "create");
      this.whiteouts.add(m.path);
    }
  }
}

/**
 * Indexes every layer of an image from its tar, lowest first (each read once, nothing
 * written), for a {@link LayerStack} or `UnionView`.
 *
 * @example
 * ```ts
 * const stack = new LayerStack(await indexLayerTars(await image.layers()));
 * ```
 * @throws CairnError `E_LAYER_INVALID`, `E_LAYER_UNSAFE_PATH`, `E_DIGEST_MISMATCH`, `E_ABORTED`
 */
export async function indexLayerTars(
  layers: readonly Layer[],
  options: TarIndexOptions = {},
): Promise<TarLayer[]> {
  const out: TarLayer[] = [];
  for (const layer of layers) {
    const t = new TarLayer(layer.descriptor.digest, layer, options);
    await t.build(new LayerStack(out));
    out.push(t);
  }
  return out;
}
