/**
 * Applying a layer to a directory, as OCI image-spec layer.md describes: whiteouts and opaque
 * markers hide lower layers only (never entries of the same layer, whatever their order), a
 * directory over a directory merges, anything else over an existing path replaces it.
 * Entries are untrusted; see safe-path.ts for how they are kept inside the root.
 *
 * A failure leaves the directory partly changed. For a first layer use
 * {@link unpackLayerAtomic}; over an existing tree, unpack into a snapshot's private copy and
 * commit by rename (the unionfs snapshotter's job).
 *
 * Speed: nothing is looked at before a create (the create's EEXIST says something is there),
 * directories this run made or walked through are trusted without another lstat, and small
 * new files are created on writer threads (background-writer.ts) while the main thread reads
 * on. Any entry that could look at or remove what is queued, or its parents, waits for the
 * queue first (`mustWaitForWriter`), so the result is that of writing every entry in order.
 *
 * With the `diff` option a layer is applied as a diff instead (an overlayfs upper directory
 * over read-only lower layers): the directory receives only this layer's entries, markers
 * are recorded (and written in overlayfs form with privileges), missing parents are looked up
 * in the lower layers, and hardlink targets from lower layers are copied up.
 */

import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { pipeline } from "node:stream";
import type { Digest } from "../digest/index.js";
import { CairnError, isCairnError } from "../errors/index.js";
import { isExistsError, writeChunks } from "./apply-fs.js";
import { BACKGROUND_MAX_FILE, BackgroundWriter } from "./background-writer.js";
import { type Compression, type OpenLayerOptions, openLayerStream } from "./compression.js";
import {
  chmodSync,
  createExclusive,
  lchownSync,
  linkSync,
  lstatOrUndefined,
  lutimesSync,
  mkdirSync,
  readdirNames,
  removePath,
  symlinkSync,
  writeAll,
} from "./fs-sync.js";
import { HashTap } from "./hash-tap.js";
import { fsPath } from "./names.js";
import {
  cleanName,
  invalidHardlink,
  type LowerEntry,
  type LowerLayers,
  realRoot,
  SafeRoot,
  type UnsafePathPolicy,
} from "./safe-path.js";
import { makeDevice, makeFifo } from "./special-files.js";
import { readTar, type TarEntry, type TarHeader } from "./tar-read.js";
import { hiddenByAncestor, parseWhiteout } from "./whiteout.js";
import { isOverlayXattr, writeXattrs, type Xattrs } from "./xattr.js";

/** Kinds of things {@link applyLayer} had to skip or change; each comes with the entry path. */
export type ApplyWarningCode =
  | "device-skipped"
  | "ownership-skipped"
  | "xattr-failed"
  | "overlay-xattr-skipped"
  | "parent-replaced"
  | "whiteout-metadata-skipped"
  | "volume-label-skipped";

/** A non-fatal event while applying a layer. */
export interface ApplyWarning {
  code: ApplyWarningCode;
  /** The tar entry (or path) concerned. */
  path: string;
  message: string;
}

/** Progress of {@link applyLayer}. */
export interface ApplyProgress {
  entries: number;
  /** Uncompressed tar bytes read so far. */
  bytes: number;
}

/**
 * Applying a layer as a diff: the target directory receives only this layer's own entries,
 * as an overlayfs upper directory would hold them (containerd's overlay snapshotter form).
 * Whiteouts and opaque markers are not applied but recorded in the result, and written as
 * overlayfs markers when `overlayMarkers` is set.
 */
export interface DiffApplyOptions {
  /** The merged layers below this one; omit for the first layer. */
  lower?: LowerLayers;
  /**
   * Also write overlayfs markers: a 0:0 character device per whiteout, the
   * `trusted.overlay.opaque=y` xattr per opaque directory (needs root; default: when privileged).
   */
  overlayMarkers?: boolean;
}

/** A whiteout or opaque directory recorded by a diff-mode {@link applyLayer}. */
export interface RecordedWhiteout {
  /** `whiteout`: hides `path` of lower layers; `opaque`: hides every lower child of directory `path`. */
  kind: "whiteout" | "opaque";
  /** The path relative to the root ("" for the root directory). */
  path: string;
}

