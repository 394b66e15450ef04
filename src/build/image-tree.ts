/**
 * A read-only view of an image's root filesystem built from its layer tars, without unpacking
 * them: the tar headers are indexed once (whiteouts and opaque directories applied as OCI
 * layer.md says), file contents are streamed from the layer when asked for. Consecutive reads
 * in archive order reuse one pass over the layer.
 */
import { CairnError } from "../errors/index.js";
import type { Layer } from "../image/index.js";
import {
  type ContentSource,
  type HeaderFields,
  headerFieldsOf,
  type LayerEntry,
  OPAQUE_MARKER,
  readTar,
  sortEntries,
  type TarEntry,
  WHITEOUT_PREFIX,
} from "../layer/index.js";
import { viewPath } from "../unionfs/index.js";
import { baseName, parentRel, type SourceTree, type TreeNode } from "./tree.js";

interface IndexedNode extends TreeNode {
  /** Which layer holds the bytes of a file, and where in that layer's tar. */
  layer?: number;
  ordinal?: number;
  /** The file's member name in that layer, checked when its bytes are read. */
  member?: string;
}

/** One tar member of a layer, as the tree indexes it (its ordinal is its place in the list). */
interface LayerRecord {
  type: TarEntry["header"]["type"] | LayerEntry["type"];
  header: Pick<
    HeaderFields,
    "name" | "mode" | "uid" | "gid" | "size" | "mtime" | "linkname" | "devmajor" | "devminor"
  >;
  xattrs?: Record<string, Uint8Array>;
}

interface Cursor {
  iterator: AsyncGenerator<TarEntry, void, undefined>;
  /** Ordinal of the next entry the iterator yields. */
  next: number;
}

const ROOT: IndexedNode = { type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 };

function nodeType(type: TarEntry["header"]["type"]): TreeNode["type"] | "hardlink" | undefined {
  switch (type) {
    case "file":
    case "directory":
    case "symlink":
    case "char-device":
    case "block-device":
    case "fifo":
    case "hardlink":
      return type;
    default:
      return undefined;
  }
}

/**
 * The merged file tree of a stack of layers.
 *
 * @example
 * ```ts
 * const tree = await ImageTree.fromLayers(await image.layers(), "base image");
 * tree.lstat("etc/passwd")?.size
 * ```
 */
export class ImageTree implements SourceTree {
  private readonly nodes = new Map<string, IndexedNode>([["", { ...ROOT }]]);
  private readonly children = new Map<string, Set<string>>([["", new Set()]]);
  private readonly layerList: Layer[] = [];
  private readonly cursors = new Map<number, Cursor>();
  private readonly locks = new Map<number, Promise<void>>();

  constructor(readonly name: string) {}

  /** Indexes `layers` (lowest first) into a new tree. */
  static async fromLayers(layers: readonly Layer[], name: string, signal?: AbortSignal): Promise<ImageTree> {
    const tree = new ImageTree(name);
    for (const layer of layers) await tree.addLayer(layer, signal);
    return tree;
  }

  /** How many layers are indexed. */
  get layerCount(): number {
    return this.layerList.length;
  }

  /** A copy that can take more layers without changing this one. */
  clone(name = this.name): ImageTree {
    const copy = new ImageTree(name);
    copy.nodes.clear();
    copy.children.clear();
    for (const [k, v] of this.nodes) copy.nodes.set(k, v);
    for (const [k, v] of this.children) copy.children.set(k, new Set(v));
    copy.layerList.push(...this.layerList);
    return copy;
  }

  lstat(rel: string): TreeNode | undefined {
    return this.nodes.get(rel);
  }

  list(rel: string): string[] {
    const names = [...(this.children.get(rel) ?? [])];
    return names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }

