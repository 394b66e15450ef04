import { Writable } from "node:stream";
import { CairnError } from "../../errors/index.js";
import { type Image, isImageIndex, writeLocal } from "../../image/index.js";
import type { Compression } from "../../layer/index.js";
import { hostPlatform, parsePlatform } from "../../manifest/index.js";
import { openImage, push } from "../../registry/index.js";
import {
  exportImage,
  flatten,
  type SnapshotProgress,
  SnapshotStore,
  type UnionStat,
  UnionView,
  type UnpackProgress,
  unpackImage,
} from "../../unionfs/index.js";
import { formatBytes, parseCommandArgs } from "../args.js";
import type { CliIo, Command } from "../command.js";

const IMAGE_HELP =
  "IMAGE is oci:DIR[:TAG], docker-archive:FILE[:REF], docker://REF, store:NAME, or a bare name (the default store, else a registry).";

const commonFlags = {
  platform: { type: "string" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** Opens IMAGE as one image, picking `--platform` (default: this machine's) out of an index. */
async function openOne(spec: string, platform: unknown): Promise<Image> {
  const x = await openImage(spec);
  if (!isImageIndex(x)) return x;
  return x.image(typeof platform === "string" ? parsePlatform(platform) : { ...hostPlatform(), os: "linux" });
}

function progress(io: CliIo, quiet: boolean): (e: UnpackProgress | SnapshotProgress) => void {
  if (quiet) return () => {};
  return (e) => {
    const layer = "layer" in e ? `layer ${e.layer + 1}` : "";
    if (e.kind === "layer") io.err(`applying ${layer}/${e.layers} ${e.digest.slice(7, 19)}`);
    else if (e.kind === "unpacked")
      io.err(
        `unpacked ${layer}/${e.layers} ${e.chainId.slice(7, 19)}: ${e.entries} entries, ${formatBytes(e.bytes)}`,
      );
    else if (e.kind === "reused") io.err(`reused   ${layer}/${e.layers} ${e.chainId.slice(7, 19)}`);
  };
}

/** Writes raw bytes: `io.outBytes` when the caller gave one, else stdout. */
async function writeBytes(io: CliIo, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const c of chunks) {
    n += c.length;
    if (io.outBytes) io.outBytes(c);
    else if (!process.stdout.write(c)) await new Promise((r) => process.stdout.once("drain", r));
  }
  return n;
}

export const unpack: Command = {
  name: "unpack",
  summary: "unpack an image's merged file system into a directory (like umoci unpack's rootfs)",
  usage: [
    "Usage: cairn unpack [--rootless] [--snapshots] [--platform P] [-q] IMAGE DIR",
    "",
    "Applies the layers of IMAGE in order into DIR (empty or missing), honoring whiteouts and",
    "opaque directories. The tree is built next to DIR and renamed into place: a failing layer",
    "leaves nothing. --rootless skips chown and device nodes (the default when not root).",
    "--snapshots builds the tree from the snapshot store ($CAIRN_HOME/snapshots) instead, where",
    "each layer is unpacked once and shared with every image that has it.",
    IMAGE_HELP,
    "",
    "Example: cairn unpack oci:./busybox:latest ./rootfs",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "unpack",
      args,
      { ...commonFlags, rootless: { type: "boolean" }, snapshots: { type: "boolean" } },
      { min: 2, max: 2, names: "IMAGE and DIR" },
    );
    const [spec, dir] = positionals as [string, string];
    const image = await openOne(spec, values.platform);
    let warnings = 0;
    const r = await unpackImage(image, dir, {
      ...(values.rootless ? { rootless: true } : {}),
      ...(values.snapshots ? { store: await SnapshotStore.open() } : {}),
      onProgress: progress(io, values.quiet === true),
      onWarning: (w) => {
        warnings++;
        if (!values.quiet) io.err(`warning: ${w.path}: ${w.message}`);
      },
    });
    io.out(
      `${dir}: ${r.layers} layer(s), ${r.entries} entries (${r.method === "apply" ? "applied" : "from snapshots"})${warnings ? `, ${warnings} warning(s)` : ""}`,
    );
    return 0;
  },
};

export const exportCommand: Command = {
  name: "export",
  summary: "write an image's merged file system as one tar (like crane export)",
  usage: [
    "Usage: cairn export [--platform P] [-q] IMAGE FILE.tar|-",
    "",
    "Writes the merged file system of IMAGE as an uncompressed tar to FILE (- for stdout),",
    "sorted, with hardlinks kept. Layers are unpacked into the snapshot store first (those",
    "already there are reused).",
    IMAGE_HELP,
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs("export", args, commonFlags, {
      min: 2,
      max: 2,
      names: "IMAGE and FILE",
    });
    const [spec, file] = positionals as [string, string];
    const image = await openOne(spec, values.platform);
    const onProgress = progress(io, values.quiet === true);
    if (file === "-") {
      if (io.outBytes) {
        const sink = io.outBytes;
        const w = new Writable({
          write(chunk: Buffer, _enc, cb) {
            sink(chunk);
            cb();
          },
        });
        await exportImage(image, w, { onProgress });
      } else {
        await exportImage(image, process.stdout, { onProgress });
      }
      return 0;
    }
    const r = await exportImage(image, file, { onProgress });
    io.out(`${file}: ${r.entries} entries, ${formatBytes(r.bytes)}`);
    return 0;
  },
};

export const flattenCommand: Command = {
  name: "flatten",
  summary: "squash an image's layers into one and write the result",
  usage: [
    "Usage: cairn flatten [--compression gzip|zstd|none] [--platform P] [-q] IMAGE DEST",
    "",
    "Writes an image with the same config as IMAGE and a single layer holding its merged file",
    "system. DEST is oci:DIR[:TAG], docker-archive:FILE[:REF], store:NAME or docker://REF.",
    IMAGE_HELP,
    "",
    "Example: cairn flatten oci:./app:latest oci:./app:flat",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "flatten",
      args,
      { ...commonFlags, compression: { type: "string" } },
      { min: 2, max: 2, names: "IMAGE and DEST" },
    );
    const [spec, dest] = positionals as [string, string];
    const compression = (values.compression ?? "gzip") as string;
    if (!["gzip", "zstd", "none"].includes(compression)) {
      throw new CairnError(
        "E_USAGE",
        `--compression: expected gzip, zstd or none, found ${JSON.stringify(compression)}`,
      );
    }
    const image = await openOne(spec, values.platform);
    const flat = await flatten(image, {
      compression: compression as Compression,
      onProgress: progress(io, values.quiet === true),
    });
    try {
      if (dest.startsWith("docker://")) await push(flat, dest.slice("docker://".length));
      else await writeLocal(flat, dest);
    } finally {
      await flat.dispose();
    }
    const [layer] = await flat.layers();
    io.out(
      `${dest}: ${await flat.digest()} (1 layer, ${formatBytes(layer?.descriptor.size ?? 0)}, from ${(await image.layers()).length})`,
    );
    return 0;
  },
};