/** Options for {@link applyLayer}. */
export interface ApplyLayerOptions extends Omit<OpenLayerOptions, "onCompression"> {
  /**
   * Apply without privileges: no chown, no device nodes (a warning per skipped entry).
   * Default: true unless running as root.
   */
  rootless?: boolean;
  /** `"reject"` (default) fails on `..` escapes, absolute names and symlinks out of the root; `"clamp"` maps them into it. */
  unsafePaths?: UnsafePathPolicy;
  /** Set `SCHILY.xattr.*` attributes (default true; needs `setfattr`, else a warning). */
  xattrs?: boolean;
  /** Fail with `E_DIGEST_MISMATCH` at the end when the uncompressed tar has another digest. */
  expectedDiffId?: string;
  onWarning?: (warning: ApplyWarning) => void;
  onProgress?: (progress: ApplyProgress) => void;
  signal?: AbortSignal;
  /** Apply as a diff over lower layers instead of onto the merged tree (see {@link DiffApplyOptions}). */
  diff?: DiffApplyOptions;
}

/** What {@link applyLayer} did. */
export interface ApplyLayerResult {
  /** sha256 of the uncompressed tar. */
  diffId: Digest;
  compression: Compression;
  /** Tar entries read (including whiteouts and skipped ones). */
  entries: number;
  uncompressedBytes: number;
  /** With `diff`: the whiteouts and opaque directories that take effect over the lower layers. */
  whiteouts?: RecordedWhiteout[];
}

interface DirMeta {
  mode: number;
  atime: number;
  mtime: number;
}

interface PendingXattrs {
  rel: string;
  abs: string;
  ino: number;
  xattrs: Xattrs;
}

/** File content is written out in batches of about this many bytes (one writev each). */
const WRITE_BATCH = 256 * 1024;

function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

/** The state of one layer application. */
class Applier {
  readonly root: SafeRoot;
  private readonly privileged: boolean;
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  /** Paths (real, relative) created by this layer, and every ancestor of them. */
  private readonly seen = new Set<string>();
  private readonly seenAncestors = new Set<string>();
  /**
   * Directories made by a directory entry of this run: they started empty, so the fast path of
   * {@link directory} tries mkdir in them before looking (EEXIST still falls back to looking).
   */
  private readonly createdDirs = new Set<string>();
  /** Creates small new files on worker threads. */
  readonly writer: BackgroundWriter | undefined;
  private readonly dirMeta = new Map<string, DirMeta>();
  /**
   * Directories of lower layers this layer changes (adds, replaces or removes children) without
   * an entry of its own: their times before the change, put back at the end, as umoci does and
   * as the snapshot path gives (diff mode copies them up with the lower times).
   */
  private readonly keptTimes = new Map<string, { atime: number; mtime: number }>();
  private readonly xattrQueue: PendingXattrs[] = [];
  private ownershipSkipped = 0;
  /** Without privileges: directories made owner-writable to write into them, with their modes. */
  private readonly restoreModes = new Map<string, number>();
  /** Diff mode: markers met, resolved at the end (whether they hide anything depends on the whole layer). */
  private readonly pendingWhiteouts: RecordedWhiteout[] = [];
  /** Diff mode: what this layer's markers met so far hide below, for resolving its later entries. */
  private readonly hiddenPaths = new Set<string>();
  private readonly hiddenChildren = new Set<string>();
  /** Diff mode: lower files copied here as hardlink targets. */
  private readonly copiedUp = new Set<string>();
  readonly recorded: RecordedWhiteout[] = [];

  constructor(
    rootDir: string,
    private readonly options: ApplyLayerOptions,
  ) {
    this.privileged = !(options.rootless ?? this.uid !== 0);
    this.writer = BackgroundWriter.create();
    this.root = new SafeRoot(
      rootDir,
      options.unsafePaths ?? "reject",
      {
        onReplacedParent: (rel, entry) => {
          this.warn(
            "parent-replaced",
            entry,
            `parent ${JSON.stringify(rel)} was not a directory: replaced by one`,
          );
          this.replacedByDir(rel);
        },
        onCopyUpDir: (rel, lower) => this.copyUpDir(rel, lower),
      },
      options.diff?.lower ? this.visibleLower(options.diff.lower) : undefined,
    );
    const lowerRoot = options.diff?.lower?.lstat("");
    if (lowerRoot?.type === "directory") this.copyUpDir("", lowerRoot);
  }

  /** True when a marker of this layer met so far hides a proper ancestor's lower content of `rel`. */
  private hiddenAbove(rel: string): boolean {
    return hiddenByAncestor(rel, this.hiddenPaths, this.hiddenChildren);
  }

  /**
   * The lower layers as this layer's later entries see them: a whiteout or opaque marker
   * already met hides what it names, as applying it to the merged tree would have.
   */
  private visibleLower(lower: LowerLayers): LowerLayers {
    const hidden = (rel: string): boolean => this.hiddenPaths.has(rel) || this.hiddenAbove(rel);
    return {
      lstat: (rel) => (hidden(rel) ? undefined : lower.lstat(rel)),
      readlink: (rel) => lower.readlink(rel),
      hostPath: (rel) => (hidden(rel) ? undefined : lower.hostPath(rel)),
      linkedNames: (rel) => (lower.linkedNames?.(rel) ?? []).filter((n) => !hidden(n)),
    };
  }

