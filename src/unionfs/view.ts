/**
 * A read-only view of an image's merged file system, without materializing it: lookups go
 * through the layers (snapshot directories, or indexed layer tars) by the union rules of
 * stack.ts.
 */
import { Readable } from "node:stream";
import { CairnError } from "../errors/index.js";
import type { Image } from "../image/index.js";
import type { LayerEntry } from "../layer/index.js";
import { type PrepareOptions, type Snapshot, SnapshotStore } from "./snapshots.js";
import { type LayerContent, LayerStack, type MergedNode, type NodeInfo, show, viewPath } from "./stack.js";
import { indexLayerTars, type TarIndexOptions } from "./tar-layer.js";

/** One entry of a {@link UnionView}, like `lstat`/`stat` output. */
export interface UnionStat extends NodeInfo {
  /** The absolute path in the image (`/etc/passwd`). */
  path: string;
  /** The layer providing it (index, lowest first). */
  layer: number;
}

/** Options for {@link UnionView.walk}. */
export interface WalkViewOptions {
  /** Stop descending below this depth (1 = the directory's own children). */
  maxDepth?: number;
}

/** Options for {@link UnionView.open} from an image. */
export interface OpenViewOptions extends PrepareOptions {
  /** The snapshot store to prepare the image in (default: the default store's). */
  store?: SnapshotStore;
}

/** Options for {@link UnionView.readFile}. */
export interface ReadViewFileOptions {
  /** Refuse files larger than this (default 1 GiB). */
  maxBytes?: number;
}

function statOf(rel: string, node: MergedNode): UnionStat {
  return { ...node.info, path: show(rel), layer: node.layer };
}

function notFound(p: string): CairnError {
  return new CairnError("E_NOT_FOUND", `${show(viewPath(p))}: no such file or directory in the image`, {
    path: show(viewPath(p)),
    details: { errno: "ENOENT" },
  });
}

/**
 * A read-only view of merged layers: `stat`, `lstat`, `readdir`, `readFile`, `readlink`,
 * `walk`. Whiteouts and opaque directories hide what they should; symlinks are resolved
 * inside the image root only (absolute targets from the image root, `..` stopping there).
 *
 * @example
 * ```ts
 * const view = await UnionView.open(image);
 * console.log((await view.readFile("/etc/os-release")).toString());
 * for await (const e of view.walk("/etc")) console.log(e.type, e.path);
 * await view.close();
 * ```
 */
export class UnionView {
  constructor(
    readonly stack: LayerStack,
    private readonly onClose?: () => Promise<void>,
  ) {}

  /**
   * A view over snapshots (lowest first), e.g. from {@link SnapshotStore.prepare}.
   *
   * @example
   * ```ts
   * const view = UnionView.fromSnapshots(store, chain.snapshots);
   * ```
   */
  static fromSnapshots(store: SnapshotStore, snapshots: readonly Snapshot[]): UnionView {
    return new UnionView(store.stack(snapshots));
  }

  /**
   * Prepares the image's snapshots (unpacking each layer not unpacked yet) and views them;
   * `close()` drops the lease taken.
   *
   * @example
   * ```ts
   * const view = await UnionView.open(image, { store });
   * ```
   */
  static async open(image: Image, options: OpenViewOptions = {}): Promise<UnionView> {
    const { store: given, ...prepare } = options;
    const store = given ?? (await SnapshotStore.open());
    const chain = await store.prepare(image, prepare);
    return new UnionView(store.stack(chain.snapshots), () => chain.release());
  }

  /**
   * A view read straight from the layer tars: each layer is read once to index its headers;
   * nothing is written to disk. File contents are read by streaming their layer again, which
   * suits looking at a few files (`cairn ls-files`, `cairn cat`); for many, use {@link open}.
   *
   * @example
   * ```ts
   * const view = await UnionView.fromLayerTars(image);
   * console.log(await view.readdir("/"));
   * ```
   */
  static async fromLayerTars(image: Image, options: TarIndexOptions = {}): Promise<UnionView> {
    return new UnionView(new LayerStack(await indexLayerTars(await image.layers(), options)));
  }

  /** A view over any layer contents (lowest first). */
  static fromLayers(layers: readonly LayerContent[]): UnionView {
    return new UnionView(new LayerStack(layers));
  }

  /**
   * The entry at `path` itself (a symlink is not followed).
   *
   * @throws CairnError `E_NOT_FOUND`
   */
  async lstat(path: string): Promise<UnionStat> {
    const parts = path.split("/").filter((c) => c !== "");
    const base = parts.pop();
    if (base === undefined || base === "." || base === "..") return this.stat(path);
    const dir = this.stack.resolve(parts.join("/"), true);
    if (dir?.node.info.type !== "directory") throw notFound(path);
    const rel = dir.rel ? `${dir.rel}/${base}` : base;
    const node = this.stack.lookup(rel);
    if (!node) throw notFound(path);
    return statOf(rel, node);
  }

  /**
   * The entry at `path`, following symlinks (inside the image).
   *
   * @throws CairnError `E_NOT_FOUND`; `E_IO` with `details.errno` `ELOOP`
   */
  async stat(path: string): Promise<UnionStat> {
    const r = this.stack.resolve(path, true);
    if (!r) throw notFound(path);
    return statOf(r.rel, r.node);
  }

  /**
   * True when `path` exists (without following a final symlink).
   *
   * @example
   * ```ts
   * if (await view.exists("/bin/sh")) …
   * ```
   */
  async exists(path: string): Promise<boolean> {
    return this.lstat(path).then(
      () => true,
      () => false,
    );
  }