const TYPE_CHAR: Record<UnionStat["type"], string> = {
  file: "-",
  directory: "d",
  symlink: "l",
  "char-device": "c",
  "block-device": "b",
  fifo: "p",
  socket: "s",
};

/**
 * `ls -l` style permissions: `drwxr-xr-x`, with setuid/setgid/sticky as s/S and t/T.
 *
 * @example
 * ```ts
 * modeString("file", 0o4755) // "-rwsr-xr-x"
 * ```
 */
export function modeString(type: UnionStat["type"], mode: number): string {
  const bit = (m: number, c: string) => (mode & m ? c : "-");
  const special = (x: number, s: number, lower: string, upper: string) =>
    mode & s ? (mode & x ? lower : upper) : bit(x, "x");
  return [
    TYPE_CHAR[type],
    bit(0o400, "r"),
    bit(0o200, "w"),
    special(0o100, 0o4000, "s", "S"),
    bit(0o040, "r"),
    bit(0o020, "w"),
    special(0o010, 0o2000, "s", "S"),
    bit(0o004, "r"),
    bit(0o002, "w"),
    special(0o001, 0o1000, "t", "T"),
  ].join("");
}

function time(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().slice(0, 16).replace("T", " ");
}

async function listLine(view: UnionView, st: UnionStat): Promise<string> {
  const size =
    st.type === "char-device" || st.type === "block-device"
      ? `${st.devmajor},${st.devminor}`
      : String(st.size);
  const target = st.type === "symlink" ? ` -> ${await view.readlink(st.path)}` : "";
  return `${modeString(st.type, st.mode)} ${`${st.uid}/${st.gid}`.padEnd(11)} ${size.padStart(10)} ${time(st.mtime)} ${st.path}${target}`;
}