  /**
   * Diff mode: a directory that replaces this layer's own non-directory starts empty, as on
   * the merged tree, where that non-directory had already removed the lower directory.
   */
  private replacedByDir(rel: string): void {
    if (!this.options.diff) return;
    this.pendingWhiteouts.push({ kind: "opaque", path: rel });
    this.hiddenChildren.add(rel);
  }

  /** A lower directory recreated here takes the lower one's attributes, as overlayfs copy-up does. */
  private copyUpDir(rel: string, lower: LowerEntry): void {
    const abs = this.root.abs(rel);
    if (this.privileged) lchownSync(abs, lower.uid, lower.gid);
    chmodSync(abs, this.privileged ? lower.mode : lower.mode | 0o700);
    this.dirMeta.set(rel, { mode: lower.mode, atime: lower.mtime, mtime: lower.mtime });
  }

  private warn(code: ApplyWarningCode, path: string, message: string): void {
    this.options.onWarning?.({ code, path, message });
  }

  async apply(e: TarEntry): Promise<void> {
    const h = e.header;
    try {
      await this.applyEntry(e, h);
    } catch (err) {
      if (isCairnError(err)) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new CairnError("E_IO", `cannot apply layer entry ${JSON.stringify(h.name)}: ${msg}`, {
        path: h.name,
        cause: err,
      });
    }
  }

  private async applyEntry(e: TarEntry, h: TarHeader): Promise<void> {
    if (h.type === "pax-global-header") return;
    if (h.type === "gnu-volume-label") {
      this.warn("volume-label-skipped", h.name, "GNU volume label entry ignored");
      return;
    }
    if (h.type === "unknown") {
      throw new CairnError(
        "E_LAYER_INVALID",
        `layer entry ${JSON.stringify(h.name)} has unsupported tar type ${JSON.stringify(h.typeflag)}`,
        {
          path: h.name,
          details: { typeflag: h.typeflag },
        },
      );
    }
    const policy = this.root.policy;
    const parts = cleanName(h.name, policy);
    if (parts.length === 0) {
      if (h.type !== "directory") {
        throw new CairnError(
          "E_LAYER_INVALID",
          `layer entry ${JSON.stringify(h.name)} names the root but is a ${h.type}`,
          {
            path: h.name,
          },
        );
      }
      this.dirAttributes("", h);
      return;
    }
    const base = parts[parts.length - 1] as string;
    const wh = parseWhiteout(base, h.name);
    if (this.writer?.busy && this.mustWaitForWriter(h, parts, wh.kind)) await this.writer.flush();
    if (wh.kind === "opaque") return this.opaque(parts, h.name);
    if (wh.kind === "whiteout") return this.whiteout(parts, wh.target, h.name);
    if (wh.kind === "meta" || parts.slice(0, -1).some((p) => p.startsWith(".wh."))) {
      this.warn("whiteout-metadata-skipped", h.name, "AUFS whiteout metadata is never materialised");
      return;
    }
    const parent = this.root.resolveParent(parts, h.name, "create") as string[];
    const rel = [...parent, base].join("/");
    const abs = this.root.abs(rel);
    this.keepTimes(parent.length === 0 ? "" : parent.join("/"));
    // No lstat up front: each kind below learns what is already at `rel` from its own create
    // call (EEXIST) or from what this run knows, and looks only when something is there.
    switch (h.type) {
      case "directory":
        this.directory(rel, abs, h);
        break;
      case "hardlink":
        this.hardlink(rel, abs, h);
        break;
      case "file":
        await this.file(rel, abs, e);
        break;
      case "symlink":
        await this.replace(rel, abs, () => symlinkSync(h.linkname, abs));
        this.owner(abs, h);
        lutimesSync(abs, h.atime ?? h.mtime, h.mtime);
        this.queueXattrs(rel, abs, h);
        break;
      case "char-device":
      case "block-device":
      case "fifo": {
        const existing = lstatOrUndefined(abs);
        if (existing) this.remove(rel, abs, existing.isDirectory());
        if (!this.special(rel, abs, parent, h, h.type)) return;
        break;
      }
    }
    this.markSeen(rel);
  }

