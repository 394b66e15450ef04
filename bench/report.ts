import { execFileSync } from "node:child_process";
import { cpus, totalmem } from "node:os";

/** The median of a list of numbers. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The version line of an installed tool, or "not installed". */
export function toolVersion(cmd: string, args: string[] = ["--version"]): string {
  try {
    return (
      execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
        .split("\n")[0]
        ?.trim() ?? ""
    );
  } catch {
    return "not installed";
  }
}

/** A Markdown description of this machine for the benchmark page. */
export function machineDescription(): string {
  const cpu = cpus();
  return [
    `- CPU: ${cpu.length} x ${cpu[0]?.model ?? "unknown"}`,
    `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Node.js ${process.version}; ${toolVersion("sha256sum")}; ${toolVersion("cp")}`,
  ].join("\n");
}

/** Renders rows as a Markdown table. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
