import { execFileSync } from "node:child_process";

/**
 * Returns the absolute path of a required external tool, or throws naming the Debian package to
 * install. Tests never skip when a component is missing: they fail and say what is needed.
 */
export function requireTool(bin: string, debianPackage: string = bin): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      `required tool "${bin}" is not installed: apt-get install ${debianPackage} (npm test installs it as root)`,
    );
  }
}

/** True when the tests run as root. */
export function isRoot(): boolean {
  return typeof process.getuid === "function" && process.getuid() === 0;
}
