import { openLocal, parseImageLocation, writeLocal } from "../../image/index.js";
import { formatBytes, parseCommandArgs } from "../args.js";
import type { Command } from "../command.js";

export const copy: Command = {
  name: "copy",
  summary: "copy an image between oci: layouts, docker-archive: files and the default store",
  usage: [
    "Usage: cairn copy [--quiet] SRC DEST",
    "",
    "SRC and DEST are oci:DIR[:TAG], docker-archive:FILE[:REF], or a name in the default store.",
    "Only blobs missing at the destination are copied; every blob is verified against its digest.",
    "Docker images copied into an oci: layout get OCI media types, as with skopeo.",
    "",
    "Example: cairn copy docker-archive:busybox.tar oci:./busybox:latest",
  ].join("\n"),
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(
      "copy",
      args,
      { quiet: { type: "boolean", short: "q" } },
      {
        min: 2,
        max: 2,
        names: "SRC and DEST",
      },
    );
    const [src, dest] = positionals as [string, string];
    const source = await openLocal(parseImageLocation(src));
    let copied = 0;
    let skipped = 0;
    let bytes = 0;
    await writeLocal(source, parseImageLocation(dest), {
      onProgress: (e) => {
        if (e.skipped) skipped++;
        else {
          copied++;
          bytes += e.size;
        }
        if (!values.quiet) io.err(`${e.skipped ? "exists " : "copied "} ${e.digest} ${formatBytes(e.size)}`);
      },
    });
    io.out(
      `${dest}: ${copied} blob(s) copied (${formatBytes(bytes)}), ${skipped} already present, digest ${await source.digest()}`,
    );
    return 0;
  },
};
