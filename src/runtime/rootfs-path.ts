/**
 * Paths inside a container's root filesystem, resolved on the host the way the container would
 * see them: symlinks are followed by hand, absolute targets start again at the rootfs, and `..`
 * stops at the rootfs. Nothing here lets the OS follow a symlink, so an image cannot make cairn
 * read, create or mount anything outside its rootfs.
 *
 * The walk is path based (Node has no `openat`): it assumes nothing rewrites the rootfs while a
 * container is being prepared. File reads double-check the opened descriptor's real path.
 */
import fs from "node:fs";
import path from "node:path";
import { CairnError } from "../errors/index.js";

const MAX_SYMLINKS = 40;

/** Where a container path lands on the host. */
export interface RootPath {
  /** The real rootfs directory (symlinks of the host resolved). */
  root: string;
  /** Components that exist, symlinks resolved, relative to the root. */
  found: string[];
  /** Trailing components that do not exist yet (the first one is missing). */
  missing: string[];
  /** The host path of `found` joined with `missing`. */
  host: string;
  /** `lstat` of the full path when it exists. */
  stat: fs.Stats | undefined;
}

function unsafe(root: string, p: string, why: string): CairnError {
  return new CairnError("E_LAYER_UNSAFE_PATH", `cannot resolve ${JSON.stringify(p)} in ${root}: ${why}`, {
    path: p,
    details: { rootfs: root },
  });
}

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
}

function split(p: string): string[] {
  return p.split("/").filter((c) => c !== "" && c !== ".");
}

/**
 * Resolves the container path `p` inside `rootfs`; `followLast` follows a final symlink too.
 *
 * @example
 * ```ts
 * resolveInRoot("/tmp/rootfs", "/etc/passwd", true).host // "/tmp/rootfs/etc/passwd", even if a link
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH` for symlink loops or a file used as a directory
 */
export function resolveInRoot(rootfs: string, p: string, followLast: boolean): RootPath {
  const root = fs.realpathSync(rootfs);
  const queue = split(p);
  const found: string[] = [];
  let links = 0;
  let stat: fs.Stats | undefined = fs.lstatSync(root);
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === "..") {
      found.pop();
      continue;
    }
    const host = path.join(root, ...found, c);
    const st = lstatOrUndefined(host);
    if (st === undefined) {
      const missing = [c, ...queue].filter((x) => x !== "..");
      if (queue.includes("..")) throw unsafe(root, p, '".." after a missing component');
      return { root, found, missing, host: path.join(root, ...found, ...missing), stat: undefined };
    }
    const last = queue.length === 0;
    if (st.isSymbolicLink() && (!last || followLast)) {
      if (++links > MAX_SYMLINKS) throw unsafe(root, p, "too many levels of symbolic links");
      const target = fs.readlinkSync(host);
      if (target.startsWith("/")) found.length = 0;
      queue.unshift(...split(target));
      continue;
    }
    if (!last && !st.isDirectory())
      throw unsafe(root, p, `${path.join("/", ...found, c)} is not a directory`);
    found.push(c);
    stat = st;
  }
  return { root, found, missing: [], host: path.join(root, ...found), stat };
}

/**
 * Makes sure the container directory `p` exists inside `rootfs`, creating missing components
 * (mode 0755, owned by the caller) without following any symlink out. Returns its host path.
 *
 * @example
 * ```ts
 * const host = ensureDirInRoot("/tmp/rootfs", "/var/cache/apt")
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH` when a component is not a directory, `E_IO` when it
 * cannot be created
 */
export function ensureDirInRoot(rootfs: string, p: string): string {
  const r = resolveInRoot(rootfs, p, true);
  if (r.stat !== undefined && !r.stat.isDirectory())
    throw unsafe(r.root, p, "it exists and is not a directory");
  let dir = path.join(r.root, ...r.found);
  for (const c of r.missing) {
    dir = path.join(dir, c);
    try {
      fs.mkdirSync(dir, 0o755);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST")
        throw new CairnError("E_IO", `cannot create ${p} in ${r.root}: ${(err as Error).message}`, {
          path: dir,
          cause: err,
        });
    }
    if (!fs.lstatSync(dir).isDirectory()) throw unsafe(r.root, p, `${dir} changed while it was created`);
  }
  return dir;
}

