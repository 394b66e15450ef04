#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import pkg from "../../package.json" with { type: "json" };
import { isCairnError } from "../errors/index.js";
import type { CliIo, Command } from "./command.js";
import { commands } from "./commands/index.js";

function helpText(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return [
    `cairn ${pkg.version}: OCI images and union filesystems, without a daemon`,
    "",
    "Usage: cairn COMMAND [OPTIONS]",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    "  -h, --help     show help (also: cairn COMMAND --help)",
    "  -V, --version  print the version",
    "",
    "Images are named by transport: oci:DIR[:TAG], docker-archive:FILE[:REF], docker://REF,",
    "or a bare name, a tag in the default store ($CAIRN_HOME, else ~/.cache/cairn).",
  ].join("\n");
}

/**
 * Runs the `cairn` command line with `argv` (without `node` and the script) and returns the exit code.
 *
 * @example
 * ```ts
 * const code = await runCli(["inspect", "manifest.json"]);
 * ```
 */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    const target = first === "help" ? findCommand(rest[0]) : undefined;
    io.out(target ? target.usage : helpText());
    return first === undefined ? 2 : 0;
  }
  if (first === "-V" || first === "--version" || first === "version") {
    io.out(pkg.version);
    return 0;
  }
  const command = findCommand(first);
  if (!command) {
    io.err(`cairn: unknown command "${first}" (see cairn --help)`);
    return 2;
  }
  if (rest.includes("-h") || rest.includes("--help")) {
    io.out(command.usage);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (isCairnError(e)) {
      io.err(`cairn ${command.name}: ${e.message} [${e.code}]`);
      return e.code === "E_USAGE" ? 2 : 1;
    }
    throw e;
  }
}

function findCommand(name: string | undefined): Command | undefined {
  return commands.find((c) => c.name === name);
}

const defaultIo: CliIo = {
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
};

function isMain(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  // The CLI streams big layers and walks big trees, making garbage fast; V8's default heap
  // growth let a 34,000-file COPY build reach ~240 MiB RSS with ~45 MiB live. A smaller growth
  // factor keeps it under 200 MiB for a few more, cheap, collections. Only the CLI process is
  // tuned: a program that imports cairn keeps its own settings.
  if (!process.execArgv.some((a) => a.startsWith("--heap-growing-percent"))) {
    setFlagsFromString("--heap-growing-percent=20");
  }
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(
        `cairn: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      process.exitCode = 70;
    },
  );
}
