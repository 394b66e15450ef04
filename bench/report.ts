/**
 * Helpers for the benchmark page: medians, tool versions, the machine's description and
 * Markdown tables.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir, totalmem } from "node:os";

/**
 * The median of a list of numbers.
 *
 * @example
 * ```ts
 * median([3, 1, 2]) // 2
 * ```
 */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * The version line of an installed tool, or "not installed".
 *
 * @example
 * ```ts
 * toolVersion("tar") // "tar (GNU tar) 1.34"
 * ```
 */
export function toolVersion(cmd: string, args: string[] = ["--version"]): string {
  try {
    const out = execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return out.split("\n")[0]?.trim() ?? "";
  } catch (e) {
    // Some tools (pigz) print their version on stderr.
    const stderr = (e as { stderr?: string }).stderr;
    if (typeof stderr === "string" && stderr.trim() !== "" && !/not found|ENOENT/.test(stderr)) {
      return stderr.split("\n")[0]?.trim() ?? "";
    }
    return "not installed";
  }
}

function run(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

function distro(): string {
  try {
    const line = readFileSync("/etc/os-release", "utf8")
      .split("\n")
      .find((l) => l.startsWith("PRETTY_NAME="));
    return line ? line.slice("PRETTY_NAME=".length).replace(/^"|"$/g, "") : "unknown";
  } catch {
    return "unknown";
  }
}

/** The file system the bench's temporary files live on: device, type, size, free space. */
function disk(): string {
  const df = run("df", ["-h", "--output=source,fstype,size,avail", tmpdir()]).split("\n")[1];
  const parts = df?.trim().split(/\s+/) ?? [];
  if (parts.length < 4) return "unknown";
  const virtio = /^\/dev\/vd/.test(parts[0] ?? "") ? ", a virtio disk" : "";
  return `${tmpdir()} on ${parts[0]} (${parts[1]}${virtio}), ${parts[2]} total, ${parts[3]} free`;
}

/** "KVM virtual machine" etc., from lscpu, or "" on bare metal. */
function hypervisor(): string {
  const line = run("lscpu", [])
    .split("\n")
    .find((l) => l.startsWith("Hypervisor vendor:"));
  return line ? `, ${line.split(":")[1]?.trim()} virtual machine` : "";
}

/**
 * The load average as "1 min / 5 min / 15 min".
 *
 * @example
 * ```ts
 * loadAverage() // "2.91 / 2.86 / 3.02"
 * ```
 */
export function loadAverage(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(" / ");
}

/**
 * A Markdown description of this machine and of the peers' versions for the benchmark page.
 *
 * @example
 * ```ts
 * page.push("## Machine", "", machineDescription());
 * ```
 */
export function machineDescription(): string {
  const cpu = cpus();
  const flags = readFileSafe("/proc/cpuinfo");
  const shaNi = /\bsha_ni\b/.test(flags) ? "SHA-NI" : "no SHA-NI";
  const avx2 = /\bavx2\b/.test(flags) ? "AVX2" : "no AVX2";
  return [
    `- CPU: ${cpu.length} x ${cpu[0]?.model ?? "unknown"} (${shaNi}, ${avx2})${hypervisor()}`,
    `- Memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `- Disk: ${disk()}`,
    `- OS: ${distro()}, Linux ${release()}`,
    `- Node.js ${process.version} (V8 ${process.versions.v8}, OpenSSL ${process.versions.openssl}, zlib ${process.versions.zlib})`,
    `- Peers: ${toolVersion("skopeo")}; umoci ${toolVersion("umoci", ["--version"]).replace(/^umoci version /, "")};`,
    `  ${toolVersion("buildah")}; ${toolVersion("tar")}; ${toolVersion("gzip")}; ${toolVersion("pigz")};`,
    `  ${toolVersion("sha256sum")}; registry: ${toolVersion("docker-registry", ["--version"])};`,
    `  runc ${toolVersion("runc", ["--version"]).replace(/^runc version /, "")}`,
  ].join("\n");
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

/**
 * Renders rows as a Markdown table.
 *
 * @example
 * ```ts
 * table(["tool", "s"], [["cairn", "1.20"]])
 * ```
 */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}
