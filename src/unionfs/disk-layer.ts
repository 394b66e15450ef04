/**
 * A layer held on disk as a diff directory (a snapshot's `fs/`), with its whiteouts and opaque
 * directories known from the snapshot's metadata rather than from overlayfs markers, so the
 * same reading works with and without privileges.
 */
import fs, { type Stats } from "node:fs";
import { decodeName, deviceNumbers, fsPath } from "../layer/index.js";
import type { LayerContent, NodeInfo, NodeType } from "./stack.js";

function typeOf(st: Stats): NodeType {
  if (st.isDirectory()) return "directory";
  if (st.isFile()) return "file";
  if (st.isSymbolicLink()) return "symlink";
  if (st.isCharacterDevice()) return "char-device";
  if (st.isBlockDevice()) return "block-device";
  if (st.isFIFO()) return "fifo";
  return "socket";
}

/**
 * Describes what `lstat` returned as a {@link NodeInfo}.
 *
 * @example
 * ```ts
 * nodeInfo(fs.lstatSync("/etc/passwd")).mode // 0o644
 * ```
 */
export function nodeInfo(st: Stats): NodeInfo {
  const type = typeOf(st);
  const dev = type === "char-device" || type === "block-device" ? deviceNumbers(st.rdev) : undefined;
  const info: NodeInfo = {
    type,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    size: type === "file" ? st.size : 0,
    mtime: st.mtimeMs / 1000,
    devmajor: dev?.major ?? 0,
    devminor: dev?.minor ?? 0,
    nlink: st.nlink,
  };
  if (type !== "directory" && st.nlink > 1) info.linkKey = String(st.ino);
  return info;
}

/**
 * A diff directory as {@link LayerContent}.
 *
 * @example
 * ```ts
 * const layer = new DiskLayer("sha256:ab…", "/snapshots/sha256-ab…/fs", ["etc/old"], ["var/cache"]);
 * ```
 */
export class DiskLayer implements LayerContent {
  private readonly whiteouts: Set<string>;
  private readonly opaques: Set<string>;

  constructor(
    readonly name: string,
    readonly root: string,
    whiteouts: Iterable<string> = [],
    opaques: Iterable<string> = [],
  ) {
    this.whiteouts = new Set(whiteouts);
    this.opaques = new Set(opaques);
  }

  private abs(rel: string): string {
    return rel === "" ? this.root : `${this.root}/${rel}`;
  }

  stat(rel: string): NodeInfo | undefined {
    if (this.whiteouts.has(rel)) return undefined;
    try {
      return nodeInfo(fs.lstatSync(fsPath(this.abs(rel))));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR") return undefined;
      throw e;
    }
  }

  names(rel: string): string[] {
    const names = fs.readdirSync(fsPath(this.abs(rel)), { encoding: "buffer" }).map((b) => decodeName(b));
    if (this.whiteouts.size === 0) return names;
    return names.filter((n) => !this.whiteouts.has(rel ? `${rel}/${n}` : n));
  }

  readlink(rel: string): string {
    return decodeName(fs.readlinkSync(fsPath(this.abs(rel)), { encoding: "buffer" }));
  }

  isWhiteout(rel: string): boolean {
    return this.whiteouts.has(rel);
  }

  isOpaque(rel: string): boolean {
    return this.opaques.has(rel);
  }

  async open(rel: string): Promise<AsyncIterable<Uint8Array>> {
    return fs.createReadStream(fsPath(this.abs(rel)), { highWaterMark: 1 << 20 });
  }

  hostPath(rel: string): string {
    return this.abs(rel);
  }
}
