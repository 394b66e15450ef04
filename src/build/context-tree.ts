/**
 * The build context and heredoc files as {@link SourceTree}s. Context files are owned by 0:0
 * (as BuildKit sends them) and their times are set to the build's epoch, so a layer depends on
 * what the files hold, not on when they were touched.
 */
import { createReadStream, readFileSync, readlinkSync, statSync } from "node:fs";
import { type ContextIndex, contextFilePath } from "../dockerfile/index.js";
import { CairnError } from "../errors/index.js";
import type { ContentSource } from "../layer/index.js";
import { baseName, parentRel, type SourceTree, type TreeNode } from "./tree.js";

function sortNames(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/**
 * The files `.dockerignore` keeps in a build context.
 *
 * @example
 * ```ts
 * const tree = new ContextTree(await indexContext("./app", ignore), 0);
 * ```
 */
export class ContextTree implements SourceTree {
  readonly name = "build context";
  private readonly children = new Map<string, Set<string>>([["", new Set()]]);

  constructor(
    private readonly index: ContextIndex,
    private readonly mtime: number,
  ) {
    for (const rel of index.entries.keys()) {
      let child = rel;
      while (child !== "") {
        const parent = parentRel(child);
        let set = this.children.get(parent);
        if (!set) {
          set = new Set();
          this.children.set(parent, set);
        }
        set.add(baseName(child));
        child = parent;
      }
    }
  }

  lstat(rel: string): TreeNode | undefined {
    const base = { uid: 0, gid: 0, mtime: this.mtime };
    if (rel === "") return { type: "directory", mode: 0o755, size: 0, ...base };
    const e = this.index.entries.get(rel);
    if (!e) {
      // A directory that is ignored but holds re-included files.
      return this.children.has(rel) ? { type: "directory", mode: 0o755, size: 0, ...base } : undefined;
    }
    if (e.type === "symlink") {
      return {
        type: "symlink",
        mode: 0o777,
        size: 0,
        linkname: readlinkSync(this.hostPath(rel)),
        ...base,
      };
    }
    const node: TreeNode = {
      type: e.type === "dir" ? "directory" : "file",
      mode: e.mode,
      size: e.size,
      ...base,
    };
    if (e.inode !== undefined) node.linkKey = e.inode;
    return node;
  }

  list(rel: string): string[] {
    return sortNames(this.children.get(rel) ?? []);
  }

  /** Where a context file is on disk. */
  hostPath(rel: string): string {
    return contextFilePath(this.index, rel);
  }

  content(rel: string): ContentSource {
    const e = this.index.entries.get(rel);
    if (e?.type !== "file") throw new CairnError("E_NOT_FOUND", `no file ${rel} in the build context`);
    return openFileContent(this.hostPath(rel), e.size);
  }
}

/** One file for an {@link InlineTree}. */
export interface InlineFileSpec {
  name: string;
  /** The bytes, or a file on disk holding them. */
  data: string | Uint8Array | { file: string; size: number };
  mode?: number;
  /** Modification time in seconds (default: the tree's). */
  mtime?: number;
}

function sizeOf(data: InlineFileSpec["data"]): number {
  if (typeof data === "string") return Buffer.byteLength(data);
  if (data instanceof Uint8Array) return data.byteLength;
  return data.size;
}

/**
 * Files given in memory, at the top of a tree: COPY heredocs, downloaded ADD URLs.
 *
 * @example
 * ```ts
 * const tree = new InlineTree("heredoc", [{ name: "hello.sh", data: "echo hi\n" }], 0);
 * ```
 */
export class InlineTree implements SourceTree {
  private readonly files = new Map<string, InlineFileSpec>();

  constructor(
    readonly name: string,
    files: readonly InlineFileSpec[],
    private readonly mtime: number,
  ) {
    for (const f of files) this.files.set(f.name, f);
  }

  lstat(rel: string): TreeNode | undefined {
    if (rel === "") return { type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: this.mtime };
    const f = this.files.get(rel);
    if (!f) return undefined;
    return {
      type: "file",
      mode: f.mode ?? 0o644,
      uid: 0,
      gid: 0,
      size: sizeOf(f.data),
      mtime: f.mtime ?? this.mtime,
    };
  }

  list(rel: string): string[] {
    return rel === "" ? sortNames(this.files.keys()) : [];
  }

  content(rel: string): ContentSource {
    const f = this.files.get(rel);
    if (!f) throw new CairnError("E_NOT_FOUND", `no file ${rel} in ${this.name}`);
    const data = f.data;
    if (typeof data === "string") return data;
    if (data instanceof Uint8Array) return new Uint8Array(data);
    return openFileContent(data.file);
  }
}

const SMALL_FILE = 1 << 20;

/**
 * A file's bytes as layer content: files up to 1 MiB are read whole (a 1 MiB stream buffer per
 * small file made a cold COPY of 30,000 files spend a third of its time in GC); larger ones stream.
 */
function openFileContent(file: string, size?: number): ContentSource {
  return () => {
    const known = size ?? statSync(file).size;
    if (known <= SMALL_FILE) return readWhole(file);
    return createReadStream(file, { highWaterMark: SMALL_FILE });
  };
}

// Synchronous: a thread-pool round trip per small file costs more than the read itself.
async function* readWhole(file: string): AsyncIterable<Uint8Array> {
  yield readFileSync(file);
}
