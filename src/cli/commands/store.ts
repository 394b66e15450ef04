import { openDefaultStore } from "../../content/index.js";
import { formatBytes, parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";

export const images: Command = {
  name: "images",
  summary: "list the tags in the default store",
  usage:
    "Usage: cairn images\n\nLists each tag in the default store with its manifest digest and media type.",
  async run(args, io) {
    parseCommandArgs("images", args, {}, { min: 0, max: 0, names: "no arguments" });
    const store = await openDefaultStore();
    const index = await store.index();
    const rows = index.manifests
      .map((d) => ({ name: d.annotations?.["org.opencontainers.image.ref.name"], d }))
      .filter((r): r is { name: string; d: (typeof index.manifests)[number] } => r.name !== undefined)
      .sort((a, b) => a.name.localeCompare(b.name));
    if (rows.length === 0) {
      io.out(`no images in ${store.dir}`);
      return 0;
    }
    const width = Math.max(...rows.map((r) => r.name.length), 4);
    io.out(`${"NAME".padEnd(width)}  DIGEST`);
    for (const r of rows) io.out(`${r.name.padEnd(width)}  ${r.d.digest}`);
    return 0;
  },
};

export const gc: Command = {
  name: "gc",
  summary: "remove blobs of the default store that no tag reaches",
  usage:
    "Usage: cairn gc\n\nMarks every blob reachable from index.json and removes the rest, and stale temporary files.",
  async run(args, io) {
    parseCommandArgs("gc", args, {}, { min: 0, max: 0, names: "no arguments" });
    const store = await openDefaultStore();
    const result = await store.gc();
    io.out(
      `removed ${result.removed.length} blob(s), freed ${formatBytes(result.freedBytes)}, ${result.tempFilesRemoved} temporary file(s)`,
    );
    return 0;
  },
};

export const fsck: Command = {
  name: "fsck",
  summary: "re-hash every blob of the default store and report problems",
  usage:
    "Usage: cairn fsck\n\nRe-hashes every blob; reports missing, corrupt and unreachable blobs; exits 1 if any is missing or corrupt.",
  async run(args, io) {
    parseCommandArgs("fsck", args, {}, { min: 0, max: 0, names: "no arguments" });
    const store = await openDefaultStore();
    const r = await store.fsck();
    io.out(
      `checked ${r.checked} blob(s): ${r.missing.length} missing, ${r.corrupt.length} corrupt, ${r.unreachable.length} unreachable`,
    );
    for (const d of r.missing) io.out(`missing      ${d}`);
    for (const d of r.corrupt) io.out(`corrupt      ${d}`);
    for (const d of r.unreachable) io.out(`unreachable  ${d}`);
    return r.ok ? 0 : 1;
  },
};