/**
 * Makes sure the container file `p` exists (an empty regular file is created when missing), as a
 * mount point for a file bind. Returns its host path.
 *
 * @example
 * ```ts
 * const host = ensureFileInRoot("/tmp/rootfs", "/run/secrets/token")
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH` when something other than a regular file is there,
 * `E_IO` when it cannot be created
 */
export function ensureFileInRoot(rootfs: string, p: string): string {
  const r = resolveInRoot(rootfs, p, true);
  if (r.stat !== undefined) {
    if (!r.stat.isFile()) throw unsafe(r.root, p, "it exists and is not a regular file");
    return r.host;
  }
  const parentParts = r.missing.slice(0, -1);
  const parent = ensureDirInRoot(r.root, path.join("/", ...r.found, ...parentParts));
  const file = path.join(parent, r.missing[r.missing.length - 1] as string);
  try {
    fs.closeSync(
      fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o644),
    );
  } catch (err) {
    throw new CairnError("E_IO", `cannot create ${p} in ${r.root}: ${(err as Error).message}`, {
      path: file,
      cause: err,
    });
  }
  return file;
}

/**
 * Reads the regular file at container path `p`, or undefined when it does not exist. Refuses
 * files above `maxBytes`, special files, and anything whose opened descriptor lies outside
 * the rootfs.
 *
 * @example
 * ```ts
 * const passwd = readFileInRoot("/tmp/rootfs", "/etc/passwd", 4 << 20)
 * ```
 * @throws CairnError `E_LAYER_UNSAFE_PATH` or `E_SIZE_LIMIT`
 */
export function readFileInRoot(rootfs: string, p: string, maxBytes: number): Buffer | undefined {
  const r = resolveInRoot(rootfs, p, true);
  if (r.stat === undefined) return undefined;
  if (!r.stat.isFile()) throw unsafe(r.root, p, "it is not a regular file");
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  const fd = fs.openSync(r.host, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw unsafe(r.root, p, "it is not a regular file");
    const real = fs.readlinkSync(`/proc/self/fd/${fd}`);
    if (!real.startsWith(`${r.root}/`))
      throw unsafe(r.root, p, `it was opened at ${real}, outside the rootfs`);
    if (st.size > maxBytes)
      throw new CairnError(
        "E_SIZE_LIMIT",
        `${p} in ${r.root} is ${st.size} bytes, above the ${maxBytes} limit`,
        {
          path: p,
        },
      );
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Finds the executable `name` as the container would run it: a name with a slash is a path
 * (relative ones from `cwd`), a bare name is looked up in `searchPath` (the container's PATH).
 * Returns the container path, or undefined.
 *
 * @example
 * ```ts
 * findExecutableInRoot("/tmp/rootfs", "sh", "/usr/bin:/bin", "/") // "/bin/sh"
 * ```
 */
export function findExecutableInRoot(
  rootfs: string,
  name: string,
  searchPath: string,
  cwd: string,
): string | undefined {
  const isExec = (p: string): boolean => {
    const r = resolveInRoot(rootfs, p, true);
    return r.stat?.isFile() === true && (r.stat.mode & 0o111) !== 0;
  };
  if (name.includes("/")) {
    const p = path.posix.resolve(cwd, name);
    return isExec(p) ? p : undefined;
  }
  for (const dir of searchPath.split(":")) {
    const p = path.posix.resolve(cwd, dir === "" ? "." : dir, name);
    try {
      if (isExec(p)) return p;
    } catch {
      // A broken directory in PATH is skipped, as execvp does.
    }
  }
  return undefined;
}
