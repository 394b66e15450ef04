/**
 * Extended attributes. Node has no xattr API, so cairn runs `getfattr`/`setfattr` from the
 * `attr` package when they are installed: one process per tree (`getfattr -R`) or per layer
 * (`setfattr --restore`), never one per file. Without them, xattrs are skipped with a warning.
 */
import { spawn, spawnSync } from "node:child_process";
import { CairnError } from "../errors/index.js";
import { decodeName, encodeName } from "./names.js";

/** Extended attributes of one file: name -> raw value. */
export type Xattrs = Record<string, Uint8Array>;

let tools: { getfattr: boolean; setfattr: boolean } | undefined;

/**
 * Whether `getfattr` and `setfattr` can be run here (checked once).
 *
 * @example
 * ```ts
 * if (!xattrTools().setfattr) console.warn("xattrs will be skipped")
 * ```
 */
export function xattrTools(): { getfattr: boolean; setfattr: boolean } {
  if (!tools) {
    const ok = (cmd: string) => spawnSync(cmd, ["--version"], { stdio: "ignore" }).status === 0;
    tools = { getfattr: ok("getfattr"), setfattr: ok("setfattr") };
  }
  return tools;
}

/**
 * Overlayfs keeps its own bookkeeping in these; they never travel inside a layer.
 *
 * @example
 * ```ts
 * isOverlayXattr("trusted.overlay.opaque") // true
 * ```
 */
export function isOverlayXattr(name: string): boolean {
  return name.startsWith("trusted.overlay.") || name.startsWith("user.overlay.");
}

function unescapeOctal(b: Buffer): Buffer {
  if (!b.includes(0x5c)) return b;
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    const c = b[i] ?? 0;
    if (c === 0x5c && i + 3 < b.length + 0 && /^[0-7]{3}$/.test(b.toString("latin1", i + 1, i + 4))) {
      out.push(Number.parseInt(b.toString("latin1", i + 1, i + 4), 8));
      i += 3;
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out);
}

function escapeOctal(b: Buffer): string {
  let s = "";
  for (const c of b) {
    if (c < 0x21 || c >= 0x7f || c === 0x5c || c === 0x3d) s += `\\${c.toString(8).padStart(3, "0")}`;
    else s += String.fromCharCode(c);
  }
  return s;
}

/**
 * Reads the xattrs of every file under `root` (not following symlinks) with one
 * `getfattr -R` run. Keys are paths relative to `root` ("" for the root itself).
 *
 * @example
 * ```ts
 * const all = await readTreeXattrs("/var/lib/upper"); all.get("etc")?.["trusted.overlay.opaque"]
 * ```
 * @throws CairnError `E_IO` when `getfattr` is not installed
 */
export async function readTreeXattrs(root: string): Promise<Map<string, Xattrs>> {
  if (!xattrTools().getfattr) {
    throw new CairnError(
      "E_IO",
      "reading extended attributes needs getfattr (Debian package attr), which is not installed",
    );
  }
  const rootBytes = encodeName(root.replace(/\/+$/, ""));
  const child = spawn(
    "getfattr",
    ["-R", "-P", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names", "--", root],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const out = new Map<string, Xattrs>();
  let current: Xattrs | undefined;
  let rest = Buffer.alloc(0);
  const line = (l: Buffer) => {
    if (l.length === 0) return;
    if (l.subarray(0, 8).toString("latin1") === "# file: ") {
      const p = unescapeOctal(l.subarray(8));
      let rel = "";
      if (p.length > rootBytes.length) rel = decodeName(p.subarray(rootBytes.length + 1));
      current = {};
      out.set(rel, current);
      return;
    }
    const eq = l.indexOf(0x3d);
    if (!current || eq <= 0) return;
    const name = unescapeOctal(l.subarray(0, eq)).toString("utf8");
    const v = l.subarray(eq + 1).toString("latin1");
    current[name] = v.startsWith("0x")
      ? Buffer.from(v.slice(2), "hex")
      : Buffer.from(v.replace(/^"|"$/g, ""), "utf8");
  };
  child.stdout.on("data", (chunk: Buffer) => {
    let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
    let nl = buf.indexOf(0x0a);
    while (nl >= 0) {
      line(buf.subarray(0, nl));
      buf = buf.subarray(nl + 1);
      nl = buf.indexOf(0x0a);
    }
    rest = Buffer.from(buf);
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    if (stderr.length < 4096) stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  });
  if (rest.length) line(rest);
  // getfattr exits 1 when some file had no xattr support; the dump is still complete.
  if (code !== 0 && code !== 1) {
    throw new CairnError("E_IO", `getfattr failed on ${root} (exit ${code}): ${stderr.trim()}`, {
      path: root,
    });
  }
  return out;
}

/** One file's xattrs to set. */
export interface XattrAssignment {
  path: string;
  xattrs: Xattrs;
}

/**
 * Sets xattrs on many files with one `setfattr --restore` run (symlinks themselves, not their
 * targets). Returns the error text of attributes that could not be set ("" when all were).
 *
 * @example
 * ```ts
 * const errors = writeXattrs([{ path: "/rootfs/bin/ping", xattrs: { "security.capability": cap } }])
 * ```
 */
export function writeXattrs(items: XattrAssignment[]): string {
  if (items.length === 0) return "";
  if (!xattrTools().setfattr) return "setfattr (Debian package attr) is not installed";
  const parts: string[] = [];
  for (const { path, xattrs } of items) {
    parts.push(`# file: ${escapeOctal(encodeName(path))}`);
    for (const [name, value] of Object.entries(xattrs)) {
      parts.push(`${escapeOctal(Buffer.from(name, "utf8"))}=0x${Buffer.from(value).toString("hex")}`);
    }
    parts.push("");
  }
  const r = spawnSync("setfattr", ["-h", "--restore=-"], {
    input: `${parts.join("\n")}\n`,
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) return r.error.message;
  return r.status === 0 ? "" : (r.stderr?.toString() || `setfattr exited with ${r.status}`).trim();
}