  content(rel: string): ContentSource {
    const node = this.nodes.get(rel);
    if (node?.type !== "file" || node.layer === undefined || node.ordinal === undefined) {
      throw new CairnError("E_NOT_FOUND", `${this.name}: no file at /${rel}`, { path: `/${rel}` });
    }
    const { layer, ordinal, member } = node;
    return () => this.read(layer, ordinal, member ?? rel);
  }

  /** Reads a whole small file (e.g. /etc/passwd); undefined when it is not a file. */
  async readText(rel: string, maxBytes = 4 * 1024 * 1024): Promise<string | undefined> {
    const node = this.nodes.get(rel);
    if (node?.type !== "file") return undefined;
    if (node.size > maxBytes) {
      throw new CairnError(
        "E_SIZE_LIMIT",
        `${this.name}: /${rel} is ${node.size} bytes, more than ${maxBytes}`,
      );
    }
    const source = this.content(rel) as () => Promise<AsyncIterable<Uint8Array>>;
    const chunks: Buffer[] = [];
    for await (const c of await source()) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks).toString("utf8");
  }

  private removeTree(rel: string): void {
    const kids = this.children.get(rel);
    if (kids) for (const k of kids) this.removeTree(rel === "" ? k : `${rel}/${k}`);
    this.children.delete(rel);
    this.nodes.delete(rel);
  }

  private removePath(rel: string): void {
    if (rel === "") return;
    this.removeTree(rel);
    this.children.get(parentRel(rel))?.delete(baseName(rel));
  }

  private clearChildren(rel: string): void {
    const kids = this.children.get(rel);
    if (!kids) return;
    for (const k of [...kids]) this.removePath(rel === "" ? k : `${rel}/${k}`);
  }

  private ensureParents(rel: string): void {
    const parent = parentRel(rel);
    if (rel === "") return;
    const existing = this.nodes.get(parent);
    if (existing?.type !== "directory") {
      if (existing) this.removePath(parent);
      this.ensureParents(parent);
      this.nodes.set(parent, { ...ROOT });
      this.children.set(parent, new Set());
      this.children.get(parentRel(parent))?.add(baseName(parent));
    }
  }

  private put(rel: string, node: IndexedNode): void {
    if (rel === "") {
      if (node.type === "directory") this.nodes.set("", node);
      return;
    }
    const prior = this.nodes.get(rel);
    if (prior && (prior.type !== "directory" || node.type !== "directory")) this.removePath(rel);
    this.ensureParents(rel);
    this.nodes.set(rel, node);
    if (node.type === "directory" && !this.children.has(rel)) this.children.set(rel, new Set());
    this.children.get(parentRel(rel))?.add(baseName(rel));
  }

  /** Indexes one more layer on top. */
  async addLayer(layer: Layer, signal?: AbortSignal): Promise<void> {
    const index = this.layerList.length;
    this.layerList.push(layer);
    const records: LayerRecord[] = [];
    const stream = await layer.openUncompressed(signal ? { signal } : {});
    for await (const { header } of readTar(stream)) {
      records.push({ type: header.type, header, xattrs: header.xattrs });
    }
    this.applyRecords(index, records);
  }

  /**
   * Indexes a layer this build has just written from the entries it was made of, instead of
   * reading the blob back: the same header fields the tar writer wrote, in the same order.
   * Returns false (indexing nothing) for entries this shortcut does not cover (xattrs), which
   * {@link addLayer} then reads from the blob. File reads still check each member's name.
   */
  addWrittenLayer(layer: Layer, entries: readonly LayerEntry[], epoch: number | undefined): boolean {
    if (entries.some((e) => e.xattrs !== undefined && Object.keys(e.xattrs).length > 0)) return false;
    // The order and header fields the tar writer used for these entries.
    const records = sortEntries(entries).map(
      (entry): LayerRecord => ({ type: entry.type, header: headerFieldsOf(entry, epoch) }),
    );
    this.layerList.push(layer);
    this.applyRecords(this.layerList.length - 1, records);
    return true;
  }

  private applyRecords(index: number, records: readonly LayerRecord[]): void {
    const whiteouts: string[] = [];
    const opaques: string[] = [];
    const entries: Array<{ rel: string; node: IndexedNode; hardlink?: string }> = [];
    for (const [ordinal, { type: recordType, header: h, xattrs }] of records.entries()) {
      const rel = viewPath(h.name);
      const base = baseName(rel);
      if (base === OPAQUE_MARKER) {
        opaques.push(parentRel(rel));
        continue;
      }
      if (base.startsWith(WHITEOUT_PREFIX)) {
        const hidden = base.slice(WHITEOUT_PREFIX.length);
        const dir = parentRel(rel);
        whiteouts.push(dir === "" ? hidden : `${dir}/${hidden}`);
        continue;
      }
      const type = nodeType(recordType);
      if (type === undefined) continue;
      const node: IndexedNode = {
        type: type === "hardlink" ? "file" : type,
        mode: h.mode & 0o7777,
        uid: h.uid,
        gid: h.gid,
        size: type === "file" ? h.size : 0,
        mtime: Math.floor(h.mtime),
      };
      if (type === "file") {
        node.layer = index;
        node.ordinal = ordinal;
        node.member = rel;
      }
      if (type === "symlink") node.linkname = h.linkname;
      if (type === "char-device" || type === "block-device") {
        node.devmajor = h.devmajor;
        node.devminor = h.devminor;
      }
      if (xattrs && Object.keys(xattrs).length > 0) node.xattrs = { ...xattrs };
      entries.push(type === "hardlink" ? { rel, node, hardlink: viewPath(h.linkname) } : { rel, node });
    }
    for (const dir of opaques) this.clearChildren(dir);
    for (const p of whiteouts) this.removePath(p);
    for (const e of entries) {
      if (e.hardlink !== undefined) {
        const target = this.nodes.get(e.hardlink);
        if (target?.type !== "file") continue;
        target.linkKey ??= `${target.layer}:${target.ordinal}`;
        this.put(e.rel, { ...target });
      } else this.put(e.rel, e.node);
    }
  }

  private async lock(layer: number): Promise<() => void> {
    const prior = this.locks.get(layer) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => {
      release = r;
    });
    this.locks.set(
      layer,
      prior.then(() => mine),
    );
    await prior;
    return release;
  }

  private async *read(layer: number, ordinal: number, rel: string): AsyncGenerator<Uint8Array> {
    const release = await this.lock(layer);
    try {
      let cursor = this.cursors.get(layer);
      if (!cursor || cursor.next > ordinal) {
        if (cursor) await cursor.iterator.return(undefined);
        const source = this.layerList[layer] as Layer;
        cursor = { iterator: readTar(await source.openUncompressed()), next: 0 };
        this.cursors.set(layer, cursor);
      }
      for (;;) {
        const r = await cursor.iterator.next();
        if (r.done) {
          this.cursors.delete(layer);
          throw new CairnError("E_LAYER_INVALID", `${this.name}: /${rel} vanished from its layer`);
        }
        const at = cursor.next++;
        if (at === ordinal) {
          // The index and the blob must agree: never hand out another member's bytes.
          if (viewPath(r.value.header.name) !== rel) {
            throw new CairnError(
              "E_LAYER_INVALID",
              `${this.name}: member ${at} of layer ${layer} is ${JSON.stringify(r.value.header.name)}, expected /${rel}`,
            );
          }
          yield* r.value.body();
          return;
        }
      }
    } catch (err) {
      const cursor = this.cursors.get(layer);
      this.cursors.delete(layer);
      await cursor?.iterator.return(undefined).catch(() => {});
      throw err;
    } finally {
      release();
    }
  }

  /** Ends open layer reads. */
  async close(): Promise<void> {
    for (const c of this.cursors.values()) await c.iterator.return(undefined).catch(() => {});
    this.cursors.clear();
  }
}
