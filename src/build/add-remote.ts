/**
 * ADD's two extras over COPY: URL sources (downloaded, checked against `--checksum`, named after
 * the URL or Content-Disposition, mode 0600, time from Last-Modified) and local tar archives
 * (identity, gzip, bzip2, xz or zstd), which are unpacked into the destination instead of
 * copied. An unpacked archive is read into a temporary directory and served as a tree.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, open } from "node:fs/promises";
import path from "node:path";
import { PassThrough, Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import type { Digest } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import { type ContentSource, decompressStream, readTar } from "../layer/index.js";
import { viewPath } from "../unionfs/index.js";
import { type InlineFileSpec, InlineTree } from "./context-tree.js";
import { baseName, parentRel, type SourceTree, type TreeNode } from "./tree.js";

type ArchiveKind = "tar" | "gzip" | "bzip2" | "xz" | "zstd";

function compressionOf(head: Buffer): ArchiveKind {
  if (head[0] === 0x1f && head[1] === 0x8b) return "gzip";
  if (head.subarray(0, 3).toString("latin1") === "BZh") return "bzip2";
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return "xz";
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return "zstd";
  return "tar";
}

function external(cmd: string, input: Readable): Readable {
  const child = spawn(cmd, ["-dc"], { stdio: ["pipe", "pipe", "ignore"] });
  const out = new PassThrough();
  child.on("error", (e) =>
    out.destroy(
      new CairnError(
        "E_IO",
        `cannot decompress with ${cmd}: ${e.message} (install it: apt-get install ${cmd === "xz" ? "xz-utils" : cmd})`,
      ),
    ),
  );
  child.on("close", (code) => {
    if (code !== 0 && code !== null)
      out.destroy(new CairnError("E_ARCHIVE_INVALID", `${cmd} -dc failed (exit ${code})`));
  });
  input.on("error", (e) => child.stdin.destroy(e));
  child.stdin.on("error", () => {});
  input.pipe(child.stdin);
  child.stdout.pipe(out);
  return out;
}

function decompressed(file: string, kind: ArchiveKind): Readable {
  const raw = createReadStream(file, { highWaterMark: 1 << 20 });
  switch (kind) {
    case "tar":
      return raw;
    case "gzip":
      return raw.pipe(createGunzip());
    case "zstd":
      return raw.pipe(decompressStream("zstd"));
    case "bzip2":
      return external("bzip2", raw);
    case "xz":
      return external("xz", raw);
  }
}

function validTarHeader(block: Buffer): boolean {
  if (block.length < 512) return false;
  const stored = block.subarray(148, 156).toString("latin1").replace(/\0.*$/s, "").trim();
  if (!/^[0-7]+$/.test(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] as number);
  return sum === Number.parseInt(stored, 8);
}

async function firstBytes(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  try {
    for await (const c of stream) {
      chunks.push(Buffer.from(c as Buffer));
      have += (c as Buffer).length;
      if (have >= n) break;
    }
  } catch {
    // A stream that fails to decompress is not an archive.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}

/**
 * The archive kind of a file ADD would unpack, or undefined for a file ADD copies as is.
 *
 * @example
 * ```ts
 * await archiveKind("app.tar.gz") // "gzip"
 * ```
 */
