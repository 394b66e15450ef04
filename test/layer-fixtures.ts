/**
 * Helpers for the layer tests: raw tar building (hostile names allowed), the CASES.md layer
 * notation, applying layers, and a comparable snapshot of a directory tree.
 */
import { execFileSync } from "node:child_process";
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
