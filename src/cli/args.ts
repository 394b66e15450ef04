import { type ParseArgsConfig, parseArgs } from "node:util";
import { CairnError } from "../errors/index.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed option values (by long name) and positional arguments. */
export interface ParsedCommandArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** Parses a command's arguments with node's parseArgs, turning its errors into `E_USAGE`. */
export function parseCommandArgs<O extends Options>(
  command: string,
  args: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): ParsedCommandArgs {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; options: O; allowPositionals: true; strict: true }>
  >;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CairnError("E_USAGE", `${(e as Error).message} (see cairn ${command} --help)`);
  }
  const n = parsed.positionals.length;
  if (n < positionals.min || n > positionals.max) {
    throw new CairnError("E_USAGE", `expected ${positionals.names} (see cairn ${command} --help)`);
  }
  return parsed;
}

/** Formats a byte count for people: `1.5 MiB`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(1)} ${units[u]}`;
}