export async function archiveKind(file: string): Promise<ArchiveKind | undefined> {
  const fh = await open(file, "r");
  const head = Buffer.alloc(8);
  let n: number;
  try {
    n = (await fh.read(head, 0, 8, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  if (n === 0) return undefined;
  const kind = compressionOf(head.subarray(0, n));
  const block = await firstBytes(decompressed(file, kind), 512);
  return validTarHeader(block) ? kind : undefined;
}

/** A tar archive unpacked into a temporary directory, as a tree (ownership from the archive). */
class ArchiveTree implements SourceTree {
  readonly nodes = new Map<string, TreeNode & { file?: string }>();
  readonly children = new Map<string, Set<string>>([["", new Set()]]);
  constructor(readonly name: string) {
    this.nodes.set("", { type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 });
  }
  lstat(rel: string): TreeNode | undefined {
    return this.nodes.get(rel);
  }
  list(rel: string): string[] {
    return [...(this.children.get(rel) ?? [])].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  }
  content(rel: string): ContentSource {
    const file = this.nodes.get(rel)?.file;
    if (file === undefined) throw new CairnError("E_NOT_FOUND", `${this.name}: no file ${rel}`);
    return () => createReadStream(file, { highWaterMark: 1 << 20 });
  }
  put(rel: string, node: TreeNode & { file?: string }): void {
    if (rel === "") {
      if (node.type === "directory") this.nodes.set("", node);
      return;
    }
    let parent = parentRel(rel);
    const missing: string[] = [];
    while (parent !== "" && this.nodes.get(parent)?.type !== "directory") {
      missing.unshift(parent);
      parent = parentRel(parent);
    }
    for (const dir of missing)
      this.put(dir, { type: "directory", mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0 });
    const prior = this.nodes.get(rel);
    if (prior?.type === "directory" && node.type === "directory") {
      this.nodes.set(rel, node);
      return;
    }
    this.nodes.set(rel, node);
    if (node.type === "directory") this.children.set(rel, new Set());
    let set = this.children.get(parentRel(rel));
    if (!set) {
      set = new Set();
      this.children.set(parentRel(rel), set);
    }
    set.add(baseName(rel));
  }
}

/**
 * Reads a (possibly compressed) tar archive into a tree, file contents kept in `tmpDir`.
 *
 * @example
 * ```ts
 * const tree = await unpackArchive("app.tar.gz", "gzip", "/tmp/cairn-add-1");
 * ```
 * @throws CairnError `E_ARCHIVE_INVALID` / `E_LAYER_INVALID` for a broken archive
 */
export async function unpackArchive(file: string, kind: ArchiveKind, tmpDir: string): Promise<SourceTree> {
  await mkdir(tmpDir, { recursive: true });
  const tree = new ArchiveTree(`archive ${path.basename(file)}`);
  let n = 0;
  for await (const entry of readTar(decompressed(file, kind))) {
    const h = entry.header;
    const rel = viewPath(h.name);
    const base = { mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: Math.floor(h.mtime), size: 0 };
    switch (h.type) {
      case "directory":
        tree.put(rel, { type: "directory", ...base });
        break;
      case "file": {
        const out = path.join(tmpDir, `f${n++}`);
        await pipeline(Readable.from(entry.body()), createWriteStream(out));
        tree.put(rel, { type: "file", ...base, size: h.size, file: out });
        break;
      }
      case "hardlink": {
        const targetRel = viewPath(h.linkname);
        const target = tree.nodes.get(targetRel);
        if (target?.type === "file") {
          target.linkKey ??= targetRel;
          tree.put(rel, { ...target });
        }
        break;
      }
      case "symlink":
        tree.put(rel, { type: "symlink", ...base, linkname: h.linkname });
        break;
      case "char-device":
      case "block-device":
        tree.put(rel, { type: h.type, ...base, devmajor: h.devmajor, devminor: h.devminor });
        break;
      case "fifo":
        tree.put(rel, { type: "fifo", ...base });
        break;
      default:
        break;
    }
  }
  return tree;
}

/** A downloaded ADD URL. */
export interface Download {
  /** The file name the URL gives (Content-Disposition, else the last path element). */
  name: string;
  file: string;
  size: number;
  digest: Digest;
  /** From Last-Modified, in seconds. */
  mtime?: number;
}

function nameFrom(url: URL, disposition: string | null): string {
  if (disposition) {
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
    const n = m?.[1] ? path.posix.basename(decodeURIComponent(m[1])) : "";
    if (n && n !== "." && n !== "..") return n;
  }
  const last = url.pathname
    .split("/")
    .filter((p) => p !== "")
    .pop();
  const n = last ? decodeURIComponent(last) : "";
  return n && n !== "." && n !== ".." && !n.includes("/") ? n : "__unnamed__";
}

/**
 * Downloads an ADD URL into `tmpDir`, verifying `--checksum` (`sha256:…`, `sha384:…`, `sha512:…`)
 * when given.
 *
 * @example
 * ```ts
 * const d = await downloadUrl("http://127.0.0.1:8080/app.tgz", { tmpDir, checksum: "sha256:…" });
 * ```
 * @throws CairnError `E_NOT_FOUND` / `E_IO` for HTTP failures, `E_DIGEST_MISMATCH` for a wrong checksum
 */
export async function downloadUrl(
  url: string,
  options: { tmpDir: string; checksum?: string; signal?: AbortSignal },
): Promise<Download> {
  const parsed = new URL(url);
  let response: Response;
  try {
    response = await fetch(parsed, {
      redirect: "follow",
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    throw new CairnError("E_IO", `ADD ${url}: download failed: ${(err as Error).message}`, { cause: err });
  }
  if (!response.ok || !response.body) {
    throw new CairnError(
      response.status === 404 ? "E_NOT_FOUND" : "E_IO",
      `ADD ${url}: the server answered ${response.status} ${response.statusText}`,
      { details: { expected: "200 OK" } },
    );
  }
  await mkdir(options.tmpDir, { recursive: true });
  const file = path.join(options.tmpDir, `download-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  let algorithm: "sha256" | "sha384" | "sha512" = "sha256";
  let expected: string | undefined;
  if (options.checksum !== undefined) {
    const m = /^(sha256|sha384|sha512):([0-9a-f]+)$/.exec(options.checksum);
    if (!m) {
      throw new CairnError(
        "E_USAGE",
        `ADD --checksum=${options.checksum}: expected sha256:<hex> (or sha384, sha512)`,
      );
    }
    algorithm = m[1] as typeof algorithm;
    expected = options.checksum;
  }
  const sha256 = createHash("sha256");
  const other = algorithm === "sha256" ? undefined : createHash(algorithm);
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sha256.update(chunk);
      other?.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(response.body as import("node:stream/web").ReadableStream),
      tap,
      createWriteStream(file),
    );
  } catch (err) {
    if (isCairnError(err)) throw err;
    throw new CairnError("E_IO", `ADD ${url}: download failed: ${(err as Error).message}`, { cause: err });
  }
  const digest = `sha256:${sha256.digest("hex")}` as Digest;
  const actual = other ? `${algorithm}:${other.digest("hex")}` : digest;
  if (expected !== undefined && actual !== expected) {
    throw new CairnError(
      "E_DIGEST_MISMATCH",
      `ADD ${url}: checksum mismatch: expected ${expected}, got ${actual}`,
      {
        details: { expected, found: actual },
      },
    );
  }
  const out: Download = {
    name: nameFrom(parsed, response.headers.get("content-disposition")),
    file,
    size,
    digest,
  };
  const lm = response.headers.get("last-modified");
  if (lm) {
    const t = Date.parse(lm);
    if (Number.isFinite(t)) out.mtime = Math.floor(t / 1000);
  }
  return out;
}

/** The tree ADD copies a download from: the one file, mode 0600. *
 * @example
 * ```ts
 * const tree = downloadTree(await downloadUrl(url, { tmpDir }), 0);
 * ```
 */
export function downloadTree(d: Download, mtime: number): InlineTree {
  const spec: InlineFileSpec = {
    name: d.name,
    data: { file: d.file, size: d.size },
    mode: 0o600,
    mtime: d.mtime ?? mtime,
  };
  return new InlineTree(`download ${d.name}`, [spec], mtime);
}
