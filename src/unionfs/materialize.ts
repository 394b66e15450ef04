/**
 * Writing a merged tree out as plain files: the copy fallback of `mount` where overlayfs is
 * not available, and the way to get an image's root file system from its snapshots.
 */
import fs from "node:fs";
import { CairnError } from "../errors/index.js";
import {
  BACKGROUND_MAX_FILE,
  BackgroundWriter,
  fsPath,
  isOverlayXattr,
  makeDevice,
  makeFifo,
  readTreeXattrs,
  writeXattrs,
  type XattrAssignment,
  type Xattrs,
  xattrTools,
} from "../layer/index.js";
import { DiskLayer } from "./disk-layer.js";
import type { LayerContent, LayerStack, NodeInfo } from "./stack.js";

/** A non-fatal event while materializing. */
export interface MaterializeWarning {
  code: "device-skipped" | "socket-skipped" | "xattr-failed";
  path: string;
  message: string;
}

/** Options for {@link materialize}. */
export interface MaterializeOptions {
  /**
   * `"copy"` (default): files are copied, so the tree can be changed freely: files up to 256 KiB
   * are written by worker threads, larger ones copied as reflinks where the file system can
   * (`COPYFILE_FICLONE`). `"link"`: files are hardlinks to
   * the snapshot files, for a tree that is only read (changing one would change the snapshot).
   */
  files?: "copy" | "link";
  /** No chown and no device nodes. Default: not root. */
  rootless?: boolean;
  /** Copy extended attributes (needs getfattr/setfattr; default: when they are installed). */
  xattrs?: boolean;
  onWarning?: (warning: MaterializeWarning) => void;
  signal?: AbortSignal;
}

/** What {@link materialize} wrote. */
export interface MaterializeResult {
  entries: number;
  /** Bytes of regular files (hardlinked names counted once). */
  bytes: number;
}

/**
 * Writes the merged tree of `stack` into the existing, empty directory `dest`.
 *
 * @example
 * ```ts
 * await materialize(store.stack(chain.snapshots), "/tmp/rootfs");
 * ```
 * @throws CairnError `E_IO`, `E_ABORTED`
 */
