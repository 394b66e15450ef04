/** Writes docs/CLI.md from the usage text of every `cairn` command, so the page never drifts. */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { commands } from "../src/cli/commands/index.js";

/** The Markdown page for all commands. */
export function cliDocs(): string {
  const parts = [
    "# The `cairn` command",
    "",
    "Generated from each command's `--help` by `npm run docs`.",
    "",
    "Images are named with skopeo's transports: `docker://REF`, `oci:DIR[:TAG]`,",
    "`docker-archive:FILE[:REF]`, `store:NAME` (the default store), or a bare name (as a source,",
    "the default store's image of that name, else the registry's; as a destination, a registry).",
    "",
    "| command | what it does |",
    "|---|---|",
    ...commands.map((c) => `| [\`${c.name}\`](#cairn-${c.name}) | ${c.summary} |`),
    "",
  ];
  for (const c of commands) parts.push(`## cairn ${c.name}`, "", "```", c.usage, "```", "");
  return parts.join("\n");
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(path.join(root, "docs/CLI.md"), cliDocs());
}