  /**
   * Whether an entry must wait for the files queued on the writer thread. Only creating a new
   * directory, file or symlink at a path nothing is queued for, in a directory already known
   * to be real (so resolving the parent touches nothing), may run alongside them: everything
   * else (whiteouts, hardlinks, devices, parents to look up or replace) may look at or remove
   * what the queued files are, or where they go.
   */
  private mustWaitForWriter(h: TarHeader, parts: string[], kind: string): boolean {
    if (kind === "opaque" || kind === "whiteout") return true;
    if (h.type !== "file" && h.type !== "directory" && h.type !== "symlink") return true;
    const parent = parts.slice(0, -1).join("/");
    if (!this.root.isKnownDir(parent)) return true;
    return this.writer?.pending.has(parts.join("/")) ?? false;
  }

  /**
   * A directory entry: merges into a directory already there, replaces anything else. A
   * directory this run created or walked through is still one (every removal goes through
   * {@link remove}, which forgets it), so only unknown paths are looked at.
   */
  private directory(rel: string, abs: string, h: TarHeader): void {
    if (!this.root.isKnownDir(rel)) {
      // In a directory this run created, only what this run put there can be in the way: try
      // mkdir first. Elsewhere (lower layers' directories) look first, as most are there.
      let created = this.surelyFree(rel) && this.mkdirIfFree(rel, abs);
      if (!created) {
        const existing = lstatOrUndefined(abs);
        if (!existing?.isDirectory()) {
          this.writable(rel, () => {
            if (existing) removePath(abs, false);
            mkdirSync(abs, 0o700);
          });
          if (existing) this.replacedByDir(rel);
          created = true;
        }
      }
      if (created) this.createdDirs.add(rel);
      this.root.markDir(rel);
    }
    this.dirAttributes(rel, h);
  }

  /** mkdir, or false when something (of any kind) is already at `abs`. */
  private mkdirIfFree(rel: string, abs: string): boolean {
    try {
      this.writable(rel, () => mkdirSync(abs, 0o700));
      return true;
    } catch (err) {
      if (isExistsError(err)) return false;
      throw err;
    }
  }

  /** Device nodes and FIFOs (the path is free); false when skipped without privileges. */
  private special(
    rel: string,
    abs: string,
    parent: string[],
    h: TarHeader,
    kind: "char-device" | "block-device" | "fifo",
  ): boolean {
    const dir = this.root.abs(parent.join("/"));
    if (kind === "fifo") {
      this.writable(rel, () => fs.accessSync(dir, fs.constants.W_OK));
      makeFifo(dir, abs, h.mode);
    } else {
      if (!this.privileged) {
        this.warn(
          "device-skipped",
          h.name,
          `${kind} ${h.devmajor}:${h.devminor} not created without privileges`,
        );
        return false;
      }
      makeDevice(dir, abs, kind, h.devmajor, h.devminor, h.mode);
    }
    this.owner(abs, h);
    chmodSync(abs, h.mode & 0o7777);
    lutimesSync(abs, h.atime ?? h.mtime, h.mtime);
    this.queueXattrs(rel, abs, h);
    return true;
  }

  /**
   * Creates a non-directory at `rel` with `make`, a call that fails with EEXIST when anything
   * (even a dangling symlink) is there; whatever is there is then removed and `make` runs again.
   */
  private async replace<T>(rel: string, abs: string, make: () => T): Promise<T> {
    try {
      return this.writable(rel, make);
    } catch (err) {
      if (!isExistsError(err)) throw err;
    }
    // What is there may be a directory holding queued files.
    await this.writer?.flush();
    const existing = lstatOrUndefined(abs);
    if (existing) this.remove(rel, abs, existing.isDirectory());
    return this.writable(rel, make);
  }

  /**
   * Runs a change inside the parent of `rel`. Without privileges, a read-only parent (say
   * 0555 from a lower layer) is made owner-writable for it and its mode restored at the end.
   */
  private writable<T>(rel: string, change: () => T): T {
    try {
      return change();
    } catch (e) {
      if (this.privileged || (e as NodeJS.ErrnoException).code !== "EACCES") throw e;
      const parent = parentOf(rel);
      const abs = this.root.abs(parent);
      const st = lstatOrUndefined(abs);
      if (!st?.isDirectory() || !this.root.isKnownDir(parent) || (st.mode & 0o700) === 0o700) throw e;
      if (!this.restoreModes.has(parent)) this.restoreModes.set(parent, st.mode & 0o7777);
      chmodSync(abs, (st.mode & 0o7777) | 0o700);
      return change();
    }
  }

  private markSeen(rel: string): void {
    this.seen.add(rel);
    let p = rel;
    for (let i = p.lastIndexOf("/"); i >= 0; i = p.lastIndexOf("/")) {
      p = p.slice(0, i);
      if (this.seenAncestors.has(p)) break;
      this.seenAncestors.add(p);
    }
  }

