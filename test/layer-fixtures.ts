/**
 * Helpers for the layer tests: raw tar building (hostile names allowed), the CASES.md layer
 * notation, applying layers, and a comparable snapshot of a directory tree.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { type ApplyLayerOptions, type ApplyWarning, applyLayer } from "../src/layer/index.js";
import { encodeHeader } from "../src/layer/tar-write.js";

/** One raw tar entry; nothing is validated, so tests can build hostile archives. */
export interface RawEntry {
  name: string;
  typeflag: string;
  data?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, string | Uint8Array>;
}

/** Builds an uncompressed tar from raw entries (PAX records where USTAR fields do not suffice). */
export function rawTar(entries: RawEntry[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const headers = encodeHeader({
      name: e.name,
      typeflag: e.typeflag,
      mode: e.mode ?? (e.typeflag === "5" ? 0o755 : e.typeflag === "2" ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      size: data.length,
      mtime: e.mtime ?? 1_600_000_000,
      linkname: e.linkname ?? "",
      devmajor: e.devmajor ?? 0,
      devminor: e.devminor ?? 0,
      ...(e.xattrs ? { xattrs: e.xattrs } : {}),
    });
    parts.push(...headers, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// The notation of layers/CASES.md.
export const f = (name: string, data = "", mode = 0o644): RawEntry => ({ name, typeflag: "0", data, mode });
export const d = (name: string, mode = 0o755): RawEntry => ({
  name: name.endsWith("/") ? name : `${name}/`,
  typeflag: "5",
  mode,
});
export const l = (name: string, target: string): RawEntry => ({ name, typeflag: "2", linkname: target });
export const h = (name: string, target: string): RawEntry => ({ name, typeflag: "1", linkname: target });
export const wh = (p: string): RawEntry => {
  const i = p.replace(/\/$/, "").lastIndexOf("/");
  const clean = p.replace(/\/$/, "");
  return f(i < 0 ? `.wh.${clean}` : `${clean.slice(0, i)}/.wh.${clean.slice(i + 1)}`);
};
export const opq = (dir: string): RawEntry => f(`${dir.replace(/\/$/, "")}/.wh..wh..opq`);

/** A fresh temporary directory, removed by the returned cleanup. */
export function tempDir(prefix = "cairn-layer-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Applies uncompressed (or compressed) layers in order; returns the warnings seen. */
export async function applyAll(
  dir: string,
  layers: Buffer[],
  options: ApplyLayerOptions = {},
): Promise<ApplyWarning[]> {
  const warnings: ApplyWarning[] = [];
  for (const layer of layers) {
    await applyLayer(Readable.from([layer]), dir, { ...options, onWarning: (w) => warnings.push(w) });
  }
  return warnings;
}

/** What a directory holds, comparable with toEqual: path -> "dir 755" | "file 644 content" | "symlink -> t" … */
export function snapshot(dir: string, opts: { mode?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const withMode = opts.mode ?? false;
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = path.join(dir, r);
      const st = fs.lstatSync(p);
      const m = withMode ? ` ${(st.mode & 0o7777).toString(8)}` : "";
      if (st.isDirectory()) {
        out[r] = `dir${m}`;
        walk(r);
      } else if (st.isSymbolicLink()) out[r] = `symlink -> ${fs.readlinkSync(p)}`;
      else if (st.isFile()) out[r] = `file${m} ${fs.readFileSync(p, "utf8")}`;
      else if (st.isCharacterDevice()) out[r] = "char";
      else if (st.isFIFO()) out[r] = "fifo";
      else out[r] = "other";
    }
  };
  walk("");
  return out;
}

/** True when the named command runs. */
export function hasCommand(cmd: string, args = ["--version"]): boolean {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** True when running as root. */
export const isRoot = process.getuid?.() === 0;

/** Metadata of every object under `dir` (byte-exact names), for comparing trees made by different tools. */
export function treeMeta(
  dir: string,
  opts: { owners?: boolean; mtimes?: boolean; dirMtimes?: boolean } = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  const owners = opts.owners ?? true;
  const walk = (relBytes: Buffer) => {
    const abs = Buffer.concat([Buffer.from(`${dir}/`), relBytes]);
    for (const name of (fs.readdirSync(abs, { encoding: "buffer" }) as Buffer[]).sort(Buffer.compare)) {
      const r = relBytes.length ? Buffer.concat([relBytes, Buffer.from("/"), name]) : name;
      const p = Buffer.concat([Buffer.from(`${dir}/`), r]);
      const st = fs.lstatSync(p);
      const key = r.toString("latin1");
      const own = owners ? ` ${st.uid}:${st.gid}` : "";
      const mt =
        (opts.mtimes ?? true) && (!st.isDirectory() || (opts.dirMtimes ?? true)) && !st.isSymbolicLink()
          ? ` t${Math.floor(st.mtimeMs / 1000)}`
          : "";
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out[key] = `dir ${mode}${own}${mt}`;
        walk(r);
      } else if (st.isSymbolicLink()) {
        out[key] =
          `symlink -> ${(fs.readlinkSync(p, { encoding: "buffer" }) as Buffer).toString("latin1")}${own}`;
      } else if (st.isFile()) {
        const hash = createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 16);
        out[key] = `file ${mode}${own}${mt} ${st.size} ${hash} links=${st.nlink}`;
      } else if (st.isFIFO()) out[key] = `fifo ${mode}${own}${mt}`;
      else if (st.isCharacterDevice()) out[key] = `char ${st.rdev} ${mode}${own}`;
      else if (st.isBlockDevice()) out[key] = `block ${st.rdev} ${mode}${own}`;
      else out[key] = "other";
    }
  };
  walk(Buffer.alloc(0));
  return out;
}

/** Builds a tree holding every kind of object a layer can carry. */
export function buildRichTree(dir: string): void {
  const p = (r: string) => path.join(dir, r);
  fs.mkdirSync(p("etc/ssl"), { recursive: true });
  fs.writeFileSync(p("etc/hostname"), "cairn\n");
  fs.writeFileSync(p("etc/ssl/cert.pem"), Buffer.alloc(200_000, 7));
  fs.mkdirSync(p("usr/bin"), { recursive: true });
  fs.writeFileSync(p("usr/bin/tool"), "#!/bin/sh\necho hi\n");
  fs.chmodSync(p("usr/bin/tool"), 0o4755);
  fs.linkSync(p("usr/bin/tool"), p("usr/bin/tool-alias"));
  fs.symlinkSync("usr/bin", p("bin"));
  fs.symlinkSync("/usr/bin/tool", p("usr/bin/abs-link"));
  fs.symlinkSync("../nowhere", p("usr/dangling"));
  fs.mkdirSync(p("tmp"));
  fs.chmodSync(p("tmp"), 0o1777);
  fs.mkdirSync(p("srv/shared"), { recursive: true });
  fs.chmodSync(p("srv/shared"), 0o2775);
  const long = `${"very-long-directory-name-".repeat(5)}/`.repeat(3);
  fs.mkdirSync(p(long), { recursive: true });
  fs.writeFileSync(p(`${long}${"f".repeat(150)}`), "long");
  fs.writeFileSync(p("unicode-☺-ünï.txt"), "utf8");
  fs.writeFileSync(Buffer.from(`${dir}/bad-\xff\xfe-name`, "latin1"), "not utf8");
  fs.writeFileSync(p("empty"), "");
  execFileSync("mkfifo", [p("fifo")]);
  if (isRoot) {
    fs.chownSync(p("etc/hostname"), 1234, 5678);
    fs.chownSync(p("srv/shared"), 3000000, 3000001);
    fs.lchownSync(p("usr/dangling"), 42, 43);
    execFileSync("mknod", [p("null"), "c", "1", "3"]);
  }
  for (const [r, t] of [
    ["etc/hostname", 1_500_000_000],
    ["empty", 2_000_000_000],
    ["etc", 1_400_000_000],
    ["usr/bin", 1_300_000_000],
  ] as const) {
    fs.utimesSync(p(r), t, t);
  }
}