export const lsFiles: Command = {
  name: "ls-files",
  summary: "list an image's merged files without unpacking it",
  usage: [
    "Usage: cairn ls-files [--max-depth N] [--json] [--platform P] IMAGE [PATH]",
    "",
    "Lists the merged file system of IMAGE under PATH (default /), recursively, one entry per",
    "line as `ls -l` would: type and mode, uid/gid, size (major,minor for devices), mtime, path.",
    "The layers are read straight from their tars: nothing is unpacked or written.",
    IMAGE_HELP,
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "ls-files",
      args,
      { ...commonFlags, "max-depth": { type: "string" }, json: { type: "boolean" } },
      { min: 1, max: 2, names: "IMAGE and an optional PATH" },
    );
    const [spec, at = "/"] = positionals as [string, string | undefined];
    const depth = values["max-depth"] === undefined ? undefined : Number(values["max-depth"]);
    if (depth !== undefined && !(Number.isInteger(depth) && depth > 0)) {
      throw new CairnError(
        "E_USAGE",
        `--max-depth: expected a positive integer, found ${values["max-depth"]}`,
      );
    }
    const view = await UnionView.fromLayerTars(await openOne(spec, values.platform));
    const show = async (st: UnionStat) => {
      if (values.json) {
        const linkname = st.type === "symlink" ? { linkname: await view.readlink(st.path) } : {};
        io.out(JSON.stringify({ ...st, ...linkname }));
      } else {
        io.out(await listLine(view, st));
      }
    };
    // As ls: a symlink is shown itself, unless PATH ends with "/".
    const top = at.endsWith("/") ? await view.stat(at) : await view.lstat(at);
    if (top.type !== "directory") {
      await show(top);
      return 0;
    }
    for await (const st of view.walk(at, depth !== undefined ? { maxDepth: depth } : {})) await show(st);
    return 0;
  },
};

export const cat: Command = {
  name: "cat",
  summary: "print a file of an image without unpacking it",
  usage: [
    "Usage: cairn cat [--platform P] IMAGE PATH...",
    "",
    "Writes the content of each PATH of IMAGE's merged file system to stdout; symlinks are",
    "followed inside the image. Only the layer holding the file is read; nothing is unpacked.",
    IMAGE_HELP,
    "",
    "Example: cairn cat oci:./busybox:latest /etc/passwd",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs("cat", args, commonFlags, {
      min: 2,
      max: Number.POSITIVE_INFINITY,
      names: "IMAGE and at least one PATH",
    });
    const [spec, ...paths] = positionals as [string, ...string[]];
    const view = await UnionView.fromLayerTars(await openOne(spec, values.platform));
    for (const p of paths) await writeBytes(io, await view.open(p));
    return 0;
  },
};

/** The file system commands. */
export const fsCommands: Command[] = [unpack, exportCommand, flattenCommand, lsFiles, cat];