  private remove(rel: string, abs: string, isDir: boolean): void {
    if (this.writer?.busy) {
      // Unreachable by construction (see mustWaitForWriter); a removal must never race a queued write.
      throw new CairnError("E_IO", `internal error: removing ${JSON.stringify(rel)} while files are queued`, {
        path: rel,
      });
    }
    this.writable(rel, () => removePath(abs, isDir));
    if (!isDir) return;
    this.root.forget(rel, true);
    const prefix = `${rel}/`;
    for (const k of this.dirMeta.keys()) if (k === rel || k.startsWith(prefix)) this.dirMeta.delete(k);
  }

  private owner(abs: string, h: TarHeader, fd?: number): void {
    if (this.privileged) {
      if (fd === undefined) lchownSync(abs, h.uid, h.gid);
      else fs.fchownSync(fd, h.uid, h.gid);
    } else if (h.uid !== this.uid || h.gid !== this.gid) {
      this.ownershipSkipped++;
    }
  }

  private dirAttributes(rel: string, h: TarHeader): void {
    const abs = this.root.abs(rel);
    const mode = h.mode & 0o7777;
    this.owner(abs, h);
    // Without privileges the owner must keep rwx until every child is written.
    chmodSync(abs, this.privileged ? mode : mode | 0o700);
    this.dirMeta.set(rel, { mode, atime: h.atime ?? h.mtime, mtime: h.mtime });
    this.queueXattrs(rel, abs, h);
  }

  /**
   * Whether the writer thread may create this file: small, plain, no xattrs to queue (they
   * need the file's inode now), and its path surely free: in a directory this run created,
   * at a name this run has not used, or (with privileges, where no directory mode can stop
   * the write) found free by lstat. Nothing else writes that path until the writer is
   * flushed: every later entry naming it waits first (see mustWaitForWriter).
   */
  private freeForBackground(rel: string, abs: string, h: TarHeader): boolean {
    if (h.sparse || h.size > BACKGROUND_MAX_FILE) return false;
    if (this.options.xattrs !== false && Object.keys(h.xattrs).length > 0) return false;
    if (this.writer?.pending.has(rel)) return false;
    if (this.surelyFree(rel)) return true;
    return this.privileged && lstatOrUndefined(abs) === undefined;
  }

  /**
   * True when nothing can be at `rel`: its directory was made empty by this run, and this run
   * put nothing at `rel` (entries are in `seen`, diff-mode copy-ups in `copiedUp`, directories
   * made on the way are known directories, which callers check first).
   */
  private surelyFree(rel: string): boolean {
    return this.createdDirs.has(parentOf(rel)) && !this.seen.has(rel) && !this.copiedUp.has(rel);
  }