  /**
   * The names in a directory, sorted by bytes.
   *
   * @throws CairnError `E_NOT_FOUND` (also when `path` is not a directory)
   */
  async readdir(path: string): Promise<string[]> {
    const r = this.stack.resolve(path, true);
    if (!r) throw notFound(path);
    const names = this.stack.readdir(r.rel);
    if (!names) {
      throw new CairnError(
        "E_NOT_FOUND",
        `${show(viewPath(path))} is a ${r.node.info.type}, not a directory`,
        {
          path: show(viewPath(path)),
          details: { errno: "ENOTDIR" },
        },
      );
    }
    return names;
  }

  /**
   * The target of the symlink at `path`, as stored.
   *
   * @throws CairnError `E_NOT_FOUND`
   */
  async readlink(path: string): Promise<string> {
    const st = await this.lstat(path);
    if (st.type !== "symlink") {
      throw new CairnError("E_NOT_FOUND", `${st.path} is a ${st.type}, not a symlink`, {
        path: st.path,
        details: { errno: "EINVAL" },
      });
    }
    return this.stack.readlink(st.path.slice(1));
  }

  private async fileLayer(path: string): Promise<{ rel: string; layer: LayerContent; size: number }> {
    const r = this.stack.resolve(path, true);
    if (!r) throw notFound(path);
    if (r.node.info.type !== "file") {
      throw new CairnError("E_NOT_FOUND", `${show(r.rel)} is a ${r.node.info.type}, not a regular file`, {
        path: show(r.rel),
        details: { errno: r.node.info.type === "directory" ? "EISDIR" : "EINVAL" },
      });
    }
    return { rel: r.rel, layer: this.stack.layers[r.node.layer] as LayerContent, size: r.node.info.size };
  }

  /**
   * The content of a regular file (symlinks followed) as a stream.
   *
   * @example
   * ```ts
   * (await view.open("/usr/bin/env")).pipe(process.stdout)
   * ```
   * @throws CairnError `E_NOT_FOUND`
   */
  async open(path: string): Promise<Readable> {
    const f = await this.fileLayer(path);
    return Readable.from(await f.layer.open(f.rel), { objectMode: false });
  }

  /**
   * The content of a regular file (symlinks followed).
   *
   * @throws CairnError `E_NOT_FOUND`; `E_SIZE_LIMIT` above `maxBytes`
   */
  async readFile(path: string, options: ReadViewFileOptions = {}): Promise<Buffer> {
    const f = await this.fileLayer(path);
    const max = options.maxBytes ?? 1024 ** 3;
    if (f.size > max) {
      throw new CairnError(
        "E_SIZE_LIMIT",
        `${show(f.rel)} has ${f.size} bytes, more than the ${max} allowed`,
        {
          path: show(f.rel),
        },
      );
    }
    const chunks: Buffer[] = [];
    for await (const c of await f.layer.open(f.rel)) chunks.push(Buffer.from(c));
    return Buffer.concat(chunks);
  }

  /**
   * Every entry below `path` (not `path` itself), depth first, siblings sorted by name bytes;
   * symlinks are reported, not followed.
   *
   * @example
   * ```ts
   * for await (const e of view.walk("/")) if (e.type === "file") total += e.size;
   * ```
   */
  async *walk(path = "/", options: WalkViewOptions = {}): AsyncGenerator<UnionStat> {
    const r = this.stack.resolve(path, true);
    if (!r) throw notFound(path);
    if (r.node.info.type !== "directory") return;
    const max = options.maxDepth ?? Number.POSITIVE_INFINITY;
    const stack = this.stack;
    function* visit(rel: string, depth: number): Generator<UnionStat> {
      for (const [name, node] of stack.children(rel) ?? []) {
        const child = rel ? `${rel}/${name}` : name;
        yield statOf(child, node);
        if (node.info.type === "directory" && depth < max) yield* visit(child, depth + 1);
      }
    }
    yield* visit(r.rel, 1);
  }

  /**
   * The merged tree as layer entries in archive order (hardlinked names become hardlink
   * entries), ready for `createLayer` or `packTar`: one layer equivalent to the whole stack.
   *
   * @example
   * ```ts
   * const squashed = await createLayer(view.entries(), { sourceDateEpoch: 0 });
   * ```
   */
  async *entries(): AsyncGenerator<LayerEntry> {
    const firstNames = new Map<string, string>();
    for await (const st of this.walk("/")) {
      const rel = st.path.slice(1);
      const base: LayerEntry = {
        path: rel,
        type: "file",
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        mtime: st.mtime,
      };
      switch (st.type) {
        case "directory":
          yield { ...base, type: "directory" };
          break;
        case "symlink":
          yield { ...base, type: "symlink", linkname: this.stack.readlink(rel) };
          break;
        case "file": {
          if (st.linkKey !== undefined) {
            const key = `${st.layer}:${st.linkKey}`;
            const first = firstNames.get(key);
            if (first !== undefined) {
              yield { ...base, type: "hardlink", linkname: first };
              break;
            }
            firstNames.set(key, rel);
          }
          const layer = this.stack.layers[st.layer] as LayerContent;
          yield { ...base, type: "file", size: st.size, content: () => layer.open(rel) };
          break;
        }
        case "char-device":
        case "block-device":
          yield { ...base, type: st.type, devmajor: st.devmajor, devminor: st.devminor };
          break;
        case "fifo":
          yield { ...base, type: "fifo" };
          break;
        case "socket":
          break;
      }
    }
  }

  /** Releases what the view holds (the lease of {@link open}). */
  async close(): Promise<void> {
    await this.onClose?.();
  }
}
