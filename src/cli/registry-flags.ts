import type { ProgressEvent, RegistryOptions } from "../registry/index.js";
import { formatBytes, type ParsedCommandArgs } from "./args.js";
import type { CliIo } from "./command.js";

/** The flags every registry command takes. */
export const registryFlags = {
  insecure: { type: "boolean" },
  "plain-http": { type: "boolean" },
  "ca-file": { type: "string" },
  jobs: { type: "string", short: "j" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** Registry options from parsed flags. */
export function registryOptions(values: ParsedCommandArgs["values"]): RegistryOptions {
  const jobs = typeof values.jobs === "string" ? Number(values.jobs) : undefined;
  return {
    ...(values.insecure ? { insecure: true } : {}),
    ...(values["plain-http"] ? { plainHttp: true } : {}),
    ...(typeof values["ca-file"] === "string" ? { caFile: values["ca-file"] } : {}),
    ...(jobs !== undefined && Number.isInteger(jobs) && jobs > 0 ? { jobs } : {}),
  } as RegistryOptions;
}

/**
 * A progress printer: on a TTY, one line per blob redrawn in place; otherwise a line when a
 * blob completes. Silent with `--quiet`.
 */
export function progressPrinter(io: CliIo, quiet: boolean): (e: ProgressEvent) => void {
  if (quiet) return () => {};
  const tty = process.stderr.isTTY === true;
  let lastDraw = 0;
  return (e) => {
    const short = e.digest.slice(7, 19);
    if (e.status === "progress") {
      if (!tty) return;
      const now = Date.now();
      if (now - lastDraw < 100) return;
      lastDraw = now;
      const pct = e.total > 0 ? Math.floor((e.done / e.total) * 100) : 100;
      process.stderr.write(
        `\r${e.direction} ${short} ${String(pct).padStart(3)}% of ${formatBytes(e.total)}   `,
      );
      return;
    }
    const what =
      e.status === "done" ? (e.direction === "pull" ? "pulled " : "pushed ") : `${e.status.padEnd(7)}`;
    if (tty) process.stderr.write("\r\x1b[K");
    io.err(`${what} ${short} ${formatBytes(e.total)}`);
  };
}