  private async file(rel: string, abs: string, e: TarEntry): Promise<void> {
    const h = e.header;
    if (this.writer && this.freeForBackground(rel, abs, h)) {
      const content: Uint8Array[] = [];
      for await (const chunk of e.body()) content.push(chunk);
      const owner = this.privileged ? { uid: h.uid, gid: h.gid } : undefined;
      if (!this.privileged && (h.uid !== this.uid || h.gid !== this.gid)) this.ownershipSkipped++;
      const file = {
        path: abs,
        entry: h.name,
        mode: h.mode & 0o7777,
        atime: h.atime ?? h.mtime,
        mtime: h.mtime,
      };
      await this.writer.add(rel, owner ? { ...file, owner } : file, content);
      return;
    }
    const fd = await this.replace(rel, abs, () => createExclusive(abs));
    try {
      if (h.sparse) {
        for await (const { offset, data } of e.segments()) writeAll(fd, data, offset);
        fs.ftruncateSync(fd, h.size);
      } else if (h.size > 0) {
        // One writev per WRITE_BATCH bytes instead of one write per source chunk.
        const batch: Uint8Array[] = [];
        let batched = 0;
        for await (const chunk of e.body()) {
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= WRITE_BATCH) {
            writeChunks(fd, batch);
            batch.length = 0;
            batched = 0;
          }
        }
        writeChunks(fd, batch);
      }
      this.owner(abs, h, fd);
      fs.fchmodSync(fd, h.mode & 0o7777);
      fs.futimesSync(fd, h.atime ?? h.mtime, h.mtime);
    } finally {
      fs.closeSync(fd);
    }
    this.queueXattrs(rel, abs, h);
  }

  private hardlink(rel: string, abs: string, h: TarHeader): void {
    const targetParts = cleanName(h.linkname, this.root.policy);
    const invalid = (why: string) => invalidHardlink(h.name, h.linkname, why);
    if (targetParts.length === 0) throw invalid("the target is the root");
    const parent = this.root.resolveParent(targetParts, h.name, "lookup");
    if (!parent) throw invalid("the target does not exist");
    const targetRel = [...parent, targetParts[targetParts.length - 1]].join("/");
    if (targetRel === rel) return;
    const targetAbs = this.root.abs(targetRel);
    const target = lstatOrUndefined(targetAbs) ?? this.copyUpFile(targetParts, targetRel, h.name);
    if (!target) throw invalid("the target does not exist");
    if (target.isDirectory()) throw invalid("the target is a directory");
    try {
      this.writable(rel, () => linkSync(targetAbs, abs));
      return;
    } catch (err) {
      if (!isExistsError(err)) throw err;
    }
    const existing = lstatOrUndefined(abs);
    if (existing) {
      if (existing.ino === target.ino && existing.dev === target.dev) return;
      this.remove(rel, abs, existing.isDirectory());
    }
    this.writable(rel, () => linkSync(targetAbs, abs));
  }

  /**
   * Diff mode: a hardlink's target that only a lower layer holds is copied here first (as
   * overlayfs copies up a file linked in a merged mount), so both names share an inode.
   */
  private copyUpFile(targetParts: string[], targetRel: string, entry: string): fs.Stats | undefined {
    const lower = this.root.lower;
    const below = lower?.lstat(targetRel);
    if (!lower || !below || below.type === "directory") return undefined;
    const parent = this.root.resolveParent(targetParts, entry, "create") as string[];
    const rel = [...parent, targetParts[targetParts.length - 1]].join("/");
    const abs = this.root.abs(rel);
    if (below.type === "symlink") {
      symlinkSync(lower.readlink(targetRel), abs);
      if (this.privileged) lchownSync(abs, below.uid, below.gid);
    } else {
      const host = lower.hostPath(targetRel);
      if (below.type !== "file" || host === undefined) {
        throw new CairnError(
          "E_LAYER_INVALID",
          `hardlink ${JSON.stringify(entry)}: its target ${JSON.stringify(targetRel)} in a lower layer is not a regular file or symlink`,
          { path: entry },
        );
      }
      fs.copyFileSync(fsPath(host), fsPath(abs), fs.constants.COPYFILE_FICLONE);
      // chown before chmod: a chown clears setuid/setgid.
      if (this.privileged) lchownSync(abs, below.uid, below.gid);
      chmodSync(abs, below.mode);
    }
    lutimesSync(abs, below.mtime, below.mtime);
    this.copiedUp.add(rel);
    // The lower file's other names must stay the same file as this one in the merged tree.
    for (const other of lower.linkedNames?.(targetRel) ?? []) {
      const otherParts = other.split("/");
      const otherParent = this.root.resolveParent(otherParts, entry, "create") as string[];
      const otherRel = [...otherParent, otherParts[otherParts.length - 1]].join("/");
      if (otherRel === rel || lstatOrUndefined(this.root.abs(otherRel))) continue;
      this.writable(otherRel, () => linkSync(abs, this.root.abs(otherRel)));
      this.copiedUp.add(otherRel);
    }
    return lstatOrUndefined(abs);
  }

  private whiteout(parts: string[], target: string, entry: string): void {
    // Whiteouts never act through a symlinked parent: only the named path of lower layers.
    const parent = this.root.resolveParent(parts, entry, "nofollow");
    if (!parent) return;
    const rel = [...parent, target].join("/");
    this.keepTimes(parent.join("/"));
    if (this.options.diff) {
      this.pendingWhiteouts.push({ kind: "whiteout", path: rel });
      this.hiddenPaths.add(rel);
    } else this.removeLower(rel);
  }

  private opaque(parts: string[], entry: string): void {
    const dir = this.root.resolveParent(parts, entry, "nofollow");
    if (!dir) return;
    const rel = dir.join("/");
    this.keepTimes(rel);
    if (this.options.diff) {
      this.pendingWhiteouts.push({ kind: "opaque", path: rel });
      this.hiddenChildren.add(rel);
      return;
    }
    for (const child of readdirNames(this.root.abs(rel))) this.removeLower(rel ? `${rel}/${child}` : child);
  }

  /** Notes the times of `dir` before this layer first changes it (see keptTimes). */
  private keepTimes(dir: string): void {
    if (this.options.diff || this.keptTimes.has(dir) || this.dirMeta.has(dir) || this.createdDirs.has(dir))
      return;
    const st = lstatOrUndefined(this.root.abs(dir));
    if (st?.isDirectory()) this.keptTimes.set(dir, { atime: st.atimeMs / 1000, mtime: st.mtimeMs / 1000 });
  }

  /** Removes what lower layers have at `rel`, keeping whatever this layer created there. */
  private removeLower(rel: string): void {
    const abs = this.root.abs(rel);
    const st = lstatOrUndefined(abs);
    if (!st) return;
    if (!this.seen.has(rel) && !this.seenAncestors.has(rel)) {
      this.remove(rel, abs, st.isDirectory());
      return;
    }
    if (!st.isDirectory()) return;
    for (const child of readdirNames(abs)) this.removeLower(`${rel}/${child}`);
  }

  private queueXattrs(rel: string, abs: string, h: TarHeader): void {
    const names = Object.keys(h.xattrs);
    if (names.length === 0 || this.options.xattrs === false) return;
    const keep: Xattrs = {};
    for (const n of names) {
      if (isOverlayXattr(n)) {
        this.warn("overlay-xattr-skipped", h.name, `overlayfs attribute ${n} is never applied from a layer`);
        continue;
      }
      keep[n] = h.xattrs[n] as Uint8Array;
    }
    const st = lstatOrUndefined(abs);
    if (st && Object.keys(keep).length > 0) this.xattrQueue.push({ rel, abs, ino: st.ino, xattrs: keep });
  }

  /**
   * Diff mode: decides what each marker hides now that the whole layer is here. A whiteout of
   * a path this layer creates as a directory makes that directory opaque (whiteouts hide lower
   * layers only); one of a path no lower layer has does nothing.
   */
  private resolveMarkers(): void {
    const diff = this.options.diff;
    if (!diff) return;
    const lower = diff.lower;
    const markers = diff.overlayMarkers ?? this.privileged;
    const opaque = new Set<string>();
    const whiteouts = new Set<string>();
    const ensureDir = (rel: string) => {
      const parts = rel === "" ? [] : rel.split("/");
      this.root.resolveParent([...parts, "-"], rel, "create");
    };
    for (const m of this.pendingWhiteouts) {
      let local = lstatOrUndefined(this.root.abs(m.path));
      if (local && m.kind === "whiteout" && this.copiedUp.has(m.path)) {
        this.remove(m.path, this.root.abs(m.path), false);
        local = undefined;
      }
      if (local) {
        if (local.isDirectory()) opaque.add(m.path);
        continue;
      }
      // Under a path this layer whites out or makes opaque, the lower content is gone already.
      if (this.hiddenAbove(m.path)) continue;
      const below = lower?.lstat(m.path);
      if (!below) continue;
      if (m.kind === "opaque") {
        if (below.type !== "directory") continue;
        ensureDir(m.path);
        opaque.add(m.path);
        continue;
      }
      const parent = m.path.includes("/") ? m.path.slice(0, m.path.lastIndexOf("/")) : "";
      ensureDir(parent);
      whiteouts.add(m.path);
      if (markers) {
        const abs = this.root.abs(m.path);
        this.writable(m.path, () => makeDevice(this.root.abs(parent), abs, "char-device", 0, 0, 0));
      }
    }
    for (const p of opaque) this.recorded.push({ kind: "opaque", path: p });
    for (const p of whiteouts) this.recorded.push({ kind: "whiteout", path: p });
    if (markers && opaque.size > 0) {
      const y = new Uint8Array([0x79]);
      const errors = writeXattrs(
        [...opaque].map((p) => ({ path: this.root.abs(p), xattrs: { "trusted.overlay.opaque": y } })),
      );
      if (errors) {
        throw new CairnError("E_IO", `cannot mark opaque directories for overlayfs: ${errors}`, {
          path: this.root.root,
        });
      }
    }
  }

  /** Directory modes and times (children are all written now), then xattrs in one batch. */
  finish(): void {
    this.resolveMarkers();
    for (const [rel, mode] of this.restoreModes) {
      if (this.root.isKnownDir(rel) && !this.dirMeta.has(rel)) chmodSync(this.root.abs(rel), mode);
    }
    for (const [rel, m] of this.dirMeta) {
      if (!this.root.isKnownDir(rel)) continue;
      const abs = this.root.abs(rel);
      if (!this.privileged && (m.mode & 0o700) !== 0o700) chmodSync(abs, m.mode);
      lutimesSync(abs, m.atime, m.mtime);
    }
    for (const [rel, t] of this.keptTimes) {
      if (this.dirMeta.has(rel) || !this.root.isKnownDir(rel)) continue;
      try {
        lutimesSync(this.root.abs(rel), t.atime, t.mtime);
      } catch (err) {
        // a lower directory this user may write in but does not own (a sticky /tmp): its times stay
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EPERM" && code !== "EACCES") throw err;
      }
    }
    // Only paths whose directories are still the ones this run checked, and still the same file.
    const batch = this.xattrQueue.filter((x) => {
      if (!this.root.isKnownDir(parentOf(x.rel))) return false;
      return lstatOrUndefined(x.abs)?.ino === x.ino;
    });
    const errors = writeXattrs(batch.map((x) => ({ path: x.abs, xattrs: x.xattrs })));
    if (errors) this.warn("xattr-failed", this.root.root, `some extended attributes were not set: ${errors}`);
    if (this.ownershipSkipped > 0) {
      this.warn(
        "ownership-skipped",
        this.root.root,
        `ownership of ${this.ownershipSkipped} entries not applied without privileges`,
      );
    }
  }
}