export async function materialize(
  stack: LayerStack,
  dest: string,
  options: MaterializeOptions = {},
): Promise<MaterializeResult> {
  const privileged = !(options.rootless ?? process.getuid?.() !== 0);
  const link = options.files === "link";
  const wantXattrs = options.xattrs ?? xattrTools().getfattr;
  const layerXattrs = new Map<number, Map<string, Xattrs>>();
  const pendingXattrs: XattrAssignment[] = [];
  const firstNames = new Map<string, string>();
  const result: MaterializeResult = { entries: 0, bytes: 0 };
  const warn = (w: MaterializeWarning) => options.onWarning?.(w);

  const xattrsOf = async (layerIndex: number, rel: string): Promise<Xattrs | undefined> => {
    const layer = stack.layers[layerIndex];
    if (!wantXattrs || !(layer instanceof DiskLayer)) return undefined;
    let all = layerXattrs.get(layerIndex);
    if (!all) {
      all = await readTreeXattrs(layer.root);
      layerXattrs.set(layerIndex, all);
    }
    const x = all.get(rel);
    if (!x) return undefined;
    const keep: Xattrs = {};
    let any = false;
    for (const [k, v] of Object.entries(x)) {
      if (isOverlayXattr(k)) continue;
      keep[k] = v;
      any = true;
    }
    return any ? keep : undefined;
  };

  const attributes = (abs: string, info: NodeInfo, symlink: boolean) => {
    const p = fsPath(abs);
    if (privileged) fs.lchownSync(p, info.uid, info.gid);
    if (!symlink) fs.chmodSync(p, info.mode);
    fs.lutimesSync(p, info.mtime, info.mtime);
  };

  // Small files are created on worker threads (see BackgroundWriter) while this thread walks on;
  // directory attributes wait until they are all written (a new entry changes a directory's mtime,
  // and a read-only mode would stop the creates without privileges).
  const writer = link ? undefined : BackgroundWriter.create(`materialize into ${dest}`);
  const directories: Array<{ abs: string; info: NodeInfo }> = [];

  const contentOf = async (layer: LayerContent, rel: string, host: string | undefined) => {
    if (host !== undefined) return [fs.readFileSync(fsPath(host))];
    const chunks: Uint8Array[] = [];
    for await (const chunk of await layer.open(rel)) chunks.push(chunk);
    return chunks;
  };

  /** Queues a small file for the writer threads; false when it must be written here. */
  const queued = async (
    layer: LayerContent,
    rel: string,
    abs: string,
    info: NodeInfo,
    host: string | undefined,
  ) => {
    if (!writer || info.size > BACKGROUND_MAX_FILE) return false;
    const content = await contentOf(layer, rel, host);
    let size = 0;
    for (const c of content) size += c.length;
    if (size > BACKGROUND_MAX_FILE) return false;
    const file = { path: abs, entry: rel, mode: info.mode, atime: info.mtime, mtime: info.mtime };
    await writer.add(rel, privileged ? { ...file, owner: { uid: info.uid, gid: info.gid } } : file, content);
    return true;
  };

  const writeContent = async (layer: LayerContent, rel: string, abs: string) => {
    const fd = fs.openSync(fsPath(abs), "wx", 0o600);
    try {
      for await (const chunk of await layer.open(rel)) {
        let off = 0;
        while (off < chunk.length) off += fs.writeSync(fd, chunk, off, chunk.length - off);
      }
    } finally {
      fs.closeSync(fd);
    }
  };

  const visit = async (rel: string, absDir: string): Promise<void> => {
    for (const [name, node] of stack.children(rel) ?? []) {
      if (options.signal?.aborted)
        throw new CairnError("E_ABORTED", `materializing into ${dest} was aborted`);
      const child = rel ? `${rel}/${name}` : name;
      const abs = `${absDir}/${name}`;
      const info = node.info;
      const layer = stack.layers[node.layer] as LayerContent;
      /** False when the attributes are set elsewhere: by the writer threads, or at the end. */
      let setAttributes = true;
      /** A second name of a file written already: nothing more to set. */
      let linked = false;
      switch (info.type) {
        case "directory":
          fs.mkdirSync(fsPath(abs), { mode: 0o700 });
          await visit(child, abs);
          if (writer) {
            directories.push({ abs, info });
            setAttributes = false;
          }
          break;
        case "file": {
          const key = info.linkKey !== undefined ? `${node.layer}:${info.linkKey}` : undefined;
          const first = key !== undefined ? firstNames.get(key) : undefined;
          if (first !== undefined) {
            fs.linkSync(fsPath(first), fsPath(abs));
            linked = true;
            break;
          }
          if (key !== undefined) firstNames.set(key, abs);
          result.bytes += info.size;
          const host = layer.hostPath?.(child);
          // a hardlinked file is linked to by name later: it is written here, at once
          if (key === undefined && (await queued(layer, child, abs, info, host))) {
            setAttributes = false;
          } else if (host !== undefined && link) {
            fs.linkSync(fsPath(host), fsPath(abs));
            linked = true;
          } else if (host !== undefined) {
            fs.copyFileSync(
              fsPath(host),
              fsPath(abs),
              fs.constants.COPYFILE_FICLONE | fs.constants.COPYFILE_EXCL,
            );
          } else {
            await writeContent(layer, child, abs);
          }
          break;
        }
        case "symlink":
          fs.symlinkSync(fsPath(layer.readlink(child)), fsPath(abs));
          break;
        case "char-device":
        case "block-device":
          if (!privileged) {
            warn({
              code: "device-skipped",
              path: `/${child}`,
              message: `${info.type} ${info.devmajor}:${info.devminor} not created without privileges`,
            });
            continue;
          }
          makeDevice(absDir, abs, info.type, info.devmajor, info.devminor, info.mode);
          break;
        case "fifo":
          makeFifo(absDir, abs, info.mode);
          break;
        case "socket":
          warn({ code: "socket-skipped", path: `/${child}`, message: "sockets are not copied" });
          continue;
      }
      result.entries++;
      if (linked) continue;
      if (setAttributes) attributes(abs, info, info.type === "symlink");
      const x = await xattrsOf(node.layer, child);
      if (x) pendingXattrs.push({ path: abs, xattrs: x });
    }
  };

  try {
    try {
      await visit("", dest.replace(/\/+$/, "") || "/");
      await writer?.flush();
    } finally {
      // on failure too: the caller may remove the tree next, and no queued write may land after
      await writer?.settle();
    }
    for (const d of directories) attributes(d.abs, d.info, false);
    const root = stack.lookup("");
    if (root) attributes(dest, root.info, false);
  } catch (e) {
    if (e instanceof CairnError) throw e;
    throw new CairnError("E_IO", `cannot materialize the image into ${dest}: ${(e as Error).message}`, {
      path: dest,
      cause: e,
    });
  }
  const errors = writeXattrs(pendingXattrs);
  if (errors)
    warn({ code: "xattr-failed", path: dest, message: `some extended attributes were not set: ${errors}` });
  return result;
}
