/**
 * Device nodes and FIFOs. Node has no `mknod`/`mkfifo`, so these run coreutils' commands;
 * layers rarely hold more than a handful of them. The node is made under a temporary ASCII
 * name in the same directory and renamed into place, which keeps non-UTF-8 names exact.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { CairnError } from "../errors/index.js";
import { fsPath } from "./names.js";

function make(cmd: string, args: (tmp: string) => string[], what: string, dir: string, path: string): void {
  if (typeof fsPath(dir) !== "string") {
    // Commands take text arguments; a directory name that is not UTF-8 cannot be passed exactly.
    throw new CairnError(
      "E_LAYER_INVALID",
      `cannot create ${what} ${path}: its directory name is not valid UTF-8`,
      { path },
    );
  }
  const tmp = `${dir}/.cairn-node-${randomBytes(6).toString("hex")}`;
  const r = spawnSync(cmd, args(tmp), { stdio: ["ignore", "ignore", "pipe"] });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr?.toString().trim() || `exit ${r.status}`;
    throw new CairnError("E_IO", `cannot create ${what} ${path}: ${why}`, { path, cause: r.error });
  }
  fs.renameSync(tmp, fsPath(path));
}

/**
 * Creates a character or block device node at `dir/name` (needs root).
 *
 * @example
 * ```ts
 * makeDevice("/rootfs/dev", "/rootfs/dev/null", "char-device", 1, 3, 0o666)
 * ```
 * @throws CairnError `E_IO` when `mknod` fails
 */
export function makeDevice(
  dir: string,
  path: string,
  type: "char-device" | "block-device",
  major: number,
  minor: number,
  mode: number,
): void {
  const kind = type === "char-device" ? "c" : "b";
  const m = (mode & 0o7777).toString(8);
  make("mknod", (tmp) => ["-m", m, "--", tmp, kind, String(major), String(minor)], type, dir, path);
}

/**
 * Creates a FIFO at `path` inside `dir` (works without root).
 *
 * @example
 * ```ts
 * makeFifo("/rootfs/run", "/rootfs/run/initctl", 0o600)
 * ```
 * @throws CairnError `E_IO` when `mkfifo` fails
 */
export function makeFifo(dir: string, path: string, mode: number): void {
  make("mkfifo", (tmp) => ["-m", (mode & 0o7777).toString(8), "--", tmp], "fifo", dir, path);
}