/**
 * Applies a layer blob (gzip, zstd or plain tar, detected by magic number) to `dir`.
 *
 * @example
 * ```ts
 * const { diffId } = await applyLayer(fs.createReadStream(blob), "/var/lib/cairn/rootfs", {
 *   mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
 *   onWarning: (w) => console.warn(w.message),
 * });
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH`, `E_LAYER_INVALID`, `E_SIZE_LIMIT`, `E_DIGEST_MISMATCH`, `E_ABORTED`, `E_IO`
 */
export async function applyLayer(
  source: AsyncIterable<Uint8Array> & object,
  dir: string,
  options: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  const root = await realRoot(dir);
  if (!fs.statSync(root).isDirectory()) {
    throw new CairnError("E_IO", `layer target ${dir} is not a directory`, { path: dir });
  }
  let compression: Compression = "none";
  const tar = openLayerStream(source, {
    ...(options.mediaType !== undefined ? { mediaType: options.mediaType } : {}),
    ...(options.maxUncompressedBytes !== undefined
      ? { maxUncompressedBytes: options.maxUncompressedBytes }
      : {}),
    onCompression: (k) => {
      compression = k;
    },
  });
  const tap = new HashTap();
  // Errors reach the reader through `tap`; stopping early destroys everything upstream.
  pipeline(tar, tap, () => {});
  const applier = new Applier(root, options);
  let entries = 0;
  try {
    for await (const entry of readTar(tap)) {
      if (options.signal?.aborted)
        throw new CairnError("E_ABORTED", `applying a layer to ${dir} was aborted`);
      await applier.apply(entry);
      entries++;
      if (options.onProgress && entries % 256 === 0) options.onProgress({ entries, bytes: tap.bytes });
    }
    await applier.writer?.flush();
  } finally {
    // On failure too: the caller may remove the directory next, and no queued write may land after.
    await applier.writer?.settle();
  }
  applier.finish();
  const diffId = tap.digest();
  if (options.expectedDiffId !== undefined && options.expectedDiffId !== diffId) {
    throw new CairnError(
      "E_DIGEST_MISMATCH",
      `layer diff ID mismatch: expected ${options.expectedDiffId}, found ${diffId}`,
      {
        details: { expected: options.expectedDiffId, actual: diffId },
      },
    );
  }
  options.onProgress?.({ entries, bytes: tap.bytes });
  const result: ApplyLayerResult = { diffId, compression, entries, uncompressedBytes: tap.bytes };
  if (options.diff) result.whiteouts = applier.recorded;
  return result;
}

