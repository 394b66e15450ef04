import { copy as copyImage } from "../../registry/index.js";
import { formatBytes, parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";
import { progressPrinter, registryFlags, registryOptions } from "../registry-flags.js";

export const copy: Command = {
  name: "copy",
  summary: "copy an image between registries, oci: layouts, docker-archive: files and the default store",
  usage: [
    "Usage: cairn copy [--platform P] [registry flags] SRC DEST",
    "",
    "SRC and DEST are docker://REF, oci:DIR[:TAG], docker-archive:FILE[:REF], store:NAME, or a bare",
    "reference (as SRC: the default store's image of that name, else the registry; as DEST: a registry).",
    "Only blobs missing at the destination are copied (mounted within one registry); every blob is",
    "verified. Docker images copied into an oci: layout get OCI media types, as with skopeo.",
    "",
    "Example: cairn copy docker-archive:busybox.tar oci:./busybox:latest",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "copy",
      args,
      { ...registryFlags, platform: { type: "string" } },
      { min: 2, max: 2, names: "SRC and DEST" },
    );
    const [src, dest] = positionals as [string, string];
    let copied = 0;
    let skipped = 0;
    let bytes = 0;
    const print = progressPrinter(io, values.quiet === true);
    const result = await copyImage(src, dest, {
      ...registryOptions(values),
      ...(typeof values.platform === "string" ? { platform: values.platform } : {}),
      onProgress: (e) => {
        print(e);
        if (e.status === "progress") return;
        if (e.status === "done") {
          copied++;
          bytes += e.total;
        } else skipped++;
      },
    });
    io.out(
      `${dest}: ${result.digest}${copied || skipped ? ` (${copied} blob(s) copied, ${formatBytes(bytes)}; ${skipped} already present)` : ""}`,
    );
    return 0;
  },
};