/**
 * Unpacks a layer into a new directory atomically: into `targetDir.tmp-<random>` first, then
 * renamed to `targetDir`; on failure the temporary directory is removed and `targetDir` never
 * appears. `targetDir` must not exist.
 *
 * @example
 * ```ts
 * await unpackLayerAtomic(fs.createReadStream(blob), "/var/lib/cairn/snapshots/sha256-abc")
 * ```
 * @throws CairnError `E_IO` when `targetDir` exists, plus everything {@link applyLayer} throws
 */
export async function unpackLayerAtomic(
  source: AsyncIterable<Uint8Array> & object,
  targetDir: string,
  options: ApplyLayerOptions = {},
): Promise<ApplyLayerResult> {
  if (lstatOrUndefined(targetDir)) {
    throw new CairnError("E_IO", `cannot unpack into ${targetDir}: it already exists`, { path: targetDir });
  }
  const tmp = `${targetDir.replace(/\/+$/, "")}.tmp-${randomBytes(8).toString("hex")}`;
  await mkdir(tmp, { mode: 0o755 });
  try {
    const result = await applyLayer(source, tmp, options);
    await rename(tmp, targetDir);
    return result;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    if (isCairnError(e)) throw e;
    throw new CairnError("E_IO", `cannot unpack into ${targetDir}: ${(e as Error).message}`, {
      path: targetDir,
      cause: e,
    });
  }
}
